#!/usr/bin/env bash
# Debian 12 packages fwemu's tests need. Idempotent; run as root (CI) or with sudo.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(
  build-essential          # gcc for the cffi core and the C unit tests (ASan/UBSan runtimes)
  libjson-c-dev pkg-config  # the PyPI 'cper' decoder (libcper) builds against json-c
  acpica-tools             # iasl: tests/integration/test_hest_iasl.py cross-checks fwemu's HEST
  gcc-aarch64-linux-gnu     # `make -C csrc freestanding`: the target agent built for aarch64, no libc
  clang libclang-rt-14-dev # libFuzzer harnesses (the fuzzer runtime is only a Recommends of clang) for the agent's frame parser and the record decoder (csrc/fuzz)
  ser2net socat            # the RFC 2217 test and the labgrid farm test (ser2net on 127.0.0.1), pty pairs for the channel tests
  chromium                 # tests/integration/test_report.py renders `fwemu report`'s HTML headless (screenshot, console)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
