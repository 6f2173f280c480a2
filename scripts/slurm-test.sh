#!/usr/bin/env bash
# scripts/slurm-test.sh (make slurm-test): bench run --launcher slurm on a real, one-node Slurm.
# Starts the local Slurm (scripts/slurm-local.sh; root), runs a 12-cell grid (2 methods × 2 synthetic
# mixtures × 3 seeds, tiny, 2 epochs) as a 3-task job array into one store, the same grid unsharded
# into another, merges the two with bench merge (a differing record would be a conflict) and compares
# them record for record (every field but finished and wall_seconds: metrics, curves, predictions, …)
# and the two leaderboards; stops the Slurm it started. Exit 1 on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-bin/bench}
WORK=$(mktemp -d /tmp/bench-slurm-test.XXXXXX)
STATE_FILE=${SLURM_LOCAL_STATE:-/tmp/bench-slurm-local.state}
GRID=(--methods joint,ensemble
	--dataset 'synthetic:mix=S,train=200,val=50,test=100,synthetic:mix=R,train=200,val=50,test=100'
	--seeds 3 --epochs 2 --jobs 1 --threads 1)

started=0
cleanup() { if ((started)); then scripts/slurm-local.sh stop || true; fi; }
trap cleanup EXIT
if [[ -f $STATE_FILE ]] && kill -0 "$(cat "$(cat "$STATE_FILE")/slurmctld.pid" 2>/dev/null)" 2>/dev/null; then
	echo "slurm-test: using the local Slurm already running ($(cat "$STATE_FILE"))"
else
	scripts/slurm-local.sh start
	started=1
fi
export SLURM_CONF=$(cat "$STATE_FILE")/slurm.conf

fail=0
echo "slurm-test: 12 cells as a 3-task job array into $WORK/sharded"
"$BENCH" run "${GRID[@]}" --launcher slurm --shards 3 --results "$WORK/sharded" >"$WORK/slurm.txt"
ls "$WORK/sharded/slurm/"*.sbatch >/dev/null
logs=$(ls "$WORK/sharded/slurm/"*_[0-9]*.out | wc -l)
[[ $logs -eq 3 ]] || { echo "slurm-test: $logs task logs, want 3"; fail=1; }
grep -h "shard\|done:" "$WORK/sharded/slurm/"*_[0-9]*.out | sed 's/^/  task log: /' || true

echo "slurm-test: the same grid unsharded into $WORK/unsharded"
"$BENCH" run "${GRID[@]}" --results "$WORK/unsharded" >"$WORK/local.txt" 2>"$WORK/local.err"

echo "slurm-test: bench merge of the two stores (a differing record is a conflict)"
"$BENCH" merge "$WORK/sharded" "$WORK/unsharded" --into "$WORK/merged" || fail=1

echo "slurm-test: record-for-record comparison (every field but finished and wall_seconds)"
n_s=$(ls "$WORK/sharded"/*.json | wc -l)
n_u=$(ls "$WORK/unsharded"/*.json | wc -l)
n_m=$(ls "$WORK/merged"/*.json | wc -l)
[[ $n_s -eq 12 && $n_u -eq 12 && $n_m -eq 12 ]] || { echo "slurm-test: records sharded $n_s, unsharded $n_u, merged $n_m; want 12 each"; fail=1; }
same=0
for f in "$WORK/unsharded"/*.json; do
	g=$WORK/merged/$(basename "$f")
	if [[ ! -f $g ]]; then echo "slurm-test: $(basename "$f") missing from the merged store"; fail=1; continue; fi
	if diff <(jq -S 'del(.finished, .wall_seconds)' "$f") <(jq -S 'del(.finished, .wall_seconds)' "$g") >"$WORK/diff.txt"; then
		same=$((same + 1))
	else
		echo "slurm-test: $(basename "$f") differs:"; head -20 "$WORK/diff.txt"; fail=1
	fi
done
preds=$(jq -s 'map(.test_predictions | length) | add' "$WORK/merged"/*.json)
echo "slurm-test: $same of $n_u records equal (test predictions compared: $preds)"
if diff "$WORK/slurm.txt" "$WORK/local.txt" >/dev/null; then
	echo "slurm-test: the two leaderboards are identical:"
	sed 's/^/  /' "$WORK/slurm.txt"
else
	echo "slurm-test: the leaderboards differ:"; diff "$WORK/slurm.txt" "$WORK/local.txt" || true; fail=1
fi
if ((fail)); then echo "slurm-test: FAIL (files in $WORK)"; exit 1; fi
echo "slurm-test: PASS (files in $WORK)"
