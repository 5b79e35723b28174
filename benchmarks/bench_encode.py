"""Encode throughput of a memory-UE status block (20 + 72 + 80 = 172 bytes), a different
physical address in each record, four ways in one process, with ratios against the
plain struct.pack encoder measured in the same run.

    python benchmarks/bench_encode.py [--records N] [--json]

Not a test: numbers depend on the machine. The README keeps the table from a reference run.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import struct
import sys
import tempfile
import time
from array import array

from fwemu._corelib import ffi, lib
from fwemu.records import codec
from fwemu.records import model as m

MEM_GUID = m.MemorySection.GUID.bytes_le
# header(20) + GDE v3(72) + memory section(80), little endian, packed
STRUCT = struct.Struct("<IIIII 16sIHBBI16s20sQ QQQQ HHHHHHHH QQQ BBHHH")
assert STRUCT.size == 172


def struct_encode(pa: int, ts: int) -> bytes:
    """The straightforward pure-Python encoder: one Struct.pack of every field."""
    return STRUCT.pack(0x11, 0, 0, 152, 0,
                       MEM_GUID, 0, 0x0300, 0x4, 0x01, 80, b"\0" * 16, b"\0" * 20, ts,
                       0x4002, 0, pa, 0,
                       0, 0, 0, 0, 0, 0, 0, 0,
                       0, 0, 0,
                       3, 0, 0, 0, 0)


def best_rate(fn, n: int, repeat: int = 3) -> float:
    """Records per second, best of `repeat` runs of fn(n)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = args.records

    block = m.StatusBlock([m.Entry(m.MemorySection(physical_address=0, error_type=3),
                                   timestamp=m.Timestamp(2026, 11, 24, 12, 0, 0))])
    st, _raw = codec.estatus_struct(block)
    e = block.entries[0]
    gde = ffi.new("fw_gde *", codec._gde_fields(e))
    tmpl = codec._mem_struct(e.section)
    ts = e.timestamp.to_u64()
    pas = array("Q", (0x80000000 + 4096 * i for i in range(n)))

    # The C encoder, the oracle of this benchmark and the struct encoder agree on the bytes.
    one = ffi.new("uint8_t[]", 256)
    assert lib.fw_encode_mem_block(st, gde, tmpl, pas[7], ts, one, 256) == 172
    ref = struct_encode(pas[7], ts)
    assert bytes(ffi.buffer(one, 172)) == ref == codec.encode(
        m.StatusBlock([m.Entry(m.MemorySection(physical_address=pas[7], error_type=3), timestamp=e.timestamp)]))

    def run_struct(k):
        for i in range(k):
            struct_encode(pas[i], ts)

    def run_single(k):
        enc, out = lib.fw_encode_mem_block, one
        for i in range(k):
            enc(st, gde, tmpl, pas[i], ts, out, 256)

    batch_out = ffi.new("uint8_t[]", 172 * n)
    pa_buf = ffi.from_buffer("uint64_t[]", pas)

    def run_batch(k):
        assert lib.fw_batch_mem(st, gde, tmpl, k, pa_buf, ffi.NULL, ffi.NULL, batch_out, 172) == 172

    fd, path = tempfile.mkstemp(prefix="fwemu-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.ftruncate(fd, 4096)
    shm = mmap.mmap(fd, 4096)
    blk = ffi.from_buffer(shm)
    run_batch(n)

    def run_post(k):
        post, src, force = lib.fw_post, batch_out, lib.FW_POST_FORCE
        for i in range(k):
            post(blk, 1024, src + 172 * i, 172, force)

    rates = {
        "struct.pack (pure Python)": best_rate(run_struct, min(n, 300_000)),
        "C single call from Python": best_rate(run_single, n),
        "C batch call": best_rate(run_batch, n),
        "ordered post into shm block": best_rate(run_post, n),
    }
    assert bytes(shm[:172]) == bytes(ffi.buffer(batch_out + 172 * (n - 1), 172))
    ffi.release(blk)   # the mmap cannot close while cffi holds its buffer
    shm.close()
    os.close(fd)
    os.unlink(path)

    base = rates["struct.pack (pure Python)"]
    if args.json:
        print(json.dumps({"records": n, "rates": rates, "ratio_vs_struct": {k: r / base for k, r in rates.items()}}))
    else:
        print(f"memory-UE block, 172 bytes, {n} records, best of 3 ({sys.implementation.name} {sys.version.split()[0]})")
        print(f"{'method':32} {'records/s':>14} {'vs struct':>10}")
        for k, r in rates.items():
            print(f"{k:32} {r:14,.0f} {r / base:9.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
