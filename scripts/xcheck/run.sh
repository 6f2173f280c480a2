#!/usr/bin/env bash
# make xcheck: for every check in checks.txt, generate reference outputs with the Python libraries the
# reference code uses (into a temp dir), compare ours against them with the check's Go test, and print
# one table of the figures. With XCHECK_UPDATE=1 the fresh references replace the committed golden
# fixtures that make test compares against without Python.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${XCHECK_PY:?XCHECK_PY must name the venv python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
rows=()
while read -r name pkg test; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  out="$tmp/$name"
  mkdir -p "$out"
  echo "xcheck $name: generating references ($PY scripts/xcheck/$name.py)" >&2
  if ! "$PY" "scripts/xcheck/$name.py" "$out" >&2; then
    echo "xcheck $name: reference generator failed" >&2; status=1; continue
  fi
  log="$tmp/$name.log"
  if XCHECK_DIR="$out" go test -count=1 -run "^${test}\$" -v "./$pkg" >"$log" 2>&1; then
    verdict=ok
  else
    verdict=FAIL; status=1; cat "$log" >&2
  fi
  while IFS= read -r line; do rows+=("${line#*XCHECK|}"); done < <(grep -o 'XCHECK|.*' "$log" || true)
  echo "xcheck $name: $verdict" >&2
  if [[ "${XCHECK_UPDATE:-}" == 1 && $verdict == ok ]]; then
    rm -rf "$pkg/testdata/xcheck/$name" && mkdir -p "$pkg/testdata/xcheck" && cp -r "$out" "$pkg/testdata/xcheck/$name"
    echo "xcheck $name: golden fixtures updated in $pkg/testdata/xcheck/$name" >&2
  fi
done < scripts/xcheck/checks.txt
echo
echo "| step | reference | figure | bound | verdict |"
echo "|---|---|---|---|---|"
for r in "${rows[@]}"; do echo "|$r"; done
exit $status
