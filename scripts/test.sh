#!/usr/bin/env bash
# Runs every test: formatting, lints, the SPA build, backend unit and
# integration tests. Installs whatever is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
. scripts/setup.sh --test

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "trunk build --release"
trunk build --release --locked

step "PostgreSQL (throwaway cluster for the store tests)"
. scripts/pg.sh
pg_start
export TEST_DATABASE_URL="$PG_URL"

step "cargo test (native)"
cargo test --locked --workspace --exclude frontend
