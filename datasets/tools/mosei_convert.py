#!/usr/bin/env python3
"""Convert MultiBench's CMU-MOSEI pickle into the .npy layout the Go dataset `mosei` reads.

One-off tool; it is not run by the tests. Usage:

    python3 datasets/tools/mosei_convert.py mosei_senti_data.pkl ../shared/data/mosei

Input: a MultiBench affect pickle (mosei_senti_data.pkl, mosei_raw.pkl, or BalanceBenchmark's
mosei_senti_data_noalign.pkl): a dict {'train', 'valid', 'test'}, each a dict of numpy arrays with
the keys 'vision' (N, T, dv), 'audio' (N, T, da), 'text' (N, T, 300) and 'labels' (N, 1, 1); any
other key ('id') is ignored.

Output, in OUT_DIR (created if needed), twelve files written with numpy.save (format 1.0, C order):

    {train,valid,test}_vision.npy   float32 (N, T_v, d_v)
    {train,valid,test}_audio.npy    float32 (N, T_a, d_a)
    {train,valid,test}_text.npy     float32 (N, T_t, d_t)
    {train,valid,test}_labels.npy   float32, the stored shape ((N, 1, 1), (N, 1) or (N,))

Values are copied unchanged (the audio's -inf included). Everything the reference loaders do on top
(audio -inf -> 0, dropping samples without text, padding, label binarisation) is done by the Go
loader, with its parameters (see datasets/mosei.go). Requires numpy only; the pickle holds numpy
arrays, so it is loaded with pickle and numpy importable (Python 2 pickles are retried with
encoding='latin1'). Only convert pickles you trust: unpickling can run code.
"""

import argparse
import os
import pickle
import sys

import numpy as np

SPLITS = ("train", "valid", "test")
ARRAYS = ("vision", "audio", "text", "labels")


def load_pickle(path):
    with open(path, "rb") as f:
        try:
            return pickle.load(f)
        except UnicodeDecodeError:
            f.seek(0)
            return pickle.load(f, encoding="latin1")


def check_split(name, split):
    missing = [k for k in ARRAYS if k not in split]
    if missing:
        sys.exit(f"split {name!r} lacks {missing} (has {sorted(split)})")
    n = len(split["labels"])
    for k in ARRAYS:
        a = np.asarray(split[k])
        if a.shape[0] != n:
            sys.exit(f"split {name!r}: {k} has {a.shape[0]} samples, labels {n}")
        if k != "labels" and a.ndim != 3:
            sys.exit(f"split {name!r}: {k} has shape {a.shape}, want (N, T, d)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pickle", help="MultiBench MOSEI pickle, e.g. mosei_senti_data.pkl")
    ap.add_argument("out_dir", help="folder for the .npy files, e.g. ../shared/data/mosei")
    args = ap.parse_args()

    data = load_pickle(args.pickle)
    missing = [s for s in SPLITS if s not in data]
    if missing:
        sys.exit(f"{args.pickle}: no split(s) {missing} (has {sorted(data)})")
    for s in SPLITS:
        check_split(s, data[s])
    os.makedirs(args.out_dir, exist_ok=True)
    for s in SPLITS:
        for k in ARRAYS:
            a = np.ascontiguousarray(np.asarray(data[s][k], dtype=np.float32))
            path = os.path.join(args.out_dir, f"{s}_{k}.npy")
            np.save(path, a, allow_pickle=False)
            print(f"{path}: {a.shape} float32")


if __name__ == "__main__":
    main()
