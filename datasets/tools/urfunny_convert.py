#!/usr/bin/env python3
"""Convert MultiBench's UR-FUNNY pickle (humor.pkl) into the .npy layout the Go dataset `urfunny` reads.

One-off tool, like mosei_convert.py (whose pickle loading and split checks it uses). Usage:

    python3 datasets/tools/urfunny_convert.py humor.pkl ../shared/data/urfunny

Input: MultiBench's humor.pkl, the MOSEI layout (dataset-formats.md §8): a dict {'train', 'valid',
'test'}, each a dict of numpy arrays 'vision' (N, T, 371), 'audio' (N, T, 81), 'text' (N, T, 300) and
'labels' (N, 1, 1) holding the humour label 0 or 1; any other key ('id') is ignored.

Output, in OUT_DIR (created if needed), twelve files written with numpy.save (format 1.0, C order):

    {train,valid,test}_vision.npy   float32 (N, T, d_v)
    {train,valid,test}_audio.npy    float32 (N, T, d_a)
    {train,valid,test}_text.npy     float32 (N, T, d_t)
    {train,valid,test}_labels.npy   float32, the stored shape ((N, 1, 1), (N, 1) or (N,))

Values are copied unchanged (the audio's -inf included). Labels other than 0 and 1 are refused; feature
sizes other than 371/81/300 are reported but written (the Go loader reads them from the arrays).
Dropping samples without text, the alignment cut and padding are done by the Go loader (see
datasets/urfunny.go). Requires numpy only. Only convert pickles you trust: unpickling can run code.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mosei_convert import ARRAYS, SPLITS, check_split, load_pickle  # noqa: E402

# Feature sizes of MultiBench's humor.pkl (its humor_dataset.py / example scripts).
DIMS = {"vision": 371, "audio": 81, "text": 300}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pickle", help="MultiBench UR-FUNNY pickle, humor.pkl")
    ap.add_argument("out_dir", help="folder for the .npy files, e.g. ../shared/data/urfunny")
    args = ap.parse_args()

    data = load_pickle(args.pickle)
    missing = [s for s in SPLITS if s not in data]
    if missing:
        sys.exit(f"{args.pickle}: no split(s) {missing} (has {sorted(data)})")
    for s in SPLITS:
        check_split(s, data[s])
        labels = np.asarray(data[s]["labels"], dtype=np.float64).reshape(-1)
        bad = np.flatnonzero((labels != 0) & (labels != 1))
        if bad.size:
            sys.exit(f"split {s!r}: label of sample {bad[0]} is {labels[bad[0]]}, want 0 or 1 (humour)")
        for k, d in DIMS.items():
            got = np.asarray(data[s][k]).shape[2]
            if got != d:
                print(f"note: split {s!r}: {k} has {got} features, humor.pkl has {d}", file=sys.stderr)
    os.makedirs(args.out_dir, exist_ok=True)
    for s in SPLITS:
        for k in ARRAYS:
            a = np.ascontiguousarray(np.asarray(data[s][k], dtype=np.float32))
            path = os.path.join(args.out_dir, f"{s}_{k}.npy")
            np.save(path, a, allow_pickle=False)
            print(f"{path}: {a.shape} float32")


if __name__ == "__main__":
    main()
