#!/usr/bin/env bash
# System packages Orbit needs beyond a Rust toolchain. Idempotent; run as root.
#   --rocksdb   libclang for the `rocksdb` cargo feature (bindgen)
#   --peers     redis-server, redis-tools (redis-cli, redis-benchmark) and postgresql:
#               the real servers the differential tests and benchmarks compare against
set -euo pipefail
packages=()
for arg in "$@"; do
    case "$arg" in
        --rocksdb) packages+=(libclang-dev) ;;
        --peers) packages+=(redis-server redis-tools postgresql) ;;
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
echo "install-deps: ok (${packages[*]:-nothing requested})"
