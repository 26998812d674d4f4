#!/usr/bin/env bash
# Installs what building (and, with --test, testing) the app needs and is not
# there yet. Idempotent: every step checks first, so a warm machine skips it.
#
#   scripts/setup.sh          wasm target, Trunk, wasm-bindgen-cli, wasm-opt
#   scripts/setup.sh --test   the above, plus Chromium, ChromeDriver, PostgreSQL
#
# Source it (`. scripts/setup.sh`) to keep the PATH it sets.
set -euo pipefail

export TRUNK_SKIP_VERSION_CHECK=true
export PATH="$HOME/.cargo/bin:$PATH"

setup_repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
setup_want_test=false
[[ "${1:-}" == "--test" ]] && setup_want_test=true

setup_apt() {
    local need=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
    if ((${#need[@]})); then
        echo "setup: installing ${need[*]} (Debian packages)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
}

if $setup_want_test; then
    setup_apt chromium chromium-driver postgresql
fi

# rust-toolchain.toml names the compiler and the wasm target; rustup installs
# them on first use, this makes sure the target is there before Trunk runs.
(cd "$setup_repo_root" && rustup target list --installed | grep -qx wasm32-unknown-unknown) \
    || (cd "$setup_repo_root" && rustup target add wasm32-unknown-unknown)

if [[ "$(trunk --version 2>/dev/null)" != "trunk 0.21.14" ]]; then
    echo "setup: installing Trunk 0.21.14 (takes about 9 minutes once)"
    (cd /tmp && cargo +1.95.0 install trunk --version 0.21.14 --locked --quiet)
fi

setup_wb="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' "$setup_repo_root/Cargo.lock")"
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $setup_wb" ]]; then
    echo "setup: installing wasm-bindgen-cli $setup_wb (takes about 3 minutes once)"
    # No --locked: its lockfile names a webpki-roots the registry does not have.
    (cd /tmp && cargo +1.95.0 install wasm-bindgen-cli --version "$setup_wb" --quiet)
fi

if [[ ! -x "$setup_repo_root/node_modules/.bin/wasm-opt" ]]; then
    (cd "$setup_repo_root" && npm ci --no-audit --no-fund --silent)
fi
export PATH="$setup_repo_root/node_modules/.bin:$PATH"
