#!/usr/bin/env python3
"""PyTorch side of `bench perf --cells`: trains and evaluates COMPLETE CELLS under the harness's protocol
(bench/train.go, bench.Train) and prints their times, per phase, and their curves as JSON on stdout
(logs go to stderr).

The Go command (bench/perf/cells.go) exports one cell into a directory and starts this script with it:

  PYTHONPATH=.deps/torch-py python3 perf/run_cells.py --dir DIR --threads 1 --warmup 1 --reps 2

DIR/manifest.json names what the Go side loaded and built, as raw little-endian files:
  - every split's arrays (float32, row-major (N, shape...)) and labels (int64): the Go-loaded dataset;
  - orders.i64: the training order of every epoch (epochs x N), the permutations bench.Train draws;
  - init.f32: the Go model's initial variables, by VarStore name (checked against the model built here
    from the same seed, which draws the same values from the same libtorch; used instead if they differ);
  - noise.f32 (DMI, only with --go-noise): the Go cell's own noise stream (bench.NewNoise), so that a
    check run draws exactly the Go cell's noise instead of torch.randn.

A cell (each phase timed, names as the Go side's phase split):
  build     torch.manual_seed(seed), encoders (modality order) then the method: the same draws as bench.Build
  data      the train and validation arrays into tensors (a copy, as bench.SplitOnDevice)
  train     per epoch: the epoch's order; batches of batch_size gathered with index_select; forward (train),
            loss.item(), zero_grad, backward, SGD step (momentum, weight decay, dampening 0) = bench.Run.Step
  val       per epoch: evaluation of the validation split in batches of eval_batch (512) under no_grad:
            loss, argmax of the fused and per-modality logits, readout sums; accuracy, macro-F1
  snapshot  when the validation accuracy improves (strictly: earliest epoch on ties): a copy of every variable
  test      restore the best copy, the test arrays into tensors, evaluation of the test split
  other     the optimiser, DMI's stage switches (restore the stage's best copy, requires_grad, new SGD), and
            freeing the cell's tensors at the end (bench.Train's deferred frees and malloc_trim on the Go side)
DMI's stages follow methods/dmi.go (torch_models.DMI.stage_of / enter_stage): at a stage change the best
copy of the previous stage is restored, the stage's learning rate taken (0 = the run's) and a fresh
optimiser built, and the best validation accuracy is reset.
"""

import argparse
import json
import math
import os
import platform
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")  # numpy is not needed

import torch  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the repository's perf/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

PHASES = ("build", "data", "train", "val", "snapshot", "test", "other")


def log(*a):
    print("run_cells:", *a, file=sys.stderr, flush=True)


def read_buf(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return bytearray(f.read())  # writable: torch.frombuffer warns on read-only buffers


class Split:
    """A split on the "device" (CPU tensors), as bench.SplitTensors."""

    def __init__(self, n, xs, y):
        self.n, self.X, self.Y = n, xs, y


def to_tensors(raw, mods):
    """bench.SplitOnDevice: copies the split's arrays into tensors."""
    n = raw["n"]
    xs = [torch.frombuffer(b, dtype=torch.float32).view([n] + mod["shape"]).clone() for b, mod in zip(raw["x"], mods)]
    y = torch.frombuffer(raw["y"], dtype=torch.int64).clone()
    return Split(n, xs, y)


def build(man, init_override):
    """bench.Build: seed, then the encoders in modality order, then the method."""
    ep, mp = man["encoder_params"], man["method_params"]
    torch.manual_seed(man["seed"])
    encoders = []
    for mod in man["modalities"]:
        n = 1
        for d in mod["shape"]:
            n *= d
        encoders.append(torch_models.MLPEncoder(n, int(ep["hidden"]), int(ep["layers"])))
    k = man["num_classes"]
    if man["method"] == "joint":
        model = torch_models.Joint(encoders, k)
    else:
        model = torch_models.DMI(encoders, k, d=int(mp["embed_size"]), stage1=int(mp["stage1_epochs"]),
                                 stage2=int(mp["stage2_epochs"]), lrs=(float(mp["lr1"]), float(mp["lr2"]), float(mp["lr3"])))
    if init_override is not None:
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(init_override[torch_models.go_name(name)])
    return model


def macro_f1(pred, y, k):
    """bench.MacroF1."""
    right = pred == y
    tp = torch.bincount(y[right], minlength=k).tolist()
    fp = torch.bincount(pred[~right], minlength=k).tolist()
    fn = torch.bincount(y[~right], minlength=k).tolist()
    s = 0.0
    for c in range(k):
        d = 2 * tp[c] + fp[c] + fn[c]
        if d > 0:
            s += 2 * tp[c] / d
    return s / k


def evaluate(model, sp, man):
    """bench.Run.evaluate + metrics: batches of eval_batch in order, under no_grad."""
    eb, n = man["eval_batch"], sp.n
    loss_sum, preds, per, readout = 0.0, [], None, {}
    with torch.no_grad():
        for start in range(0, n, eb):
            m = min(eb, n - start)
            xb = [x.narrow(0, start, m) for x in sp.X]
            yb = sp.Y.narrow(0, start, m)
            loss, fused, per_mod, ro = model.outputs(xb, yb, False)
            for name, v in ro.items():
                readout[name] = readout.get(name, 0.0) + v.sum(dtype=torch.float64).item()
            loss_sum += loss.item() * m
            preds.append(fused.argmax(1))
            if per is None:
                per = [[] for _ in per_mod]
            for i, lg in enumerate(per_mod):
                if lg is not None:
                    per[i].append(lg.argmax(1))
        pred = torch.cat(preds)
        out = {"acc": int((pred == sp.Y).sum()) / n, "macro_f1": macro_f1(pred, sp.Y, man["num_classes"]),
               "loss": loss_sum / n, "extra": {k: v / n for k, v in readout.items()}, "per_modality": {}}
        for i, p in enumerate(per or []):
            if p:
                out["per_modality"][man["modalities"][i]["name"]] = int((torch.cat(p) == sp.Y).sum()) / n
    return out


def run_cell(man, raw, orders, init_override):
    """One complete cell; returns its times (total and per phase) and its record-like results."""
    wall, cpu = time.perf_counter_ns, time.process_time_ns
    mods = man["modalities"]
    ph, pc = dict.fromkeys(PHASES, 0), dict.fromkeys(PHASES, 0)  # wall clock and process CPU time per phase
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    c0 = cpu()
    t0 = wall()
    cm = [c0]

    def lap(k, t_from, t_to):
        ph[k] += t_to - t_from
        c = cpu()
        pc[k] += c - cm[0]
        cm[0] = c

    model = build(man, init_override)
    t1 = wall()
    lap("build", t0, t1)
    train, val = to_tensors(raw["train"], mods), to_tensors(raw["val"], mods)
    t2 = wall()
    lap("data", t1, t2)

    def new_opt(lr):
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=man["momentum"], weight_decay=man["weight_decay"])

    opt = new_opt(man["lr"])
    staged = isinstance(model, torch_models.DMI)
    stage, best, best_acc, best_epoch, best_val = 0, None, -1.0, 0, None
    res = {"status": "ok", "val_acc": [], "val_loss": [], "train_loss": [], "stage": []}
    bs, n = man["batch_size"], train.n
    mark = t2
    for epoch in range(1, man["epochs"] + 1):
        if staged:
            nxt = model.stage_of(epoch)
            if nxt != stage:
                if best is not None:  # continue from the previous stage's best checkpoint
                    model.load_state_dict(best)
                lr = model.enter_stage(nxt)
                if lr <= 0:
                    lr = man["lr"]
                opt = new_opt(lr)
                stage, best_acc = nxt, -1.0
        a = wall()
        lap("other", mark, a)
        perm = orders[epoch - 1]
        loss_sum = 0.0
        for start in range(0, n, bs):
            m = min(bs, n - start)
            idx = perm.narrow(0, start, m)
            xb = [x.index_select(0, idx) for x in train.X]
            yb = train.Y.index_select(0, idx)
            loss, _ = model(xb, yb, True)
            lv = loss.item()
            if math.isnan(lv) or math.isinf(lv):
                res["status"] = "diverged"
                res["reason"] = f"loss {lv} at epoch {epoch}, step {start // bs + 1}"
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += lv * m
        b = wall()
        lap("train", a, b)
        if res["status"] != "ok":
            mark = b
            break
        vm = evaluate(model, val, man)
        res["val_acc"].append(vm["acc"])
        res["val_loss"].append(vm["loss"])
        res["train_loss"].append(loss_sum / n)
        res["stage"].append(stage)
        c = wall()
        lap("val", b, c)
        if vm["acc"] > best_acc:
            best_acc, best_epoch, best_val = vm["acc"], epoch, vm
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        mark = wall()
        lap("snapshot", c, mark)
    test = None
    if res["status"] == "ok":
        model.load_state_dict(best)
        test = to_tensors(raw["test"], mods)
        tm = evaluate(model, test, man)
        res.update(best_epoch=best_epoch, val=best_val, test=tm)
    t_test = wall()
    lap("test", mark, t_test)
    # Free everything the cell holds, as bench.Train's deferred frees do before it returns.
    model = opt = best = train = val = test = loss = xb = yb = None  # noqa: F841
    t_end = wall()
    lap("other", t_test, t_end)
    c1 = cm[0]
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    res.update(wall_ns=t_end - t0, cpu_ns=c1 - c0, minor_faults=faults, phases_ns=ph, phases_cpu_ns=pc)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="the cell exported by bench perf --cells (manifest.json)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (intra-op)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed cells first")
    ap.add_argument("--reps", type=int, default=1, help="timed cells")
    ap.add_argument("--go-noise", action="store_true", help="DMI: draw the Go cell's exported noise stream instead of torch.randn")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    with open(os.path.join(args.dir, "manifest.json")) as f:
        man = json.load(f)
    if man["encoder"] != "mlp" or man["method"] not in ("joint", "dmi") or \
            (man["method"] == "joint" and man["method_params"].get("fusion") != "linear"):
        raise SystemExit(f"run_cells: only joint (fusion=linear) and dmi on mlp encoders are mirrored, not {man['method']} "
                         f"{man['method_params']} on {man['encoder']}")
    # Everything the Go side holds in memory before bench.Train starts: the loaded dataset and the epoch orders.
    raw = {}
    for name, sp in man["splits"].items():
        raw[name] = {"n": sp["n"], "x": [read_buf(args.dir, f) for f in sp["x"]], "y": read_buf(args.dir, sp["y"])}
    ntr = man["splits"]["train"]["n"]
    orders = torch.frombuffer(read_buf(args.dir, man["orders"]), dtype=torch.int64).view(man["epochs"], ntr).clone()
    flat = torch.frombuffer(read_buf(args.dir, man["init"]["file"]), dtype=torch.float32)
    go_init = {v["name"]: flat.narrow(0, v["offset"], v["numel"]).view(v["shape"]) for v in man["init"]["vars"]}
    noise = None
    if args.go_noise:
        nz = man.get("noise")
        if not nz:
            raise SystemExit("run_cells: --go-noise: the manifest has no noise stream")
        noise = torch.frombuffer(read_buf(args.dir, nz["file"]), dtype=torch.float32)

    # The model built here from the seed against the Go model's initial variables (untimed).
    model = build(man, None)
    names, diff, missing = set(), 0.0, []
    for name, p in model.state_dict().items():
        g = go_init.get(torch_models.go_name(name))
        names.add(torch_models.go_name(name))
        if g is None or list(g.shape) != list(p.shape):
            missing.append(name)
            continue
        diff = max(diff, (p - g).abs().max().item())
    missing += sorted(set(go_init) - names)
    if missing:
        raise SystemExit(f"run_cells: parameters without a Go counterpart (or of another shape): {missing}")
    init_override = go_init if diff != 0 else None  # identical unless the two sides drew differently
    weights = {"max_abs_diff": diff, "vars": len(names), "loaded_from_go": init_override is not None}
    log(f"{man['name']}: initial weights vs Go: {len(names)} variables, max |diff| {diff:g}"
        + (" (using the Go values)" if init_override is not None else ""))

    out = {"torch_version": torch.__version__, "torch_path": os.path.dirname(torch.__file__),
           "python_version": platform.python_version(), "threads": torch.get_num_threads(),
           "interop_threads": torch.get_num_interop_threads(), "weights": weights,
           "noise": "go" if noise is not None else "torch.randn", "cells": []}
    for i in range(args.warmup + args.reps):
        if noise is not None:
            torch_models.set_noise(torch_models.NoiseStream(noise))
        r = run_cell(man, raw, orders, init_override)
        if i >= args.warmup:
            out["cells"].append(r)
        log(f"{man['name']}: cell {i + 1}/{args.warmup + args.reps}{' (warm-up)' if i < args.warmup else ''}: "
            f"{r['wall_ns'] / 1e6:.1f} ms, {r['status']}")
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
