#!/usr/bin/env bash
# Instructions per call, facade vs bare reqwest + serde, counted by callgrind (repeatable
# whatever else the machine is doing). Usage: benches/instructions.sh [OP] [CONCURRENCY]
# (OP: get, exec, list; default get 64). Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
op=${1:-get}
conc=${2:-64}
cargo bench -p agenttier --bench pipeline --no-run 2>/dev/null
exe=$(ls -t target/release/deps/pipeline-* | grep -v '\.d$' | head -1)
out=$(mktemp -d)
"$exe" --serve >"$out/url" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 50); do [ -s "$out/url" ] && break; sleep 0.1; done
url=$(head -1 "$out/url")
count() { # mode calls -> total instructions
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1.$2" "$exe" --child "$1" "$op" "$conc" "$2" "$url" >/dev/null 2>"$out/log"
  grep -m1 '^summary:' "$out/cg.$1.$2" | awk '{print $2}'
}
small=1000; large=3000
for mode in bare facade; do
  a=$(count $mode $small); b=$(count $mode $large)
  per=$(( (b - a) / (large - small) ))
  echo "$mode $per"
done | awk '{v[$1]=$2; print $1": "$2" instructions per call"} END {printf "facade/bare: %.3fx\n", v["facade"]/v["bare"]}'
