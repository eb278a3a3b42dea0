#!/usr/bin/env bash
# Build cost of the SDK as a user pays it: a one-call binary (GET /healthz) built from clean in
# release mode, once on `agenttier` (default features) and once on bare `reqwest` (its default
# features plus json) with the same tokio, alternating so both see the same machine. Prints wall
# and CPU seconds per build, the medians and their ratio, and the binaries' sizes.
#
# Usage: benches/build-time.sh [ROUNDS] (default 3). Run it on a quiet machine; each round is two
# clean builds. `TIMINGS=1` also writes cargo's --timings report for the SDK build of the last
# round (path printed), which shows what each dependency costs and the critical path.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/sdk/src" "$work/bare/src"
cat >"$work/sdk/Cargo.toml" <<EOF
[package]
name = "tiny-sdk"
version = "0.1.0"
edition = "2024"
[dependencies]
agenttier = { path = "$repo" }
tokio = { version = "1", features = ["rt-multi-thread", "macros"] }
[workspace]
EOF
cat >"$work/sdk/src/main.rs" <<'EOF'
#[tokio::main]
async fn main() -> Result<(), agenttier::Error> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let client = agenttier::Client::builder(url).build()?;
    println!("{}", client.healthz().await?);
    Ok(())
}
EOF
cat >"$work/bare/Cargo.toml" <<EOF
[package]
name = "tiny-bare"
version = "0.1.0"
edition = "2024"
[dependencies]
reqwest = { version = "0.13", features = ["json"] }
serde_json = "1"
tokio = { version = "1", features = ["rt-multi-thread", "macros"] }
[workspace]
EOF
cat >"$work/bare/src/main.rs" <<'EOF'
#[tokio::main]
async fn main() -> Result<(), reqwest::Error> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let body = reqwest::get(format!("{url}/healthz")).await?.text().await?;
    println!("{body}");
    Ok(())
}
EOF
# The same versions of shared dependencies on both sides: both start from the SDK's lock file.
cp "$repo/Cargo.lock" "$work/sdk/Cargo.lock"
cp "$repo/Cargo.lock" "$work/bare/Cargo.lock"
for side in sdk bare; do
  (cd "$work/$side" && cargo fetch -q 2>/dev/null || cargo generate-lockfile -q)
done

build() { # side extra-args... -> "wall cpu"
  local side=$1
  shift
  rm -rf "$work/$side/target"
  (cd "$work/$side" && /usr/bin/time -f "%e %U %S" -o "$work/time" cargo build -q --release "$@" >/dev/null 2>"$work/err") ||
    { cat "$work/err" >&2; exit 1; }
  awk '{printf "%.1f %.1f\n", $1, $2 + $3}' "$work/time"
}

printf "%-6s %-5s %8s %8s\n" round side wall_s cpu_s
for r in $(seq "$rounds"); do
  for side in sdk bare; do
    extra=()
    if [ "$side" = sdk ] && [ "$r" = "$rounds" ] && [ "${TIMINGS:-}" = 1 ]; then extra=(--timings); fi
    read -r wall cpu < <(build "$side" "${extra[@]}")
    printf "%-6s %-5s %8s %8s\n" "$r" "$side" "$wall" "$cpu"
    echo "$side $wall $cpu" >>"$work/results"
  done
done
if [ "${TIMINGS:-}" = 1 ]; then
  mkdir -p "$repo/target/build-time"
  cp "$work/sdk/target/cargo-timings/cargo-timing.html" "$repo/target/build-time/sdk-timings.html"
  echo "timings: $repo/target/build-time/sdk-timings.html"
fi
size() { stat -c %s "$work/$1/target/release/tiny-$1"; }
awk -v ssize="$(size sdk)" -v bsize="$(size bare)" '
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { n[$1]++; wall[$1, n[$1]] = $2; cpu[$1, n[$1]] = $3 }
  END {
    for (s in n) { for (i = 1; i <= n[s]; i++) { w[i] = wall[s, i]; c[i] = cpu[s, i] }
      mw[s] = median(w, n[s]); mc[s] = median(c, n[s]) }
    printf "median wall: sdk %.1fs, bare %.1fs, ratio %.2fx\n", mw["sdk"], mw["bare"], mw["sdk"] / mw["bare"]
    printf "median cpu:  sdk %.1fs, bare %.1fs, ratio %.2fx\n", mc["sdk"], mc["bare"], mc["sdk"] / mc["bare"]
    printf "binary size: sdk %.2f MiB, bare %.2f MiB\n", ssize / 1048576, bsize / 1048576
  }' "$work/results"
