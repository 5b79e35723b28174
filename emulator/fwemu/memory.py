"""Physical memory seen through a board's windows, mapped locally.

A window with a `path` maps that file (a /dev/shm file, QEMU's memory-backend-file, a
device) at `offset`; one without is anonymous shared memory owned by this process (the
sim board). Every access is checked against the windows: anything outside is refused.
Register and block accesses go through the C core so their ordering and atomicity are the
same ones a firmware port gets.
"""

from __future__ import annotations

import mmap
import os
import stat
from typing import Final

from ._corelib import CData, ffi, lib
from .board import Source, Window
from .errors import BlockBusyError, FwemuError, RefusedError, UnreachableError

# bound once (a compiled module reads a Final from a C static; `lib.x` is a dict lookup and
# a getattr on the cffi library): the calls a post and a consumption check make
_FW_OK: Final[int] = lib.FW_OK
_fw_source_post: Final = lib.fw_source_post
_fw_source_consumed: Final = lib.fw_source_consumed
_fw_reg_read: Final = lib.fw_reg_read
_fw_reg_write: Final = lib.fw_reg_write
_buffer: Final = ffi.buffer


def ack_reg(source: Source) -> CData:
    """The C core's view of a source's GHESv2 Read Ack register (masks, offset, width)."""
    ra = source.read_ack
    assert ra is not None   # only a GHESv2 source has one
    return ffi.new("fw_ack_reg *", {"preserve": ra.preserve, "write": ra.write,
                                    "bit_offset": ra.bit_offset, "width_bits": ra.width})


class AccessError(FwemuError):
    """An access outside every window the board declares."""


class LocalMemory:
    def __init__(self, windows: tuple[Window, ...] | list[Window]):
        self.windows = list(windows)
        self._maps: list[tuple[Window, mmap.mmap, CData]] = []
        self._ptr_cache: dict[tuple[int, int], CData] = {}
        self._sources: dict[int, tuple[Source, CData]] = {}   # id(source) -> (source, fw_source *)
        for w in self.windows:
            if w.path:
                try:
                    fd = os.open(w.path, os.O_RDWR)
                except OSError as exc:
                    raise UnreachableError(f"window {w.name}: cannot open {w.path}: {exc.strerror}") from None
                try:
                    st = os.fstat(fd)
                    if stat.S_ISREG(st.st_mode) and st.st_size < w.offset + w.size:
                        raise UnreachableError(
                            f"window {w.name}: {w.path} is {st.st_size:#x} bytes, smaller than the "
                            f"board's offset {w.offset:#x} + size {w.size:#x}")
                    page = mmap.ALLOCATIONGRANULARITY
                    base_off = w.offset - w.offset % page
                    mm = mmap.mmap(fd, w.size + (w.offset - base_off), offset=base_off)
                except (OSError, ValueError) as exc:
                    raise UnreachableError(f"window {w.name}: cannot map {w.path} at offset {w.offset:#x}, "
                                           f"size {w.size:#x}: {getattr(exc, 'strerror', None) or exc}") from None
                finally:
                    os.close(fd)
                ptr = ffi.from_buffer(mm) + (w.offset - base_off)
            else:
                try:
                    mm = mmap.mmap(-1, w.size)
                except (OSError, ValueError, OverflowError) as exc:
                    self.close()
                    raise UnreachableError(f"window {w.name}: cannot map {w.size:#x} bytes of memory for it "
                                           f"on this machine: {getattr(exc, 'strerror', None) or exc}") from None
                ptr = ffi.from_buffer(mm)
            self._maps.append((w, mm, ptr))

    def close(self) -> None:
        self._ptr_cache.clear()
        self._sources.clear()
        for _w, mm, _p in self._maps:
            try:
                mm.close()
            except BufferError:
                pass  # cffi pointers still exported; the mapping goes with the process
        self._maps.clear()

    def ptr(self, addr: int, length: int) -> CData:
        """A cffi uint8_t* to [addr, addr+length), which must lie in one window."""
        key = (addr, length)
        hit = self._ptr_cache.get(key)
        if hit is not None:
            return hit
        for w, _mm, p in self._maps:
            if w.base <= addr and addr + length <= w.end:
                if len(self._ptr_cache) < 4096:   # registers and blocks: a handful of keys
                    self._ptr_cache[key] = p + (addr - w.base)
                return p + (addr - w.base)
        raise AccessError(f"{addr:#x} +{length:#x} is outside every memory window")

    # The accessors look in the pointer cache themselves: they run several times per
    # injection, and a call into ptr() was a measurable share of the sim's cost.
    def read(self, addr: int, length: int) -> bytes:
        p = self._ptr_cache.get((addr, length)) or self.ptr(addr, length)
        data: bytes = _buffer(p, length)[:]
        return data

    def write(self, addr: int, data: bytes) -> None:
        p = self.ptr(addr, len(data))
        ffi.memmove(p, data, len(data))

    def read_reg(self, addr: int, width_bits: int) -> int:
        p = self._ptr_cache.get((addr, width_bits >> 3)) or self.ptr(addr, width_bits >> 3)
        value: int = _fw_reg_read(p, width_bits)
        return value

    def write_reg(self, addr: int, width_bits: int, value: int) -> None:
        p = self._ptr_cache.get((addr, width_bits >> 3)) or self.ptr(addr, width_bits >> 3)
        _fw_reg_write(p, width_bits, value)

    def source(self, source: Source) -> CData:
        """The C core's view of a source (fw_source *: block, Read Ack register and masks),
        made once per Source object."""
        hit = self._sources.get(id(source))
        if hit is None or hit[0] is not source:
            ra = source.read_ack
            ack = self.ptr(ra.address, ra.width // 8) if ra else ffi.NULL
            cs = ffi.new("fw_source *", {"block": self.ptr(source.block, source.block_length),
                                         "block_len": source.block_length, "ack": ack,
                                         "ack_reg": ack_reg(source)[0] if ra else {}})
            hit = self._sources[id(source)] = (source, cs)
        return hit[1]

    def post_to_source(self, source: Source, record: bytes) -> None:
        """What firmware does to post (fw_source_post): only into a free block (block_status
        0 and, GHESv2, Read Ack showing the OS's ack), re-arming Read Ack so the OS's next ack
        is observable, then the ordered commit. RefusedError, with nothing written, if not."""
        rc = _fw_source_post(self.source(source), record, len(record), 0)
        if rc == _FW_OK:
            return
        if rc in (lib.FW_E_BUSY, lib.FW_E_UNACKED):
            raise BlockBusyError(self.refusal(source, rc))
        raise RefusedError(self.refusal(source, rc))

    def refusal(self, source: Source, rc: int) -> str:
        if rc == lib.FW_E_BUSY:
            return (f"source {source.id}: block still holds an unconsumed record "
                    f"(block_status {self.read_reg(source.block, 32):#x})")
        if rc == lib.FW_E_UNACKED:
            ra = source.read_ack
            assert ra is not None   # only a GHESv2 source waits for an ack
            return (f"source {source.id}: the OS has not acked the last record "
                    f"(Read Ack register {self.read_reg(ra.address, ra.width):#x})")
        return f"source {source.id}: post failed (code {rc})"

    def source_free(self, source: Source) -> str | None:
        """None when a record may be posted, else why not (fw_source_free)."""
        rc = lib.fw_source_free(self.source(source))
        return None if rc == lib.FW_OK else self.refusal(source, rc)

    def source_consumed(self, source: Source) -> bool:
        """GHESv2: the OS's Read Ack write shows; GHES v1: block_status is 0 again."""
        return bool(_fw_source_consumed(self.source(source)))

    def _ack_reg(self, source: Source) -> CData:
        return ffi.addressof(self.source(source), "ack_reg")

    def withdraw_source(self, source: Source) -> None:
        """block_status back to 0 and Read Ack back to the OS's acked value."""
        self.write_reg(source.block, 32, 0)
        if source.read_ack:
            ra = source.read_ack
            v = self.read_reg(ra.address, ra.width)
            self.write_reg(ra.address, ra.width, lib.fw_ack_os_value(self._ack_reg(source), v))
