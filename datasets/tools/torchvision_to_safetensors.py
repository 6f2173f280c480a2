#!/usr/bin/env python3
"""Convert a torchvision ResNet state dict into the safetensors file `--set resnet18.weights=FILE` reads.

Usage:

    python3 datasets/tools/torchvision_to_safetensors.py resnet18-f37072fd.pth resnet18.safetensors
    python3 datasets/tools/torchvision_to_safetensors.py --random resnet18 --seed 0 out.safetensors

The first form reads a .pth file holding a state dict (torchvision's published checkpoints, or a
training checkpoint with the state dict under 'state_dict' or 'model'; a DataParallel 'module.'
prefix is stripped). The second builds torchvision.models.<arch>() after torch.manual_seed(seed):
torchvision's own random initialisation, for tests (nothing is downloaded; this machine is offline).

Output: safetensors (https://github.com/huggingface/safetensors), written by hand so that no package
beyond numpy (and torch for .pth / --random) is needed: an 8-byte little-endian header length N, N
bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}
padded with spaces to a multiple of 8, then the tensors' raw little-endian, row-major bytes, in
state-dict order. Floating-point tensors are written as F32, integer ones (BatchNorm's
num_batches_tracked) as I64. Every tensor is kept, fc.* included (the Go loader ignores fc.* and
num_batches_tracked and refuses any other name it does not know). Torch is imported from the
directory named by $TORCH_PY when set (make xcheck's .deps/torch-py), else from the environment.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

DTYPES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64", np.dtype("<i4"): "I32"}


def write_safetensors(path, tensors, metadata=None):
    """Write {name: numpy array} (in the dict's order) as a safetensors file."""
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        if a.dtype not in DTYPES:
            raise ValueError(f"{name}: dtype {a.dtype} not supported (want float32, float64, int64, int32)")
        b = a.tobytes(order="C")
        header[name] = {"dtype": DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def state_dict_arrays(sd):
    """A torch state dict as {name: numpy array}: floats as float32, integers as int64."""
    out = {}
    for name, t in sd.items():
        t = t.detach().cpu()
        out[name] = t.float().numpy() if t.is_floating_point() else t.long().numpy()
    return out


def import_torch():
    tp = os.environ.get("TORCH_PY")
    if tp and tp not in sys.path:
        sys.path.insert(0, tp)
    import torch
    return torch


def load_pth(path):
    torch = import_torch()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        obj = torch.load(path, map_location="cpu")
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(hasattr(v, "detach") for v in obj.values()):
        raise SystemExit(f"{path}: not a state dict (a dict of tensors)")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def random_state_dict(arch, seed):
    torch = import_torch()
    import torchvision
    torch.manual_seed(seed)
    return getattr(torchvision.models, arch)().state_dict()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", nargs="?", help="a .pth state dict")
    ap.add_argument("output", help="the .safetensors file to write")
    ap.add_argument("--random", metavar="ARCH", help="instead of a .pth: torchvision.models.ARCH() randomly initialised")
    ap.add_argument("--seed", type=int, default=0, help="torch.manual_seed for --random (default 0)")
    a = ap.parse_args()
    if (a.input is None) == (a.random is None):
        ap.error("give either a .pth input or --random ARCH")
    if a.random:
        sd, meta = random_state_dict(a.random, a.seed), {"source": f"torchvision.models.{a.random}() seed {a.seed}"}
    else:
        sd, meta = load_pth(a.input), {"source": os.path.basename(a.input)}
    arrays = state_dict_arrays(sd)
    write_safetensors(a.output, arrays, meta)
    print(f"{a.output}: {len(arrays)} tensors, {os.path.getsize(a.output)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
