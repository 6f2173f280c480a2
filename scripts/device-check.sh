#!/usr/bin/env bash
# scripts/device-check.sh: the GPU checks, in one short script (about 5-8 minutes) for a machine with an
# NVIDIA GPU and its driver. It builds the CUDA variant if needed (make build GPU=1: PyPI's torch==2.1.0
# with its NVIDIA wheels; needs the network once), then
#   1. bench version --device cuda        (must say "CUDA build, N CUDA device(s)")
#   2. bench perf on the GPU for ResNet-18 (Go and, where .deps/torch-py has torch, PyTorch, same GPU)
#   3. a 2-epoch --device cuda run of joint with ResNet-18 on an exported CREMA-D layout
# Usage: scripts/device-check.sh [LAYOUT_DIR]
#   LAYOUT_DIR  a CREMA-D layout (bench export --dataset avmnist --layout cremad --out DIR); without it
#               one is exported from ../shared/data (MNIST + FSDD) into a temp dir.
# Everything it writes goes to $OUT (default: a temp dir), printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
step() { echo; echo "== $* ($(date +%T))"; }

step "build (CUDA)"
if [[ ! -x bin/bench ]] || ! grep -q 'cuda=1' vendor/github.com/sugarme/gotch/libtch/lib.go 2>/dev/null; then
  make build GPU=1
fi

step "bench version --device cuda"
bin/bench version --device cuda | tee "$out/version.txt"
grep -q 'CUDA build, [1-9]' "$out/version.txt" || { echo "device-check: no CUDA device visible to libtorch" >&2; exit 1; }

step "bench perf --device cuda --models joint-resnet18"
torch=()
[[ -f .deps/torch-py/torch/__init__.py ]] || torch=(--no-torch)
timeout 240 bin/bench perf --device cuda --models joint-resnet18 --rounds 1 "${torch[@]}" --out "$out/perf-cuda.json" \
  2>&1 | tail -n 12 | tee "$out/perf-cuda.txt"

step "2 epochs of joint, ResNet-18, --device cuda, exported CREMA-D layout"
layout=${1:-}
if [[ -z "$layout" ]]; then
  layout="$out/cremad"
  bin/bench export --dataset avmnist --layout cremad --out "$layout" --limit 300
fi
timeout 300 bin/bench run --dataset cremad --data-dir "$layout" --encoder resnet18 --methods joint --seeds 1 \
  --epochs 2 --device cuda --results "$out/results" 2>&1 | tail -n 15 | tee "$out/run-cuda.txt"

echo; echo "device-check: done; outputs in $out"
