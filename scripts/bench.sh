#!/usr/bin/env bash
# The load benchmark of the backend, in one command. This script only
# prepares: it installs wrk, nginx-light and PostgreSQL from Debian's packages
# if missing, builds the release binaries, starts a throwaway PostgreSQL, and
# runs the bench program (bench/src/main.rs), which starts everything it
# measures on 127.0.0.1, runs bounded loads, accounts CPU per request and
# writes the Markdown report (bench/RESULTS.md, or BENCH_OUT=path).
#
#   scripts/bench.sh           the full run: 10 s per scenario, 100 000
#                              sessions, the replica tests (a few minutes)
#   scripts/bench.sh --short   a smoke run: seconds per scenario, few
#                              sessions, no replica tests; its report says so
#
# Progress goes to stderr, the report to stdout and the file.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

short=false
case "${1:-}" in
    "") ;;
    --short) short=true ;;
    *) echo "usage: scripts/bench.sh [--short]" >&2; exit 2 ;;
esac
OUT="${BENCH_OUT:-bench/RESULTS.md}"

say() { printf 'bench: %s\n' "$*" >&2; }

need=()
for p in wrk nginx-light postgresql; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if ((${#need[@]})); then
    say "installing ${need[*]} (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# One cargo command for the backend, its session maker and (for a full run)
# the replica tests, so the three share one feature set and one build.
targets=(--bin backend --example bench_session)
$short || targets+=(--test replicas)
say "building the backend (release) and the bench program"
cargo build --release --locked -q -p backend "${targets[@]}"
cargo build --release --locked -q -p bench

. scripts/pg.sh
pg_start >/dev/null
export PG_DIR

args=(--backend "$PWD/target/release/backend"
      --sessions-bin "$PWD/target/release/examples/bench_session"
      --out "$OUT")
$short && args+=(--short --skip-replicas)
target/release/bench "${args[@]}"
