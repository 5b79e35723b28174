"""Encode throughput, all rows measured in one process and run, medians of repeats.

Per section kind (a new value of one field in every record, the rest fixed):
  model+encode   StatusBlock([Entry(<Kind>Section(fields...), timestamp=TS)]) built from
                 the field values, then records.encode(): the public API, end to end
  Packer         records.Packer(template, [field]).pack(value): each value checked and
                 the whole block encoded, no model objects per record
  model+encode_c the same model, encoded by the C core through cffi (records.encode_c:
                 what records.encode did before records/packer.py)
  pack_columns   records.Packer(template, [field]).pack_columns([column]): the N records
                 in one call, the column an array('Q') of the N values made before the
                 clock starts, the result one bytes object of N records back to back. C
                 (csrc/pack.c) writes each record field by field from a slot table (block
                 header, entry header, the section's fixed part; the validation word derived
                 per record) and range-checks each value; only the variable-length part
                 after the fixed part (ARM error-info entries, CXL/PCI byte tails, raw data:
                 the same in every record) is copied, bytes encoded once in Python
  libcper gen    OpenBMC libcper's C generator (PyPI cper==0.0.4 sdist), random
                 full CPER records of that section type written to a memory stream, when
                 benchmarks/libcper/build.sh has built it (--libcper PATH, or found in its
                 cache); its records are full CPER (record header + descriptor + section,
                 random values, random counts for ARM and IA32/X64), not GHES blocks
TS is one Timestamp object for the run (firmware stamps once a second); building a new one
per record costs one more frozen-dataclass construction.

Memory-UE block (20 + 72 + 80 = 172 bytes), new physical address per record, against
struct.pack of the same bytes: the rows above, encode_many, and the C core called through
cffi per record from a field struct (fw_encode_block) and with a template plus address
(fw_encode_mem_block); the "template patch" row is fw_batch_mem, which encodes record 0
and then copies it and patches 8 bytes per record: it does not encode from fields. The
pack_columns rows encode every record from fields (above): from an array('Q') column, from
a list of ints (converted once per call, included in the time), and pack_columns_list
(one bytes object per record, the split included).

    python benchmarks/bench_encode.py [--records N] [--repeat R] [--kinds K,..] [--json]

Not a test: numbers depend on the machine and its load. README "Speed" keeps a reference run.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from array import array

from fwemu import records
from fwemu._corelib import ffi, lib
from fwemu.records import codec
from fwemu.records import model as m
from fwemu.records import sections as S

TS = m.Timestamp(2026, 11, 24, 12, 0, 0)
# kind -> (build the section with value v of the varying field, that field, its values'
# mask, libcper's generator type name)
KINDS = {
    "memory": (lambda v: m.MemorySection(physical_address=v, error_type=3), "physical_address",
               0xFFFF_FFFF_F000, "memory"),
    "arm": (lambda v: m.ArmSection(error_info=[m.ArmErrorInfo(type=2, physical_fault_addr=0x80000000)],
                                   mpidr=v, midr=0x410FD0C0, affinity_level=1, running_state=1),
            "mpidr", 0xFFFF_FFFF, "arm"),
    "pcie": (lambda v: m.PcieSection(port_type=4, vendor_id=0x8086, device_id=0x1234, bus=v,
                                     device=3, function=1, command=6, status=0x10), "bus", 0xFF, "pcie"),
    "processor-generic": (lambda v: m.ProcessorGenericSection(proc_type=1, proc_isa=2, proc_error_type=1,
                                                              target_addr=v, ip=0x4000),
                          "target_addr", 0xFFFF_FFFF, "generic"),
    "firmware-ref": (lambda v: m.FirmwareRefSection(record_type=1, record_identifier=v),
                     "record_identifier", 0xFFFF_FFFF, "firmware"),
    "cxl-protocol": (lambda v: S.CxlProtocolSection(agent_bus=v), "agent_bus", 0xFF, "cxlprotocol"),
    "cxl-general-media": (lambda v: S.CxlGeneralMediaSection(serial_number=v), "serial_number",
                          0xFFFF_FFFF, "cxlcomponent-media"),
    "cxl-dram": (lambda v: S.CxlDramSection(serial_number=v), "serial_number", 0xFFFF_FFFF,
                 "cxlcomponent-dram"),
    "cxl-memory-module": (lambda v: S.CxlMemoryModuleSection(serial_number=v), "serial_number",
                          0xFFFF_FFFF, "cxlcomponent-memory"),
    "pci-bus": (lambda v: S.PciBusSection(bus_address=v, error_type=1), "bus_address", 0xFFFF_FFFF, "pcibus"),
    "pci-device": (lambda v: S.PciDeviceSection(bus=v), "bus", 0xFF, "pcidev"),
    "x86-proc": (lambda v: S.X86ProcessorSection(apic_id=v), "apic_id", 0xFFFF_FFFF, "ia32x64"),
    "nvidia": (lambda v: S.NvidiaSection(instance_base=v), "instance_base", 0xFFFF_FFFF, "nvidia"),
}


def interleaved(rows: dict, repeat: int) -> dict[str, float]:
    """Records per second of each row {name: (fn, n)}: the median over `repeat` rounds,
    each round running every row once in turn, so a load that comes and goes on a shared
    machine falls on all rows alike. fn(n) returns its own time (None: timed here)."""
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeat):
        for name, (fn, n) in rows.items():
            t0 = time.perf_counter()
            took = fn(n)
            times[name].append(took if took is not None else time.perf_counter() - t0)
    return {name: rows[name][1] / statistics.median(t) for name, t in times.items()}


def libcper_path(arg: str | None) -> str | None:
    if arg:
        return arg
    cached = os.path.join(os.environ.get("FWEMU_LIBCPER_CACHE") or os.path.expanduser("~/.cache/fwemu-libcper"),
                          "0.0.4", "gen_bench")
    return cached if os.access(cached, os.X_OK) else None


def libcper_run(path: str, gen_type: str):
    """fn(n) for interleaved(): libcper's generator, timed by its driver (no process start)."""
    def run(n: int) -> float:
        out = subprocess.run([path, gen_type, str(n)], capture_output=True, text=True, check=True).stdout
        return float(out.split()[2])
    return run


def from_fields(build, packer: records.Packer, values):
    """fn(k) of the three from-field rows: the model + encode, Packer.pack, the model +
    encode_c; record i gets values[i]."""
    def model_encode(k, enc=records.encode):
        for i in range(k):
            enc(m.StatusBlock([m.Entry(build(values[i]), timestamp=TS)]))

    def packed(k):
        pack = packer.pack
        for i in range(k):
            pack(values[i])

    return model_encode, packed, lambda k: model_encode(k, records.encode_c)


def kind_rows(kind: str, n: int, repeat: int, gen: str | None) -> dict[str, float]:
    build, field, mask, gen_type = KINDS[kind]
    values = [(0x80000000 + 4096 * i) & mask for i in range(n)]
    blk = m.StatusBlock([m.Entry(build(values[7]), timestamp=TS)])
    packer = records.Packer(m.StatusBlock([m.Entry(build(values[0]), timestamp=TS)]), [field])
    assert packer.pack(values[7]) == records.encode(blk) == records.encode_c(blk)
    model_encode, packed, model_encode_c = from_fields(build, packer, values)
    column = array("Q", values)
    assert packer.pack_columns([column[:50]]) == b"".join(packer.pack(v) for v in values[:50])

    def columns(k):
        packer.pack_columns([column if k == n else column[:k]])

    rows = {"model+encode": (model_encode, n), "Packer": (packed, n), "model+encode_c": (model_encode_c, n),
            "pack_columns": (columns, n)}
    if gen:
        rows["libcper gen"] = (libcper_run(gen, gen_type), max(n, 100_000))
    return interleaved(rows, repeat)


MEM_GUID = m.MemorySection.GUID.bytes_le
# header(20) + GDE v3(72) + memory section(80), little endian, packed
STRUCT = struct.Struct("<IIIII 16sIHBBI16s20sQ QQQQ HHHHHHHH QQQ BBHHH")
assert STRUCT.size == 172


def struct_encode(pa: int, ts: int) -> bytes:
    """The straightforward pure-Python encoder: one Struct.pack of every field."""
    return STRUCT.pack(0x11, 0, 0, 152, 0, MEM_GUID, 0, 0x0300, 0x4, 0x01, 80, b"\0" * 16,
                       b"\0" * 20, ts, 0x4002, 0, pa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0)


def memory_rows(small: int, n: int, repeat: int, gen: str | None) -> dict[str, float]:
    """The memory-UE rows: `small` records for the Python rows, `n` for the C ones."""
    pas = array("Q", (0x80000000 + 4096 * i for i in range(n)))
    ts = TS.to_u64()
    blk = m.StatusBlock([m.Entry(m.MemorySection(physical_address=pas[7], error_type=3), timestamp=TS)])
    st, _raw = codec.estatus_struct(blk)
    gde = ffi.new("fw_gde *", codec._gde_fields(blk.entries[0]))
    fields = codec._mem_struct(blk.entries[0].section)
    one = ffi.new("uint8_t[]", 256)
    ref = struct_encode(pas[7], ts)
    assert lib.fw_encode_block(st, gde, lib.FW_SEC_MEM, fields, one, 256) == 172
    assert bytes(ffi.buffer(one, 172)) == ref == records.encode(blk)
    packer = records.Packer(blk, ["physical_address"])

    def run_struct(k):
        for i in range(k):
            struct_encode(pas[i], ts)

    def run_many(k):
        records.encode_many([m.StatusBlock([m.Entry(m.MemorySection(physical_address=pas[i], error_type=3),
                                                    timestamp=TS)]) for i in range(k)])

    def run_packer_many(k):
        packer.pack_many((pas[i],) for i in range(k))

    pa_list = pas.tolist()
    assert packer.pack_columns_list([pa_list[:50]]) == packer.pack_many((pa,) for pa in pa_list[:50])

    def run_columns(k):
        packer.pack_columns([pas if k == n else pas[:k]])

    def run_columns_from_list(k):
        packer.pack_columns([pa_list if k == n else pa_list[:k]])

    def run_columns_list(k):
        packer.pack_columns_list([pas if k == n else pas[:k]])

    def run_fields(k):
        enc, sec, out, kind = lib.fw_encode_block, fields, one, lib.FW_SEC_MEM
        for i in range(k):
            sec.physical_addr = pas[i]
            enc(st, gde, kind, sec, out, 256)

    def run_single(k):
        enc, out = lib.fw_encode_mem_block, one
        for i in range(k):
            enc(st, gde, fields, pas[i], ts, out, 256)

    batch_out = ffi.new("uint8_t[]", 172 * n)
    pa_buf = ffi.from_buffer("uint64_t[]", pas)

    def run_batch(k):
        assert lib.fw_batch_mem(st, gde, fields, k, pa_buf, ffi.NULL, ffi.NULL, batch_out, 172) == 172

    model_encode, packed, model_encode_c = from_fields(KINDS["memory"][0], packer, pas)
    run_batch(n)      # the records the post row writes
    fd, path = tempfile.mkstemp(prefix="fwemu-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.ftruncate(fd, 4096)
    shm = mmap.mmap(fd, 4096)
    blk = ffi.from_buffer(shm)

    def run_post(k):
        post, src, force = lib.fw_post, batch_out, lib.FW_POST_FORCE
        for i in range(k):
            post(blk, 1024, src + 172 * i, 172, force)

    rows = {"struct.pack (pure Python, one precompiled Struct)": (run_struct, small),
            "model+encode (from fields)": (model_encode, small),
            "Packer.pack (from fields)": (packed, small),
            "model+encode_c (from fields; the C core through cffi)": (model_encode_c, small),
            "encode_many of blocks built from fields": (run_many, small),
            "Packer.pack_many (from fields)": (run_packer_many, small),
            "C fw_encode_block from a field struct, a cffi call per record": (run_fields, n),
            "C fw_encode_mem_block (template + address), a cffi call per record": (run_single, n),
            "C template patch (fw_batch_mem: record 0 copied, 8 bytes patched)": (run_batch, n),
            "Packer.pack_columns (C, from field columns; array('Q') in, bytes out)": (run_columns, n),
            "Packer.pack_columns (C, from field columns; list of ints in)": (run_columns_from_list, n),
            "Packer.pack_columns_list (C, from field columns; a bytes per record)": (run_columns_list, n),
            "ordered post into a shared-memory block": (run_post, n)}
    if gen:
        rows["libcper gen memory (C, full CPER record)"] = (libcper_run(gen, "memory"), n)
    rates = interleaved(rows, repeat)
    assert bytes(shm[:172]) == bytes(ffi.buffer(batch_out + 172 * (n - 1), 172))
    ffi.release(blk)   # the mmap cannot close while cffi holds its buffer
    shm.close()
    os.close(fd)
    os.unlink(path)
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2_000,
                    help="records per kind row (memory's Python rows: x5, its C rows: x100)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, from: " + ", ".join(KINDS))
    ap.add_argument("--libcper", help="libcper generator timing driver (benchmarks/libcper/build.sh)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    bad = [k for k in kinds if k not in KINDS]
    if bad or args.records < 10 or args.repeat < 1:
        what = f"unknown kind {bad[0]!r}" if bad else "--records must be >= 10, --repeat >= 1"
        print(f"bench_encode: {what}", file=sys.stderr)
        return 2
    gen = libcper_path(args.libcper)
    per_kind = {k: kind_rows(k, args.records, args.repeat, gen) for k in kinds}
    mem = memory_rows(args.records * 5, args.records * 100, args.repeat, gen)
    base = mem["struct.pack (pure Python, one precompiled Struct)"]
    if args.json:
        print(json.dumps({"records": args.records, "repeat": args.repeat, "libcper": gen is not None,
                          "kinds": per_kind, "memory": mem}))
        return 0
    print(f"{sys.implementation.name} {sys.version.split()[0]}, median of {args.repeat}, "
          f"{args.records} records per kind row; libcper generator: {gen or 'not built'}")
    cols = ["model+encode", "Packer", "model+encode_c", "pack_columns", "libcper gen"]
    print(f"{'kind':18}" + "".join(f"{c:>16}" for c in cols)
          + f"{'encode/libcper':>16}{'Packer/libcper':>16}{'columns/libcper':>16}")
    for k, r in per_kind.items():
        lc = r.get("libcper gen")
        ratios = (f"{r['model+encode'] / lc:15.2f}x{r['Packer'] / lc:15.2f}x{r['pack_columns'] / lc:15.2f}x"
                  if lc else "")
        print(f"{k:18}" + "".join(f"{r[c]:16,.0f}" if c in r else f"{'-':>16}" for c in cols) + ratios)
    print(f"\nmemory-UE block, 172 bytes, a new physical address per record ({args.records * 5} "
          f"records in the Python rows, {args.records * 100} in the C rows)")
    print(f"{'method':72} {'records/s':>14} {'vs struct':>10}")
    for k, r in mem.items():
        print(f"{k:72} {r:14,.0f} {r / base:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
