#!/usr/bin/env python3
"""PyTorch side of `bench perf`: times one training step and one evaluation step of the models of
torch_models.py and prints the per-step times as JSON on stdout (logs go to stderr).

The Go command (cmd/bench/perf.go, bench/perf) starts this script as a subprocess with the same
settings it uses itself, e.g.

  PYTHONPATH=.deps/torch-py python3 perf/run_torch.py --threads 1 --seed 1 \
      --model joint-mlp:200:20:100 --model joint-lenet:20:10:20

--model NAME:WARMUP:REPEATS:STEPS may be repeated. For each model: build it (seeded), evaluate it
once and take two training steps (check values the Go side compares with its own), then WARMUP
training steps, REPEATS x STEPS timed training steps, WARMUP evaluation steps and REPEATS x STEPS
timed evaluation steps. Every step is timed on its own, by the wall clock (time.perf_counter_ns) and by
the process's CPU time (time.process_time_ns, robust to time-slicing by other work on a shared machine).

Training step = Run.Step of bench/train.go: forward (train mode), loss.item(), zero_grad, backward,
SGD step (momentum, weight decay, dampening 0, no Nesterov). Evaluation step = forward (eval mode)
under torch.no_grad().
"""

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")  # numpy is not needed

import torch  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the repository's perf/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402


def log(*a):
    print("run_torch:", *a, file=sys.stderr, flush=True)


def parse_model(s):
    parts = s.split(":")
    if len(parts) != 4 or parts[0] not in torch_models.MODELS:
        raise argparse.ArgumentTypeError(
            f"--model {s!r}: want NAME:WARMUP:REPEATS:STEPS with NAME in {sorted(torch_models.MODELS)}")
    name, warmup, repeats, steps = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
    if warmup < 0 or repeats < 1 or steps < 1:
        raise argparse.ArgumentTypeError(f"--model {s!r}: want WARMUP >= 0, REPEATS >= 1, STEPS >= 1")
    return name, warmup, repeats, steps


def measure(model_name, warmup, repeats, steps, seed, lr, momentum, weight_decay, device):
    model, xs, y = torch_models.build(model_name, seed)
    # As bench/perf.Build: weights and inputs drawn on the CPU, then moved.
    model, xs, y = model.to(device), [x.to(device) for x in xs], y.to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    nonfinite = 0

    def train_step():
        nonlocal nonfinite
        loss, _ = model(xs, y, True)
        lv = loss.item()
        if math.isnan(lv) or math.isinf(lv):
            nonfinite += 1
            return lv
        opt.zero_grad()
        loss.backward()
        opt.step()
        return lv

    def eval_step():
        with torch.no_grad():
            model(xs, y, False)
        sync()

    with torch.no_grad():
        eval_loss0 = model(xs, y, False)[0].item()
    check = {"eval_loss0": eval_loss0, "train_loss1": train_step(), "train_loss2": train_step()}
    check = {k: (v if math.isfinite(v) else None) for k, v in check.items()}  # JSON has no NaN

    # As bench/perf.Measure: the CPU clock (process CPU time, all threads) is read outside the wall-clock
    # interval; the CPU interval includes the two wall-clock reads.
    wall, cpu = time.perf_counter_ns, time.process_time_ns
    out = {"check": check}
    for kind, step in (("train", train_step), ("eval", eval_step)):
        for _ in range(warmup):
            step()
        ns, cpu_ns = [], []
        for _ in range(repeats * steps):
            c0 = cpu()
            t0 = wall()
            step()
            t1 = wall()
            c1 = cpu()
            ns.append(t1 - t0)
            cpu_ns.append(c1 - c0)
        out[kind + "_ns"] = ns
        out[kind + "_cpu_ns"] = cpu_ns
    out["nonfinite_losses"] = nonfinite
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (intra-op)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--model", type=parse_model, action="append", required=True)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    res = {
        "torch_version": torch.__version__,
        "torch_path": os.path.dirname(torch.__file__),
        "python_version": platform.python_version(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
        "models": {},
    }
    for name, warmup, repeats, steps in args.model:
        log(f"{name}: warm-up {warmup}, {repeats} x {steps} steps, {args.threads} thread(s)")
        r = measure(name, warmup, repeats, steps, args.seed, args.lr, args.momentum, args.weight_decay, torch.device(args.device))
        r["plan"] = {"warmup": warmup, "repeats": repeats, "steps": steps}
        res["models"][name] = r
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
