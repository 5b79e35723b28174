#!/usr/bin/env bash
# Bounded libFuzzer runs of the agent's receive path (fuzz_frame) and the C record decoder
# (fuzz_cper), built with clang -fsanitize=fuzzer,address,undefined, each started from its
# kept corpus (corpus/<name>/, copied: the repo's corpus is not modified).
#
#   csrc/fuzz/run.sh [SECONDS_EACH=60] [OUT_DIR=<tmp>]
#
# Prints one line per harness:  fuzz <name>: <execs> executions, <crashes> crashes
# and exits non-zero on any crash (the reproducer stays in OUT_DIR).
set -euo pipefail
cd "$(dirname "$0")"
SECS=${1:-60}
OUT=${2:-$(mktemp -d)}
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "clang missing (Debian: clang)" >&2; exit 2; }
mkdir -p "$OUT"
FLAGS="-std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I.."
"$CLANG" $FLAGS -o "$OUT/fuzz_frame" fuzz_frame.c ../frame.c ../ghes.c ../agent/mp.c ../agent/agent.c
"$CLANG" $FLAGS -o "$OUT/fuzz_cper" fuzz_cper.c ../cper.c
status=0
for h in frame cper; do
    rm -rf "$OUT/corpus_$h"
    mkdir -p "$OUT/corpus_$h"
    cp corpus/$h/* "$OUT/corpus_$h/"
    log="$OUT/fuzz_$h.log"
    set +e
    (cd "$OUT" && ./fuzz_$h -max_total_time="$SECS" -print_final_stats=1 -max_len=1400 \
        -artifact_prefix="$OUT/crash_$h-" "corpus_$h") >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    crashes=$(ls "$OUT" | grep -c "^crash_$h-" || true)
    echo "fuzz $h: ${execs:-0} executions, $crashes crashes (${SECS}s, log $log)"
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then status=1; tail -40 "$log" >&2; fi
done
exit $status
