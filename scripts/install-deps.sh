#!/usr/bin/env bash
# System packages Orbit needs beyond a Rust toolchain. Idempotent; run as root.
#   --rocksdb   libclang for the `rocksdb` cargo feature (bindgen)
#   --peers     redis-server, redis-tools (redis-cli, redis-benchmark) and postgresql:
#               the real servers the differential tests and benchmarks compare against
#   --clients   Node.js and the client libraries the tests run unmodified (clients/*/:
#               npm packages from their lock files with npm ci, Python packages from
#               requirements.txt into the folder's .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
packages=()
clients=0
for arg in "$@"; do
    case "$arg" in
        --rocksdb) packages+=(libclang-dev) ;;
        --peers) packages+=(redis-server redis-tools postgresql) ;;
        --clients) clients=1 ;;
        *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
    esac
done
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
if [ "$clients" = 1 ]; then
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
    fi
    for dir in clients/*/; do
        # Python clients: a virtualenv per folder, installed once per requirements file.
        if [ -f "$dir/requirements.txt" ] && ! cmp -s "$dir/requirements.txt" "$dir/.venv/.orbit-requirements" 2>/dev/null; then
            python3 -m venv "$dir/.venv"
            "$dir/.venv/bin/pip" install -q --disable-pip-version-check -r "$dir/requirements.txt"
            cp "$dir/requirements.txt" "$dir/.venv/.orbit-requirements"
        fi
        # Installed once per lock file: the copy in node_modules says which.
        if [ -f "$dir/package-lock.json" ] && ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.orbit-lock" 2>/dev/null; then
            (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts && cp package-lock.json node_modules/.orbit-lock)
        fi
    done
fi
echo "install-deps: ok (${packages[*]:-nothing requested})"
