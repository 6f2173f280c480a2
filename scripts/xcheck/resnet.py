"""Reference ResNet-18 features for make xcheck (TestXCheckResNetWeights in ./bench/encoders).

resnet.py OUTDIR runs torchvision 0.16's resnet18 (torch 2.1, CPU, float32, eval mode: BatchNorm
uses its running statistics) with fc = Identity, so its output is the 512-d average-pooled feature,
which is what our resnet18 encoder returns, on fixed inputs, for two sets of weights:

  OUTDIR/state_dict.json   torchvision's resnet18().state_dict() layout: [[name, shape, dtype], ...]
  OUTDIR/x{1,2,3}.npy      inputs float32 (2, C, 64, 64), numpy default_rng(0) standard normal
  OUTDIR/feat{1,2,3}.npy   features float32 (2, 512) under the FORMULA weights below
  OUTDIR/full/             the same with torchvision's own random initialisation (torch.manual_seed(0)),
                           BatchNorm running statistics from 4 training-mode passes over random
                           batches and random BatchNorm affine parameters, saved with torch.save and
                           converted by datasets/tools/torchvision_to_safetensors.py into
                           full/weights.safetensors (45 MB); inputs (2, C, 224, 224). Not committed
                           (bench/encoders/testdata/xcheck/.gitignore): make xcheck only.

FORMULA weights, which the Go test rebuilds from state_dict.json alone (so the committed golden copy
needs no 45 MB file): the k-th tensor of the state dict (0-based, state-dict order), element j
(0-based, row-major), with s = sin(0.37 j + 1.3 k) computed in float64 and the value cast to float32:
  *.num_batches_tracked    0 (int64)
  *.running_var            1 + 0.5 s
  *.running_mean           0.1 s
  1-D *.weight (BatchNorm) 1 + 0.2 s
  *.bias                   0.1 s
  other *.weight (conv/fc) 2 s / sqrt(fan_in), fan_in = the product of the shape without its first axis

Inputs with C = 1 (spectrogram) and C = 2 (optical flow) go through a model whose conv1 is
nn.Conv2d(C, 64, 7, 2, 3, bias=False) with weight = rgb.mean(dim=1, keepdim=True).expand(64, C, 7, 7),
TSN/TSM's _construct_flow_model (and TBN's _construct_spec_model for 1 channel).
"""
import json
import math
import os
import subprocess
import sys

tp = os.environ.get("TORCH_PY")
if tp:
    sys.path.insert(0, tp)
import numpy as np
import torch
import torchvision

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TOOL = os.path.join(ROOT, "datasets", "tools", "torchvision_to_safetensors.py")


def formula_state_dict(layout):
    sd = {}
    for k, (name, shape, dtype) in enumerate(layout):
        n = int(np.prod(shape)) if shape else 1
        s = np.sin(0.37 * np.arange(n, dtype=np.float64) + 1.3 * k)
        if name.endswith(".num_batches_tracked"):
            sd[name] = torch.zeros(shape, dtype=torch.int64)
            continue
        if name.endswith(".running_var"):
            v = 1 + 0.5 * s
        elif name.endswith(".running_mean"):
            v = 0.1 * s
        elif name.endswith(".bias"):
            v = 0.1 * s
        elif len(shape) == 1:
            v = 1 + 0.2 * s
        else:
            v = 2 * s / math.sqrt(int(np.prod(shape[1:])))
        sd[name] = torch.from_numpy(v.astype(np.float32).reshape(shape))
    return sd


def model_for(sd, c):
    """torchvision resnet18 with sd loaded, fc = Identity, conv1 adapted to c channels, eval mode."""
    m = torchvision.models.resnet18()
    m.load_state_dict(sd)
    m.fc = torch.nn.Identity()
    if c != 3:
        w = m.conv1.weight.detach()
        conv = torch.nn.Conv2d(c, 64, kernel_size=7, stride=2, padding=3, bias=False)
        conv.weight.data = w.mean(dim=1, keepdim=True).expand(w.shape[0], c, 7, 7).contiguous()
        m.conv1 = conv
    return m.eval()


def write_case(out, sd, size):
    rng = np.random.default_rng(0)
    os.makedirs(out, exist_ok=True)
    for c in (3, 1, 2):
        x = rng.standard_normal((2, c, size, size)).astype(np.float32)
        with torch.no_grad():
            f = model_for(sd, c)(torch.from_numpy(x)).numpy().astype(np.float32)
        np.save(os.path.join(out, f"x{c}.npy"), x)
        np.save(os.path.join(out, f"feat{c}.npy"), f)
        print(f"resnet {out}: C={c} input {x.shape}, features {f.shape}, |f| max {np.abs(f).max():.3g}", file=sys.stderr)


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    layout = [[n, list(t.shape), str(t.dtype).replace("torch.", "")] for n, t in torchvision.models.resnet18().state_dict().items()]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "state_dict.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(e) for e in layout) + "\n]\n")
    write_case(out, formula_state_dict(layout), 64)

    # Full size: torchvision's own init, with non-trivial BatchNorm statistics and affine parameters.
    torch.manual_seed(0)
    m = torchvision.models.resnet18()
    with torch.no_grad():
        m.train()
        for _ in range(4):
            m(torch.randn(8, 3, 64, 64) * 2 + 0.5)
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    full = os.path.join(out, "full")
    os.makedirs(full, exist_ok=True)
    pth = os.path.join(full, "resnet18.pth")
    torch.save(m.state_dict(), pth)
    subprocess.run([sys.executable, TOOL, pth, os.path.join(full, "weights.safetensors")], check=True,
                   env={**os.environ, "TORCH_PY": tp or ""})
    os.remove(pth)
    write_case(full, m.state_dict(), 224)


if __name__ == "__main__":
    main()
