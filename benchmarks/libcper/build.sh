#!/bin/sh
# Builds OpenBMC libcper's record generator from the source in the PyPI `cper==0.0.4` sdist
# (the same release the test extra installs as a decoder) and the timing driver gen_bench.c
# beside this script. Prints the driver's path. Fetches through pip with the machine's own
# index configuration, into the cache tests/libcper_gen.py uses too ($FWEMU_LIBCPER_CACHE,
# default ~/.cache/fwemu-libcper; the sdist and its source under 0.0.4/).
#
#     benchmarks/libcper/build.sh [PYTHON]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
py=${1:-python3}
dir=${FWEMU_LIBCPER_CACHE:-$HOME/.cache/fwemu-libcper}/0.0.4
src=$dir/cper-0.0.4
bin=$dir/gen_bench
mkdir -p "$dir"
if [ ! -f "$dir/cper-0.0.4.tar.gz" ]; then
    "$py" -m pip download --quiet --no-deps --no-binary cper cper==0.0.4 -d "$dir" >&2
fi
[ -d "$src" ] || tar -xzf "$dir/cper-0.0.4.tar.gz" -C "$dir"
if [ ! -x "$bin" ] || [ "$here/gen_bench.c" -nt "$bin" ]; then
    # The generator needs only its own sources, the GUID table (Cper.c), common-utils.c
    # (BCD) and log.c: no json-c.
    ${CC:-cc} -O2 -std=gnu11 -w -I"$src/include" -o "$bin" "$here/gen_bench.c" \
        "$src"/generator/cper-generate.c "$src"/generator/gen-utils.c \
        "$src"/generator/sections/*.c "$src"/Cper.c "$src"/common-utils.c "$src"/log.c
fi
echo "$bin"
