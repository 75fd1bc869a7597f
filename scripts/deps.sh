#!/usr/bin/env bash
# deps: installs what building and testing iopsd needs on Debian/Ubuntu.
#   scripts/deps.sh build   the build dependencies only
#   scripts/deps.sh test    also the test tooling (Jupyter clients, clang, ...)
set -euo pipefail
what=${1:-build}
build_pkgs=(build-essential cmake pkg-config libzmq3-dev libjansson-dev libpng-dev libssl-dev
            libsqlite3-dev)
test_pkgs=(clang clang-format python3 python3-jupyter-client python3-jupyter-kernel-test
           python3-ipykernel jupyter-nbconvert python3-nbclient jupyter-console strace valgrind
           libsqlite3-dev sqlite3 xpython)
pkgs=("${build_pkgs[@]}")
[ "$what" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
