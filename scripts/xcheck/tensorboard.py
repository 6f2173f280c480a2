"""make xcheck's tensorboard check: TensorBoard itself reads the event files bench writes.

python tensorboard.py OUTDIR
  1. runs the Go test TestWriteXCheckEvents (cmd/bench), which trains a tiny `bench run --tensorboard
     OUTDIR/events` (a joint and a staged dmi cell) and writes OUTDIR/expected.json: what each run's
     file must hold, from the stored records;
  2. reads every run under OUTDIR/events with TensorBoard's EventAccumulator (every scalar, every
     step) and the HParams plugin data (session start hparams, session end status, parsed with
     TensorBoard's plugin_data_pb2), and writes OUTDIR/scalars.json in the same shape.
The Go test TestXCheckTensorBoard (bench/tensorboard) then compares the two files value for value.
"""
import json
import os
import subprocess
import sys

# This file is named after its check (scripts/xcheck/NAME.py); keep it from shadowing the package.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2


def value_of(v):
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        return v.number_value
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    raise ValueError("unexpected hparam value kind %r" % kind)


def read_run(path):
    acc = event_accumulator.EventAccumulator(path, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0})
    acc.Reload()
    scalars = {}
    for tag in acc.Tags()["scalars"]:
        scalars[tag] = [{"step": e.step, "value": e.value} for e in acc.Scalars(tag)]
    hparams, status = None, ""
    for tag, content in acc.PluginTagToContent("hparams").items():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            hparams = {k: value_of(v) for k, v in data.session_start_info.hparams.items()}
        if data.HasField("session_end_info"):
            status = api_pb2.Status.Name(data.session_end_info.status)
    return {"scalars": scalars, "hparams": hparams, "status": status}


def main():
    out = os.path.abspath(sys.argv[1])
    env = dict(os.environ, XCHECK_EVENTS_DIR=out)
    subprocess.run(["go", "test", "-count=1", "-run", "^TestWriteXCheckEvents$", "./cmd/bench"], check=True, env=env,
                   stdout=sys.stderr, cwd=os.path.dirname(os.path.dirname(_here)))
    root = os.path.join(out, "events")
    runs = {}
    for d, _, files in os.walk(root):
        if any("tfevents" in f for f in files):
            runs[os.path.relpath(d, root).replace(os.sep, "/")] = read_run(d)
    if not runs:
        sys.exit("no event files under %s" % root)
    with open(os.path.join(out, "scalars.json"), "w") as f:
        json.dump(runs, f, indent=1, sort_keys=True)
    n = sum(len(p) for r in runs.values() for p in r["scalars"].values())
    print("tensorboard: %d runs, %d scalars read with EventAccumulator" % (len(runs), n), file=sys.stderr)


if __name__ == "__main__":
    main()
