"""A model of the Linux GHES consumer (arm64, v6.1 as Debian ships it by default; the
kernel version is OsKnobs.kernel where versions differ), for the sim board.

It follows shared/reference/linux-ghes-contract.md step for step: probe rules per
notification type, reading through the Error Status Address, the kernel's validation
(via the C core's fw_check), clear-and-ack timing (NMI-like paths ack before processing,
IRQ/poll/HED paths after), the 4-slot 10-second estatus cache, the 2-per-5-s print rate
limits, memory_failure / AER / ARM decisions, and panic on fatal. It logs in the kernel's
own wording (records.kernel_text) so its log can be compared line by line with dmesg.
Lines that a real kernel would not print start with "[sim]".

Page state (what memory_failure finds at a PA) is modelled per region of a memory map shaped
like QEMU virt's -m 1G guest running Debian's kernel (its /proc/iomem): RAM pages are free
buddy pages (the simulated RAM holds no workload); the pages of every board window inside
RAM are firmware-reserved (the GHES blocks: `unhandlable page`), as are the kernel's text
and data and the other reserved ranges; memory the kernel has a memmap for but never onlined
(the flash section at 0, `0x04000000-0x07ffffff : reserved`) is `memory outside kernel
control`; an address in a 128 MiB section with no memory at all fails pfn_valid
(`Invalid address in generic error data`). OsKnobs.memory replaces the default ranges (the
real-kernel tests pass the guest's own /proc/iomem).

Not modelled: the EDAC chain, tracepoints, vendor notifier chains, page types other than
free buddy / reserved / outside kernel control (no dirty LRU pages: no workload).
"""

from __future__ import annotations

import collections
import dataclasses
import struct
from bisect import bisect_right
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .._corelib import ffi, lib
from ..board import Board, Source
from ..errors import FwemuError
from ..notification import HED_KINDS
from ..records import codec
from ..records import kernel_text as kt
from ..records import sections
from ..records.kernel_profile import DEFAULT as DEFAULT_KERNEL
from ..records.kernel_profile import KernelProfile

FW_WARN: Final = "[Firmware Warn]: GHES: "
FW_BUG: Final = "[Firmware Bug]: GHES: "
CACHE_SLOTS: Final = 4
CACHE_MAX_AGE: Final = 10.0          # GHES_ESTATUS_IN_CACHE_MAX_NSEC
RATELIMIT_INTERVAL, RATELIMIT_BURST = 5.0, 2
GHES_SEV_NO, GHES_SEV_CORRECTED, GHES_SEV_RECOVERABLE, GHES_SEV_PANIC = 0, 1, 2, 3
NMI_LIKE: Final = ("sea", "sdei", "sei")
PAGE: Final = 4096
SECTION: Final = 1 << 27             # arm64 SECTION_SIZE_BITS (4K pages): pfn_valid is per section
# (first byte, last byte, state) as /proc/iomem shows them on QEMU virt -m 1G with Debian's
# 6.1 kernel (QEMU 10.0.2, edk2 2022.11); RAM not listed is "free". States: "reserved"
# (memory_failure: unhandlable page, unknown page Ignored), "outside" (memmap but not online
# memory: memory outside kernel control).
QEMU_VIRT_MEMORY: Final = (
    (0x04000000, 0x07FFFFFF, "outside"),     # flash bank 1 (EFI variables): memblock, not RAM
    (0x784A0000, 0x79AEFFFF, "reserved"),    # Kernel code
    (0x79AF0000, 0x7A13FFFF, "reserved"),
    (0x7A140000, 0x7A49FFFF, "reserved"),    # Kernel data
    (0x7C410000, 0x7C41FFFF, "reserved"),    # etc/hardware_errors (GHES registers + blocks)
    (0x7C430000, 0x7C43FFFF, "reserved"),    # ACPI tables
    (0x7C440000, 0x7C72FFFF, "reserved"),
)
OS_READ_CAP: Final = 65536     # the most the kernel reads of a block (fw_os_source.limit)
OS_ACTIONS: Final = 64         # fw_os_action slots kept; a record with more gets a larger array once
# fw_os_actions' kinds, looked up once (Final: a compiled module reads them from a C static)
_ACT_SECTION: Final[int] = lib.FW_OS_ACT_SECTION
_ACT_MF: Final[int] = lib.FW_OS_ACT_MF
_ACT_ARM_OTHER: Final[int] = lib.FW_OS_ACT_ARM_OTHER
_ACT_AER: Final[int] = lib.FW_OS_ACT_AER
# the C core's calls and codes the handlers use, bound once: a compiled module reads a Final
# from a C static, where `lib.x` is a module-dict lookup and a getattr on the cffi library
_OS_NONE: Final[int] = lib.FW_OS_NONE
_OS_ELSEWHERE: Final[int] = lib.FW_OS_ELSEWHERE
_OS_RECORD: Final[int] = lib.FW_OS_RECORD
_fw_os_read: Final = lib.fw_os_read
_fw_os_clear: Final = lib.fw_os_clear
_fw_os_actions: Final = lib.fw_os_actions
_buffer: Final = ffi.buffer
_U32: Final = struct.Struct("<I")
_HEADER: Final = struct.Struct("<IIIII")   # block_status, raw_data_offset, raw_data_length, data_length, error_severity
_ACTION: Final = struct.Struct("=IIQ")       # fw_os_action in the host's order: kind, arg, addr
assert _ACTION.size == ffi.sizeof("fw_os_action")
_GDE: Final = struct.Struct("<16sIHBBI")    # section_type, error_severity, revision, validation_bits, flags, error_data_length


def _u32(b: bytes, off: int) -> int:
    v: int = _U32.unpack_from(b, off)[0]
    return v


_SEVERITY: Final = (GHES_SEV_RECOVERABLE, GHES_SEV_PANIC, GHES_SEV_CORRECTED, GHES_SEV_NO)


def ghes_severity(cper_sev: int) -> int:
    """CPER severity (recoverable 0, fatal 1, corrected 2, info 3) → GHES_SEV_*; unknown is fatal."""
    return _SEVERITY[cper_sev] if 0 <= cper_sev <= 3 else GHES_SEV_PANIC


class _RateLimit:
    """__ratelimit(): `burst` per `interval`, and the 'N callbacks suppressed' line."""

    def __init__(self, name: str, clock: Callable[[], float]):
        self.name, self.clock = name, clock
        self.begin: float | None = None
        self.printed, self.missed = 0, 0

    def __call__(self, log: Callable[[str], None]) -> bool:
        now = self.clock()
        if self.begin is None or now - self.begin >= RATELIMIT_INTERVAL:
            if self.missed:
                log(f"{self.name}: {self.missed} callbacks suppressed")
            self.begin, self.printed, self.missed = now, 0, 0
        if self.printed < RATELIMIT_BURST:
            self.printed += 1
            return True
        self.missed += 1
        return False


@dataclass
class Ghes:
    """One probed GHES device."""

    source: Source
    registered: bool = False
    reason: str = ""
    ack_preserve: int = 0     # Read Ack masks shifted by the bit offset, cut to the width
    ack_write: int = 0
    # the C core's view (fw_os_source) when the ESA pointed into mapped memory at probe;
    # block_pa: the address it held then (a later ESA value elsewhere takes the Python path)
    cos: Any = None
    block_pa: int = -1

    def __post_init__(self) -> None:
        ra = self.source.read_ack
        if ra is not None:
            width = (1 << ra.width) - 1
            self.ack_preserve = (ra.preserve << ra.bit_offset) & width
            self.ack_write = (ra.write << ra.bit_offset) & width


@dataclass
class OsKnobs:
    """Test knobs: a slow OS (seconds before handling a notification), a deaf one (ignores
    notifications and does not poll), the SEI mode ('walk': an out-of-tree kernel that
    walks every SEI source on an SError; 'mainline': SEI sources refused at probe), and
    whether the 4-slot duplicate cache and the print rate limits apply (they do in Linux),
    and the kernel version modelled (records.kernel_profile; where versions differ)."""

    delay: float = 0.0
    deaf: bool = False
    sei_mode: str = "walk"
    ratelimit: bool = True
    memory: tuple[tuple[int, int, str], ...] | None = None     # instead of QEMU_VIRT_MEMORY
    kernel: KernelProfile = DEFAULT_KERNEL


@dataclass
class _Work:
    kind: str       # "sea" | "sei" | "sdei" | "irq" | "hed" | "poll"
    pe: int = 0
    arg: int = 0
    due: float = 0.0


class LinuxModel:
    """The OS. `platform` gives memory (read/read_reg/write_reg), the SDEI dispatcher and
    RAM bounds; `changed` is called after every write the firmware may be waiting on."""

    # as QEMU virt with -m 1G: same PAs valid on both (one name a line: mypyc compiles this class)
    RAM_BASE: int = 0x40000000
    RAM_SIZE: int = 1 << 30

    def __init__(self, board: Board, platform: Any, changed: Callable[[], None], knobs: OsKnobs | None = None,
                 clock: Callable[[], float] = time.monotonic, log_lines: int = 20000):
        # platform: the sim's SimPlatform (targets/sim.py, which imports this module)
        self.board, self.platform, self.changed = board, platform, changed
        self.knobs = knobs or OsKnobs()
        self.clock = clock
        self.lock = threading.RLock()
        self.log_buf: collections.deque[str] = collections.deque(maxlen=log_lines)
        self.log_mark = 0   # lines ever logged; log_buf holds the newest
        self.seqno = 0
        self.cache: list[tuple[bytes, float]] = []
        # source id -> why the last record read from it was acked but thrown away: True for
        # a cached duplicate, the kernel's warning for a block that failed its checks (nothing
        # printed, no memory_failure either way); SimTarget.dropped reads it
        self.dropped: dict[int, bool | str] = {}
        self.rl_corrected = _RateLimit("ghes_print_estatus", clock)
        self.rl_uncorrected = _RateLimit("ghes_print_estatus", clock)
        self.poisoned: set[int] = set()
        # workqueue items ghes_do_proc queued, run after the handler: (pa, soft, page state)
        # for memory_failure, (-1, False, line) for a line the AER recovery work prints
        # (plain tuples, no bound method made per record)
        self.deferred: list[tuple[int, bool, str]] = []
        self._out = ffi.new("uint8_t[]", OS_READ_CAP)    # fw_os_read's copy (under self.lock)
        self._out_len = ffi.new("uint32_t *")
        self._acts = ffi.new("fw_os_action[]", OS_ACTIONS)
        self.down: str | None = None
        self._memory_map()
        self.ghes: dict[int, Ghes] = {}
        self._reg_cache: list[Ghes] | None = None
        self._kind_cache: dict[str, list[Ghes]] = {}
        self.work: collections.deque[_Work] = collections.deque()
        self.cv = threading.Condition(self.lock)
        self.next_poll: dict[int, float] = {}
        self.stats: collections.Counter[str] = collections.Counter()
        # called as each record read is cleared and acked: (source, block address, what the
        # OS read, the PE whose handler consumed it, -1 outside a handler): the sim-agent's
        # ledger, and tests' view of what the OS read
        self.on_consume: Callable[[Ghes, int, bytes, int], None] | None = None
        self._handling_pe = -1
        self._stop = False
        self.thread = threading.Thread(target=self._run, name="sim-os", daemon=True)
        self.boot()
        self.thread.start()

    # ---- page state -------------------------------------------------------------------
    def _memory_map(self) -> None:
        ram = next((w for w in self.board.windows if w.name == "ram"), None)
        if ram is not None:
            self.RAM_BASE, self.RAM_SIZE = ram.base, ram.size
        ram_end = self.RAM_BASE + self.RAM_SIZE
        regions = list(self.knobs.memory if self.knobs.memory is not None else QEMU_VIRT_MEMORY)
        # the firmware's own windows inside RAM (GHES registers and blocks) are reserved to it
        for w in self.board.windows:
            if w.name != "ram" and w.base < ram_end and w.end > self.RAM_BASE:
                regions.append((w.base, w.end - 1, "reserved"))
        self.memory = sorted(regions)
        self.sections = {pa // SECTION for first, last, _s in self.memory
                         for pa in range(first - first % SECTION, last + 1, SECTION)}
        self.sections.update(range(self.RAM_BASE // SECTION, (ram_end - 1) // SECTION + 1))
        # the regions cut into disjoint spans, each with the state of the first region (in
        # sorted order) that holds it, or None: page_state bisects them (memory_failure
        # looks one up per record)
        cuts = sorted({first for first, _l, _s in self.memory} | {last + 1 for _f, last, _s in self.memory})
        self._cuts = cuts
        self._cut_states = [next((st for first, last, st in self.memory if first <= c <= last), None)
                            for c in cuts]

    def page_state(self, pa: int) -> str:
        """'free', 'reserved', 'outside' (memmap, not online) or 'invalid' (no pfn_valid)."""
        i = bisect_right(self._cuts, pa) - 1
        if i >= 0:
            state = self._cut_states[i]
            if state is not None:
                return state
        if self.RAM_BASE <= pa < self.RAM_BASE + self.RAM_SIZE:
            return "free"
        return "outside" if pa // SECTION in self.sections else "invalid"

    # ---- logging --------------------------------------------------------------------
    def log(self, line: str) -> None:
        self.log_buf.append(line)
        self.log_mark += 1

    def lines_since(self, mark: int) -> tuple[list[str], int]:
        with self.lock:
            n = min(self.log_mark - mark, len(self.log_buf))
            return (list(self.log_buf)[len(self.log_buf) - n:] if n > 0 else []), self.log_mark

    # ---- boot / probe (ghes_probe) ------------------------------------------------------
    def boot(self) -> None:
        with self.lock:
            self.down = None
            self.cache.clear()
            self.ghes.clear()
            self._reg_cache = None
            self._kind_cache = {}
            self.next_poll.clear()
            sdei = self.platform.sdei
            for pe in range(self.board.pes.count):
                if pe not in self.platform.masked_pes:
                    sdei.unmask(pe)
            self.log("HEST: Table parsing has been initialized.")
            ids = [s.id for s in self.board.sources]
            if len(set(ids)) != len(ids):
                self.log("HEST: Duplicated hardware error source ID.")  # every GHES dropped
                return
            for src in self.board.sources:
                if src.enabled:
                    self.ghes[src.id] = self._probe(src)
            for g in self.ghes.values():
                if g.registered:   # a block already pending at boot is consumed at probe
                    self._ghes_proc(g)

    def _probe(self, src: Source) -> Ghes:
        g = Ghes(src)
        n, kind = src.id, src.notify
        if kind == "polled" and src.poll_interval_ms == 0:
            self.log(f"{FW_WARN}Poll interval is 0 for generic hardware error source: {n}, disabled.")
            g.reason = "poll interval 0"
            return g
        if kind == "local":
            self.log(f"GHES: Generic hardware error source: {n} notified via local interrupt is not supported!")
            g.reason = "local interrupt"
            return g
        if kind == "nmi":
            self.log(f"GHES: Generic hardware error source: {n} notified via NMI interrupt is not supported!")
            g.reason = "NMI"
            return g
        if kind in ("cmci", "mce") or (kind == "sei" and self.knobs.sei_mode == "mainline"):
            self.log(f"{FW_WARN}Unknown notification type: {src.notify_value} for generic hardware "
                     f"error source: {n}")
            g.reason = "unknown notification type"
            return g
        if src.block_length < 20:
            self.log(f"{FW_BUG}Invalid error block length: {src.block_length} for generic hardware "
                     f"error source: {n}")
            g.reason = "block length"
            return g
        if kind == "sdei":
            try:
                if src.vector == 0:
                    raise ValueError("event 0 is reserved for SDEI_EVENT_SIGNAL (-EINVAL)")
                if any(o.registered and o.source.notify == "sdei" and o.source.vector == src.vector
                       for o in self.ghes.values()):
                    raise ValueError(f"event {src.vector} already registered (-EBUSY)")
                self.platform.sdei.register_all_pes(src.vector)
            except Exception as exc:  # SdeiError or the checks above
                self.log(f"[sim] GHES: source {n}: SDEI registration failed: {exc}")
                g.reason = f"SDEI: {exc}"
                return g
        if kind == "polled":
            self.next_poll[n] = self.clock() + src.poll_interval_ms / 1000
        g.registered = True
        self._attach_c(g)
        return g

    # ---- notifications (called by the platform) -------------------------------------
    def deliver(self, kind: str, pe: int = 0, arg: int = 0) -> None:
        """An exception or interrupt reaches the OS. With no delay it is handled at once
        (as a fast PE would); with a delay it waits in the OS's queue."""
        with self.lock:
            if self.down or self.knobs.deaf:
                self.stats["ignored"] += 1
                return
            if self.knobs.delay <= 0:
                self._handle(kind, pe, arg)
            else:
                self.work.append(_Work(kind, pe, arg, self.clock() + self.knobs.delay))
                self.cv.notify()

    def _run(self) -> None:
        while True:
            with self.lock:
                if self._stop:
                    return
                now = self.clock()
                while self.work and self.work[0].due <= now and not self.down:
                    w = self.work.popleft()
                    self._handle(w.kind, w.pe, w.arg)
                if not self.down and not self.knobs.deaf:
                    for sid, due in list(self.next_poll.items()):
                        if due <= now:
                            g = self.ghes[sid]
                            self.next_poll[sid] = now + g.source.poll_interval_ms / 1000
                            self._ghes_proc(g)
                waits = [w.due for w in list(self.work)[:1]] + list(self.next_poll.values())
                timeout = max(0.0, min(waits) - self.clock()) if waits else 0.5
                self.cv.wait(min(timeout, 0.5))

    def stop(self) -> None:
        with self.lock:
            self._stop = True
            self.cv.notify()
        self.thread.join(timeout=2)

    def _handle(self, kind: str, pe: int, arg: int) -> None:
        if self.down:
            return
        self._handling_pe = pe
        try:
            self._dispatch(kind, pe, arg)
        finally:
            self._handling_pe = -1
        self.changed()

    def _dispatch(self, kind: str, pe: int, arg: int) -> None:
        self.stats[kind] += 1
        if kind == "sea":
            claimed = self._nmi_walk(self._by_kind("sea"), pe=pe)
            if not claimed:
                self.log(f"[sim] SEA on CPU{pe} not claimed by GHES: the faulting task gets SIGBUS")
        elif kind == "sei":
            claimed = self._nmi_walk(self._by_kind("sei"), pe=pe)
            if not claimed:
                self.log(f"SError Interrupt on CPU{pe}, code 0x00000000be000000 -- SError")
                self._panic("Asynchronous SError Interrupt")
        elif kind == "sdei":
            for g in self._by_kind("sdei"):    # the GHES registered for this event (one at most)
                if g.source.vector == arg:
                    self._nmi_walk((g,), pe=pe)
                    break
            self.platform.sdei_complete(arg, pe)
        elif kind == "irq":   # GHES IRQ: only the source that owns this GSI
            for g in self._by_kind("external"):
                if g.source.vector == arg:
                    self._ghes_proc(g)
        elif kind == "hed":   # ACPI Notify on PNP0C33: every HED-listed source
            for g in self._by_kind("hed"):
                self._ghes_proc(g)

    def _registered(self) -> list[Ghes]:
        if self._reg_cache is None:
            self._reg_cache = [g for g in self.ghes.values() if g.registered]
        return self._reg_cache

    def _by_kind(self, kind: str) -> list[Ghes]:
        """The registered sources notified by `kind` ("hed": every HED-listed kind), in order."""
        hit = self._kind_cache.get(kind)
        if hit is None:
            hit = self._kind_cache[kind] = [g for g in self._registered() if g.source.notify == kind
                                            or (kind == "hed" and g.source.notify in HED_KINDS)]
        return hit

    def _clear(self, g: Ghes, paddr: int, buf: bytes) -> None:
        """ghes_clear_estatus + ghes_ack_error: val &= preserve << offset; val |= write << offset."""
        if self.on_consume is not None:
            self.on_consume(g, paddr, buf, self._handling_pe)
        if paddr == g.block_pa:
            _fw_os_clear(g.cos)
        else:
            self.platform.write_reg(paddr, 32, 0)
            ra = g.source.read_ack
            if ra is not None:
                v = self.platform.read_reg(ra.address, ra.width)
                self.platform.write_reg(ra.address, ra.width, (v & g.ack_preserve) | g.ack_write)
        self.stats["acked"] += 1

    # ---- reading (__ghes_peek_estatus / __ghes_read_estatus) ---------------------------
    def _read_checked(self, g: Ghes) -> tuple[int, bytes, str | None] | None:
        """Follow the ESA to the block (G1–G3: None when nothing is pending, and nothing is
        cleared); the header checks (L2, L3, H1, H2) on its 20 bytes; then the whole length
        is copied and walked (E1, E2). Returns (address, bytes, kernel warning or None).
        The C core does it (fw_os_read) while the ESA points where it did at probe."""
        cos = g.cos
        if cos is not None:
            rc = _fw_os_read(cos, self._out, OS_READ_CAP, self._out_len)
            if rc == _OS_NONE:
                return None
            if rc != _OS_ELSEWHERE:
                buf: bytes = _buffer(self._out, self._out_len[0])[:]
                if rc == _OS_RECORD:
                    return g.block_pa, buf, None
                return g.block_pa, buf, codec.kernel_warning(buf, cos.limit) or None
        paddr = self.platform.read_reg(g.source.esa, 64)
        if paddr == 0:
            return None
        hdr = self.platform.read(paddr, 20)
        status, raw_off, raw_len, data_len, _sev = _HEADER.unpack(hdr)
        if status == 0:
            return None
        limit = min(g.source.block_length, 65536)
        length = (raw_off + raw_len if raw_len else 20 + data_len) & 0xFFFFFFFF
        if not 20 <= length <= limit:       # L2/L3: decided by the header alone
            return paddr, hdr, codec.kernel_warning(hdr, limit) or None
        buf = self.platform.read(paddr, length)
        return paddr, buf, codec.kernel_warning(buf, limit) or None

    def _attach_c(self, g: Ghes) -> None:
        """g.cos: the C core's view of the source, when its ESA and block are mapped."""
        src, mem = g.source, getattr(self.platform, "mem", None)
        g.cos, g.block_pa = None, -1
        if mem is None:
            return
        try:
            pa = self.platform.read_reg(src.esa, 64)
            limit = min(src.block_length, 65536)
            if pa == 0 or limit < 20:
                return
            ra = src.read_ack
            g.cos = ffi.new("fw_os_source *", {
                "esa": mem.ptr(src.esa, 8), "block_pa": pa, "block": mem.ptr(pa, limit), "limit": limit,
                "ack": mem.ptr(ra.address, ra.width // 8) if ra else ffi.NULL,
                "ack_preserve": g.ack_preserve, "ack_write": g.ack_write, "ack_width": ra.width if ra else 0})
            g.block_pa = pa
        except FwemuError:   # not mapped (a board whose ESA points outside its windows)
            g.cos = None

    # ---- IRQ-style processing (ghes_proc) ----------------------------------------------
    def _ghes_proc(self, g: Ghes) -> bool:
        got = self._read_checked(g)
        if got is None:
            return False
        paddr, buf, warn = got
        self.dropped[g.source.id] = warn or False
        if warn:
            self.log(warn)
        else:
            sev = ghes_severity(_u32(buf, 16))
            if sev >= GHES_SEV_PANIC:
                self._ghes_panic(g, buf, paddr)
                return True
            if not self._cached(buf):
                if self._print(g, buf, sev):
                    self._cache_add(buf)
            self._do_proc(buf)
        self._clear(g, paddr, buf)
        self._run_deferred()
        return True

    # ---- NMI-like processing (SEA, SDEI, SEI walk) ----------------------------------------
    def _nmi_walk(self, ghes_list: Sequence[Ghes], pe: int = 0) -> bool:
        """ghes_in_nmi_spool_from_list + ghes_proc_in_irq: read, panic check, clear + ack
        before processing, drop cached duplicates, then process in arrival order. The
        exception is claimed only by a block that passed validation (queued or cached): a
        block that fails a check is warned about and acked, but ghes_in_nmi_queue_one_entry
        returns an error for it, so it does not claim the SEA/SError."""
        queued, claimed = [], False
        for g in ghes_list:
            got = self._read_checked(g)
            if got is None:
                continue
            paddr, buf, warn = got
            if warn:
                self.log(warn)
                self.dropped[g.source.id] = warn
                self._clear(g, paddr, buf)
                continue
            claimed = True
            sev = ghes_severity(_u32(buf, 16))
            if sev >= GHES_SEV_PANIC:
                self._ghes_panic(g, buf, paddr)
                return True
            dup = bool(self.cache) and self._cached(buf)
            self.dropped[g.source.id] = dup    # known before the ack the firmware watches for
            self._clear(g, paddr, buf)
            if dup:
                self.stats["dropped_duplicate"] += 1
                continue
            queued.append((g, buf, sev))
            if g.source.notify == "sei":
                owner = self.platform.sei_owner(g.source.id)
                if owner is not None and owner != pe:
                    self.log(f"[sim] hazard: CPU{pe} consumed the SEI record in source "
                             f"{g.source.id} that firmware raised for CPU{owner}")
        added = False    # the cache changes only here: a record queued uncached is still uncached until then
        for g, buf, sev in queued:
            self._do_proc(buf, sync=g.source.notify == "sea", pe=pe)
            if not (added and self._cached(buf)):
                if self._print(g, buf, sev):
                    self._cache_add(buf)
                    added = True
        self._run_deferred()
        return claimed

    def _run_deferred(self) -> None:
        """The workqueue items ghes_do_proc queued (memory_failure_queue, aer_recover_queue)
        run after the handler: their lines follow the [Hardware Error] block, as in dmesg."""
        work, self.deferred = self.deferred, []
        for pa, soft, what in work:
            if pa < 0:
                self.log(what)
            else:
                self._memory_failure(pa, soft, what)

    # ---- the estatus cache and printing ------------------------------------------------------
    def _cached(self, buf: bytes) -> bool:
        now = None
        for c, t in self.cache:
            if c == buf:
                now = self.clock() if now is None else now
                if now - t < CACHE_MAX_AGE:
                    return True
        return False

    def _cache_add(self, buf: bytes) -> None:
        now = self.clock()
        self.cache = [(c, t) for c, t in self.cache if now - t < CACHE_MAX_AGE]
        if len(self.cache) >= CACHE_SLOTS:
            self.cache.pop(0)
        self.cache.append((buf, now))

    def _print(self, g: Ghes, buf: bytes, sev: int) -> bool:
        """sev: the record's GHES severity (the caller's panic check has read it)."""
        rl = self.rl_corrected if sev <= GHES_SEV_CORRECTED else self.rl_uncorrected
        if self.knobs.ratelimit and not rl(self.log):
            return False
        self.seqno += 1
        for line in kt.format_estatus(codec.decode(buf), g.source.id, self.seqno,
                                     profile=self.knobs.kernel):
            self.log(line)
        return True

    def _ghes_panic(self, g: Ghes, buf: bytes, paddr: int) -> None:
        self.seqno += 1
        for line in kt.format_estatus(codec.decode(buf), g.source.id, self.seqno,
                                     profile=self.knobs.kernel):
            self.log(line)
        self._clear(g, paddr, buf)
        self._panic("GHES: Fatal hardware error")

    def _panic(self, why: str) -> None:
        self.log(f"Kernel panic - not syncing: {why}")
        self.down = why
        self.work.clear()

    # ---- ghes_do_proc: reads the section fields from the bytes, as the kernel does -----------
    def _do_proc(self, buf: bytes, sync: bool = False, pe: int = 0) -> None:
        """`sync`: a SEA-notified source (is_hest_sync_notify). As in 6.1.y since 6.1.164,
        a synchronous error whose last memory/ARM section queued no memory_failure
        SIGBUSes the task that took the abort (the sim's stand-in task: sim-task). The
        decisions on the sections (memory, ARM, PCIe) come from the C core (fw_os_actions);
        what depends on the OS's state (the page map) is decided here."""
        acts = self._acts
        n = _fw_os_actions(buf, len(buf), acts, OS_ACTIONS)
        if n > OS_ACTIONS:
            acts = ffi.new("fw_os_action[]", n)
            _fw_os_actions(buf, len(buf), acts, n)
        queued = False
        # the structs as tuples in one call (a cdata field read is a getattr each)
        for kind, arg, addr in _ACTION.iter_unpack(_buffer(acts, _ACTION.size * n)):
            if kind == _ACT_SECTION:
                queued = False
            elif kind == _ACT_MF:
                queued = self._do_memory_failure(addr, soft=arg == 1)
            elif kind == _ACT_ARM_OTHER:
                self.log(f"{FW_WARN}Unhandled processor error type 0x{arg:02x}: "
                         f"{kt.arm_error_type_names(arg)}")
            elif kind == _ACT_AER:
                seg, bus, dev, fn = addr >> 24 & 0xFFFF, addr >> 16 & 0xFF, addr >> 8 & 0xFF, addr & 0xFF
                # aer_recover_queue → aer_recover_work_func: the sim has no PCI devices
                self.deferred.append((-1, False, f"AER: no pci_dev for {seg:04x}:{bus:02x}:{dev:02x}.{fn:x}"))
            else:   # FW_OS_ACT_SECTION_OTHER: the newer kinds, per kernel profile
                guid, cper_sev, revision, _valid, _flags, length = _GDE.unpack_from(buf, arg)
                if guid in sections.BY_GUID_LE:
                    body = arg + (72 if revision >> 8 >= 3 else 64)
                    for line in sections.ghes_proc(guid, buf[body:body + length], length, cper_sev,
                                                   self.knobs.kernel) or ():
                        self.log(line)
        if sync and not queued:
            self.log(f"GHES: sim-task:{1000 + pe}: synchronous unrecoverable error (SIGBUS)")

    def _do_memory_failure(self, pa: int, soft: bool = False) -> bool:
        """ghes_do_memory_failure: the address check is immediate, the page work deferred.
        True when memory_failure was queued."""
        state = self.page_state(pa)    # the page map changes only at boot: looked up once
        if state == "invalid":   # !pfn_valid
            self.log(f"{FW_WARN}Invalid address in generic error data: {pa:#x}")
            return False
        self.deferred.append((pa, soft, state))
        return True

    def _memory_failure(self, pa: int, soft: bool = False, state: str | None = None) -> None:
        pfn = pa // PAGE
        if state is None:
            state = self.page_state(pa)
        # hex(pfn): the kernel's %#lx (a format spec is parsed per call; hex() is not)
        if state == "outside":        # pfn_to_online_page() is NULL: before any poisoning
            self.log("Memory failure: " + hex(pfn) + ": memory outside kernel control")
            return
        if soft:
            self.log("[sim] soft offline: " + hex(pfn))
            self.poisoned.add(pfn)
            return
        if pfn in self.poisoned:
            self.log("Memory failure: " + hex(pfn) + ": already hardware poisoned")
            return
        self.poisoned.add(pfn)
        if state == "reserved":       # get_hwpoison_page() fails: -EIO
            self.log("Memory failure: " + hex(pfn) + ": unhandlable page.")
            self.log("Memory failure: " + hex(pfn) + ": recovery action for unknown page: Ignored")
            return
        self.log("Memory failure: " + hex(pfn) + ": recovery action for free buddy page: Recovered")

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"up": self.down is None, "panic": self.down,
                    "ghes": {sid: ("registered" if g.registered else f"refused: {g.reason}")
                             for sid, g in self.ghes.items()},
                    "poisoned_pages": len(self.poisoned), "pending_work": len(self.work),
                    "knobs": {**{f.name: getattr(self.knobs, f.name) for f in dataclasses.fields(self.knobs)},
                              "kernel": self.knobs.kernel.name},
                    "stats": dict(self.stats)}
