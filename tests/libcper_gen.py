"""libcper's record generator (cper-generate), built from the source of PyPI `cper` 0.0.4.

The sdist of `cper` (the PyPI package the tests already use as libcper's decoder) holds
libcper's whole source, generator included. `pip download` fetches it from the project's
package registry (no other host), gcc builds the generator against json-c (installed by
scripts/install-system-deps.sh), and the binary is cached in ~/.cache/fwemu-libcper (or
$FWEMU_LIBCPER_CACHE). Nothing from fwemu is used here.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

VERSION = "0.0.4"
MODES_EXE = "libcper-modes"    # the generator in ALL_VALID / SOME_VALID mode (libcper_all_valid.c)


def cache_dir() -> Path:
    return Path(os.environ.get("FWEMU_LIBCPER_CACHE", Path.home() / ".cache" / "fwemu-libcper"))


def build_generator(all_valid: bool = False) -> Path:
    """The cper-generate binary (all_valid: tests/libcper_all_valid.c, the generator with
    every optional field valid); RuntimeError saying what is missing when it cannot be built."""
    out = cache_dir() / VERSION
    wrapper = Path(__file__).with_name("libcper_all_valid.c")
    # the wrapper's binary is named by its source's hash: a changed wrapper is rebuilt
    exe = out / (f"{MODES_EXE}-{hashlib.sha256(wrapper.read_bytes()).hexdigest()[:12]}" if all_valid
                 else "cper-generate")
    if exe.exists():
        return exe
    out.mkdir(parents=True, exist_ok=True)
    sdist = out / f"cper-{VERSION}.tar.gz"
    if not sdist.exists():
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "cper",
                            f"cper=={VERSION}", "-d", str(out)], capture_output=True, text=True, timeout=600)
        if r.returncode or not sdist.exists():
            raise RuntimeError(f"pip download of the cper {VERSION} sdist failed: {r.stderr[-400:]}")
    src = out / f"cper-{VERSION}"
    if not src.exists():
        with tarfile.open(sdist) as tar:
            tar.extractall(out, filter="data")
    if shutil.which("gcc") is None or shutil.which("pkg-config") is None:
        raise RuntimeError("gcc or pkg-config missing (scripts/install-system-deps.sh)")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "json-c"], capture_output=True, text=True)
    if flags.returncode:
        raise RuntimeError("json-c development files missing (scripts/install-system-deps.sh)")
    sources = [str(p) for pat in ("sections/*.c", "generator/sections/*.c") for p in glob.glob(str(src / pat))]
    sources += [str(src / f) for f in ("Cper.c", "base64.c", "common-utils.c", "cper-parse.c", "cper-utils.c",
                                       "ir-parse.c", "log.c", "generator/cper-generate.c",
                                       "generator/gen-utils.c")]
    sources.append(str(wrapper) if all_valid else str(src / "generator" / "cper-generate-cli.c"))
    tmp = exe.with_suffix(".tmp")
    r = subprocess.run(["gcc", "-O1", "-w", "-std=gnu18", "-D_POSIX_C_SOURCE=200809L", f"-I{src}/include",
                        *sources, "-o", str(tmp), *flags.stdout.split()], capture_output=True, text=True,
                       timeout=600)
    if r.returncode:
        raise RuntimeError(f"building {exe.name} failed: {r.stderr[-400:]}")
    tmp.replace(exe)
    return exe


def generate(exe: Path, sections: list[str], path: Path, some_valid: bool = False) -> bytes:
    """A full record with these sections (the generator's names: memory, arm, pcie, ...).
    The generator never seeds its random numbers, so the same call makes the same record.
    With the modes binary (build_generator(True)): every field valid, or with some_valid
    libcper's SOME_VALID pattern; with cper-generate: random validation bits."""
    if exe.name.startswith(MODES_EXE):
        argv = ["--some-valid"] * some_valid + [str(path), *sections]
    else:
        assert not some_valid, "cper-generate sets random validation bits only"
        argv = ["--out", str(path), "--sections", *sections]
    subprocess.run([str(exe), *argv], check=True, capture_output=True, timeout=60)
    return path.read_bytes()


def record_sections(rec: bytes) -> list[tuple[uuid.UUID, int, int, bytes]]:
    """(section type, severity, flags, body) of each section descriptor of a full record."""
    n = struct.unpack_from("<H", rec, 10)[0]
    out = []
    for i in range(n):
        off, length, _rev, _vb, _res, flags, stype, _fru, sev, _text = struct.unpack_from(
            "<IIHBBI16s16sI20s", rec, 128 + 72 * i)
        out.append((uuid.UUID(bytes_le=stype), sev, flags, rec[off:off + length]))
    return out


def one_entry_block(guid: uuid.UUID, severity: int, body: bytes) -> bytes:
    """A status block of one revision-0x300 entry holding `body` (ACPI 6.5 18.3.2.7.1)."""
    gde = struct.pack("<16sIHBBI16s20sQ", guid.bytes_le, severity, 0x0300, 0, 1, len(body),
                      bytes(16), bytes(20), 0)
    ce = severity in (2, 3)
    status = (0 if ce else 1) | (2 if ce else 0) | 1 << 4
    return struct.pack("<IIIII", status, 0, 0, len(gde) + len(body), severity) + gde + body
