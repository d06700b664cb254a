#!/usr/bin/env bash
# Side-by-side benchmark: the C peers (a bench-peers folder: MIT krb5 / gss-ntlmssp through
# GSS-API, its run.sh and summarize.js) and tslsa (npm run bench), interleaved in one run so both
# see the same machine load, then one table with a column group per run and a ratio table.
#
#   scripts/bench-side-by-side.sh /path/to/bench-peers [ONLY]
#
# ONLY: groups, as both sides name them (default "ntlm"; also krb5, wrap, node).
# Environment: ROUNDS (peer/tslsa alternations, default 2), OUT (result folder, default a new temp
# dir), SPLIT=1 (also the [wrap]/[unwrap] rows), and the knobs both sides read: DUR WARM WDUR WWARM.
set -euo pipefail
PEERS=${1:?usage: scripts/bench-side-by-side.sh /path/to/bench-peers [ONLY]}
PEERS=$(cd "$PEERS" && pwd)
ONLY=${2:-ntlm}
ROUNDS=${ROUNDS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d -t tslsa-side-by-side.XXXXXX)}
mkdir -p "$OUT"
for f in run.sh summarize.js; do
  [[ -f "$PEERS/$f" ]] || { echo "no $f in $PEERS" >&2; exit 2; }
done

export ONLY
# tslsa runs compiled, as users run it (npm run bench does the same).
(cd "$ROOT" && npx tsc -p tsconfig.bench.json)
files=()
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r/$ROUNDS: C peers ($ONLY)" >&2
  WORKDIR="$OUT/peer-work" bash "$PEERS/run.sh" > "$OUT/peer-$r.jsonl"
  echo "== round $r/$ROUNDS: tslsa ($ONLY)" >&2
  (cd "$ROOT" && node .bench-build/bench/run.js) > "$OUT/tslsa-$r.jsonl"
  files+=("$OUT/peer-$r.jsonl" "$OUT/tslsa-$r.jsonl")
done

split=()
[[ "${SPLIT:-0}" == 1 ]] && split=(--split)
node "$PEERS/summarize.js" "${split[@]}" "${files[@]}"
echo
(cd "$ROOT" && node .bench-build/bench/ratios.js "${files[@]}")
echo >&2 "results in $OUT"
