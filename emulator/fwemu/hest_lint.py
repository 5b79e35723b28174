"""HEST lint: what Linux (arm64, shared/reference/linux-ghes-contract.md) does with each field.

    from fwemu.hest_lint import lint
    for f in lint(parse_hest(data)):          # a raw table: anything goes, duplicates too
        print(f.severity, f.rule, f.source_id, f.message, f.linux)
    lint(board)                               # the board's built table + block/route checks

Severity: "error" = Linux loses firmware-first handling of at least one source (or the
table breaks a rule every consumer checks); "warning" = Linux copes, but something is off
(clamped, ignored, unobservable); "info" = worth knowing. RULES lists every rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .board import SCENARIO_MIN_BLOCK_LENGTH, Board, Gas
from .hest import NOTIFY_LEN, GhesEntry, HestEntry, HestTable, build_hest, parse_hest

__all__ = ["Finding", "RULES", "SEVERITIES", "lint"]

SEVERITIES = ("error", "warning", "info")

# rule -> (severity, what it checks, what Linux does). Severity is the usual one: a rule
# that fires for a disabled source is reported as "info" (Linux never probes it).
RULES: dict[str, tuple[str, str, str]] = {
    "checksum": ("error", "the table's bytes do not sum to 0 mod 256",
                 'ACPICA prints "ACPI BIOS Warning (bug): Incorrect checksum in table [HEST]" '
                 "and uses the table anyway; firmware test suites and other OSes reject it"),
    "table-length": ("warning", "more bytes were given than the header's length says",
                     "reads the header's length only; the extra bytes are not part of the table"),
    "source-count": ("error", "error_source_count differs from the number of entries",
                     "hest.c walks exactly error_source_count entries: with fewer, the later "
                     "entries are never seen; with more, it walks past the last entry "
                     '("Table contents overflow" / "Unknown or unused hardware error source '
                     'type") and disables HEST parsing: no GHES at all'),
    "no-ghes": ("info", "the table has no GHES / GHESv2 entry",
                "registers no GHES device: no firmware-first error reporting"),
    "non-ghes": ("info", "an entry of another type (IA-32 MCE/CMC/NMI/deferred MC, PCIe AER)",
                 "sizes it and walks over it; on arm64 nothing uses it (IA-32 entries feed "
                 "x86 machine-check code; AER entries are ignored since 5.9, AER ownership "
                 "comes from _OSC); fwemu skips it"),
    "duplicate-source-id": ("error", "two enabled GHES / GHESv2 entries share a source id",
                            'hest_parse_ghes: "Duplicated hardware error source ID", -EIO; '
                            "hest_ghes_dev_register then unregisters every GHES: firmware-first "
                            "handling is off for all sources"),
    "duplicate-id-other": ("warning", "a source id shared with a disabled GHES or a non-GHES "
                           "entry", "does not notice (it compares enabled GHES entries only); "
                           "ACPI requires unique ids, so other consumers may not"),
    "source-disabled": ("warning", "enabled = 0",
                        "hest_parse_ghes skips it and ghes_probe returns -ENODEV: the source "
                        "is never read"),
    "notify-sei": ("error", "notification type 9 (SEI)",
                   'refused at probe: "[Firmware Warn]: GHES: Unknown notification type: 9 for '
                   'generic hardware error source: N"; no mainline kernel has an SEI handler'),
    "notify-local": ("error", "notification type 2 (local interrupt)",
                     'refused at probe: "Generic hardware error source: N notified via local '
                     'interrupt is not supported!"'),
    "notify-unsupported": ("error", "notification NMI (4), CMCI (5), MCE (6) or a reserved "
                           "type (12+)",
                           "refused at probe on arm64: NMI needs CONFIG_HAVE_ACPI_APEI_NMI "
                           "(x86 only); the others print \"Unknown notification type\""),
    "notify-hed": ("info", "notification SCI (3), GPIO (7) or GSIV (10)",
                   "adds the source to the HED list: it is read only when the ACPI HED device "
                   "(PNP0C33) gets a Notify, which the firmware must also raise"),
    "notify-length": ("warning", "the notification structure's length is not 28",
                      "ignores the field; other consumers may reject the entry"),
    "poll-interval-zero": ("error", "polled (0) with poll_interval 0",
                           '"Poll interval is 0 for generic hardware error source: N, '
                           'disabled.": the source is never polled'),
    "sdei-event-zero": ("error", "SDEI-notified (11) on event 0",
                        "sdei_register_ghes returns -EINVAL (event 0 is SDEI_EVENT_SIGNAL); "
                        "the probe fails"),
    "sdei-event-reused": ("error", "two enabled SDEI-notified sources on one event",
                          "sdei_event_register returns -EBUSY for the second: its probe fails "
                          "(one SDEI event per GHES)"),
    "block-length-small": ("error", "error_block_length < 20",
                           '"Invalid error block length: L for generic hardware error source: '
                           'N"; the probe fails'),
    "block-length-large": ("warning", "error_block_length > 65536",
                           '"Error status block length is too long: L for generic hardware '
                           'error source: N", clamped to 64 KiB; a longer record is refused'),
    "gas-address-zero": ("error", "a register GAS with address 0",
                         'apei_check_gar: "Invalid physical address in GAR"; the probe fails'),
    "gas-access-size": ("error", "a register GAS whose access size is not 1..4",
                        'apei_check_gar: "Invalid access size code in GAR"; the probe fails'),
    "gas-bit-width": ("error", "bit width + bit offset exceed the access width",
                      'apei_check_gar: "Invalid bit width + offset in GAR"; the probe fails'),
    "gas-space-id": ("error", "a register GAS outside SystemMemory (0) / SystemIO (1)",
                     'apei_check_gar: "Invalid address space type in GAR"; the probe fails'),
    "gas-space-io": ("warning", "a register GAS in SystemIO (1)",
                     "accepts it and uses port I/O (at most 32 bits per access, so a 64-bit "
                     "register fails to read); arm64 has no native port I/O and fwemu boards "
                     "need SystemMemory"),
    "gas-unaligned": ("warning", "a register not aligned to its access size",
                      "accepts it; where the register is mapped as device memory (the "
                      "EFI memory map decides), an unaligned access faults on arm64"),
    "esa-width": ("warning", "an Error Status Address register narrower than 64 bits",
                  "reads the access width from it as the block's physical address; the "
                  "register holds a 64-bit address (ACPI), so the block may be unreachable"),
    "read-ack-noop": ("warning", "Read Ack preserve keeps every bit and write sets none",
                      "does the read-modify-write, which leaves the register unchanged: "
                      "firmware can never see the record consumed"),
    "overlap": ("error", "blocks / ESA / Read Ack registers overlapping each other",
                "nothing checks it: a record posted for one source is read and cleared through "
                "another, or a record overwrites a register the OS reads"),
    "route-unknown": ("error", "a board route names no source", "n/a (fwemu board rule)"),
    "route-disabled": ("error", "a board route names a disabled source",
                       "never reads a disabled source: records posted there are lost"),
    "route-refused": ("error", "a board route names a source Linux refuses at probe",
                      "never reads it: records posted there are lost"),
    "route-block-small": ("error", "a routed scenario's record does not fit the block",
                          'refuses the record: "Invalid error status block length!", then '
                          "clears and acks it"),
}

REFUSED_NOTIFY = {2: "notify-local", 4: "notify-unsupported", 5: "notify-unsupported",
                  6: "notify-unsupported", 9: "notify-sei"}
_PER_SOURCE_PROBE = {"notify-sei", "notify-local", "notify-unsupported", "poll-interval-zero",
                     "sdei-event-zero", "block-length-small", "gas-address-zero",
                     "gas-access-size", "gas-bit-width", "gas-space-id", "notify-hed"}


@dataclass(frozen=True)
class Finding:
    severity: str
    rule: str
    source_id: int | None
    message: str
    linux: str
    offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "rule": self.rule, "source_id": self.source_id,
                "offset": self.offset, "message": self.message, "linux": self.linux}

    def __str__(self) -> str:
        src = f"source {self.source_id}" if self.source_id is not None else "table"
        at = f" @{self.offset:#x}" if self.offset is not None else ""
        return f"{self.severity}: {self.rule}: {src}{at}: {self.message} (Linux: {self.linux})"


class _Out(list[Finding]):
    def add(self, rule: str, entry: HestEntry | None, message: str, offset: int | None = None,
            severity: str | None = None) -> None:
        sev = severity or RULES[rule][0]
        sid = entry.source_id if entry is not None else None
        if entry is not None and entry.ghes is not None and not entry.ghes.enabled \
                and rule in _PER_SOURCE_PROBE:
            sev, message = "info", message + " (source disabled: not probed now)"
        if offset is None and entry is not None:
            offset = entry.offset
        self.append(Finding(sev, rule, sid, message, RULES[rule][2], offset))


def lint(obj: HestTable | bytes | Board, *, blocks: Mapping[int, int] | None = None,
         routes: Mapping[str, int] | None = None) -> list[Finding]:
    """Findings for a HestTable, HEST bytes, or a Board (its built table, plus the block
    overlap and route checks). `blocks`: source id -> status block address, where known
    (as board_from_hest takes them; the length is the entry's error_block_length);
    `routes`: scenario -> source id (a board's)."""
    if isinstance(obj, Board):
        if blocks is None:
            blocks = {s.id: s.block for s in obj.sources}
        if routes is None:
            routes = dict(obj.routes)
        table = parse_hest(build_hest(obj))
    else:
        table = obj if isinstance(obj, HestTable) else parse_hest(obj)
    out = _Out()
    _table_rules(table, out)
    ghes = [(e, e.ghes) for e in table.entries if e.ghes is not None]
    for e in table.entries:
        if e.ghes is None:
            out.add("non-ghes", e, f"{e.label}: skipped")
        else:
            _entry_rules(e, e.ghes, out)
    _duplicates(table, out)
    _sdei_reuse(ghes, out)
    _overlaps(table, dict(blocks or {}), out)
    if routes:
        _routes(ghes, routes, out)
    return list(out)


def _table_rules(t: HestTable, out: _Out) -> None:
    if not t.checksum_ok:
        out.add("checksum", None, f"checksum byte is {t.checksum:#04x}, should be "
                f"{t.expected_checksum:#04x}", offset=9)
    if t.data_size != t.length:
        out.add("table-length", None, f"{t.data_size} bytes given, the header's length is "
                f"{t.length}: {t.data_size - t.length} trailing bytes", offset=4)
    if t.error_source_count != len(t.entries):
        out.add("source-count", None, f"error_source_count is {t.error_source_count}, the "
                f"table holds {len(t.entries)} entries", offset=36)
    if not any(e.ghes for e in t.entries):
        out.add("no-ghes", None, "no GHES / GHESv2 entry", offset=36)


def _gas_rules(e: HestEntry, g: Gas, name: str, at: int, out: _Out) -> None:
    label = f"{e.label}.{name}"
    if g.address == 0:
        out.add("gas-address-zero", e, f"{label}: address is 0", e.offset + at + 4)
    if not 1 <= g.access_size <= 4:
        out.add("gas-access-size", e, f"{label}: access size {g.access_size} (1 byte .. "
                "4 qword)", e.offset + at + 3)
    elif g.bit_width + g.bit_offset > g.access_bits:
        out.add("gas-bit-width", e, f"{label}: bit width {g.bit_width} + offset "
                f"{g.bit_offset} > the {g.access_bits}-bit access", e.offset + at + 1)
    elif g.address and g.address % (g.access_bits // 8):
        out.add("gas-unaligned", e, f"{label}: {g.address:#x} is not aligned to its "
                f"{g.access_bits // 8}-byte access", e.offset + at + 4)
    if g.space_id == 1:
        out.add("gas-space-io", e, f"{label}: SystemIO", e.offset + at)
    elif g.space_id != 0:
        out.add("gas-space-id", e, f"{label}: address space {g.space_id}", e.offset + at)


def _entry_rules(e: HestEntry, g: GhesEntry, out: _Out) -> None:
    n = g.notify
    if not g.enabled:
        out.add("source-disabled", e, f"{e.label}: enabled = 0", e.offset + 7)
    if n.type in REFUSED_NOTIFY or n.type > 11:
        rule = REFUSED_NOTIFY.get(n.type, "notify-unsupported")
        out.add(rule, e, f"{e.label}: notification {n.name} ({n.type})", e.offset + 32)
    elif n.type in (3, 7, 10):
        out.add("notify-hed", e, f"{e.label}: notification {n.name} ({n.type})", e.offset + 32)
    if n.length != NOTIFY_LEN:
        out.add("notify-length", e, f"{e.label}: notification length {n.length}", e.offset + 33)
    if n.type == 0 and n.poll_interval == 0:
        out.add("poll-interval-zero", e, f"{e.label}: polled every 0 ms", e.offset + 36)
    if n.type == 11 and n.vector == 0:
        out.add("sdei-event-zero", e, f"{e.label}: SDEI event 0", e.offset + 40)
    if g.error_block_length < 20:
        out.add("block-length-small", e, f"{e.label}: error_block_length "
                f"{g.error_block_length}", e.offset + 60)
    elif g.error_block_length > 65536:
        out.add("block-length-large", e, f"{e.label}: error_block_length "
                f"{g.error_block_length} > 65536", e.offset + 60)
    _gas_rules(e, g.esa, "error_status_address", 20, out)
    if g.esa.bit_width != 64:
        out.add("esa-width", e, f"{e.label}.error_status_address: bit width "
                f"{g.esa.bit_width}", e.offset + 21)
    if g.read_ack is not None:
        _gas_rules(e, g.read_ack, "read_ack_register", 64, out)
        width = max(1, min(64, g.read_ack.bit_width))
        mask = (1 << width) - 1
        pres, wr = g.read_ack_preserve, g.read_ack_write      # parse_hest sets them with read_ack
        if pres is not None and wr is not None and pres & mask == mask and wr & mask == 0:
            out.add("read-ack-noop", e, f"{e.label}: preserve {g.read_ack_preserve:#x}, write "
                    f"{g.read_ack_write:#x} on a {width}-bit register", e.offset + 76)


def _duplicates(t: HestTable, out: _Out) -> None:
    first: dict[int, HestEntry] = {}
    first_any: dict[int, HestEntry] = {}
    for e in t.entries:
        live = e.ghes is not None and e.ghes.enabled
        if live and e.source_id in first:
            out.add("duplicate-source-id", e, f"{e.label}: source id {e.source_id} is also "
                    f"{first[e.source_id].label} at {first[e.source_id].offset:#x}", e.offset + 2)
        elif e.source_id in first_any:
            o = first_any[e.source_id]
            out.add("duplicate-id-other", e, f"{e.label}: source id {e.source_id} is also "
                    f"{o.label} at {o.offset:#x}", e.offset + 2)
        if live:
            first.setdefault(e.source_id, e)
        first_any.setdefault(e.source_id, e)


def _sdei_reuse(ghes: list[tuple[HestEntry, GhesEntry]], out: _Out) -> None:
    users: dict[int, HestEntry] = {}
    for e, g in ghes:
        n = g.notify
        if n.type != 11 or not n.vector or not g.enabled:
            continue
        if n.vector in users:
            out.add("sdei-event-reused", e, f"{e.label}: SDEI event {n.vector} is already "
                    f"{users[n.vector].label}'s", e.offset + 40)
        else:
            users[n.vector] = e


def _overlaps(t: HestTable, blocks: dict[int, int], out: _Out) -> None:
    regions: list[tuple[HestEntry, str, int, int]] = []
    for e in t.entries:
        if e.ghes is None:
            continue
        g = e.ghes
        for name, gas in (("error_status_address", g.esa), ("read_ack_register", g.read_ack)):
            if gas is not None and gas.address and gas.space_id == 0:
                regions.append((e, name, gas.address, max(gas.access_bits // 8, 1)))
        if blocks.get(e.source_id):
            length = min(max(g.error_block_length, 1), 65536)   # Linux clamps to 64 KiB
            regions.append((e, "block", blocks[e.source_id], length))
    for j, (e, name, start, n) in enumerate(regions):
        for oe, oname, ostart, on in regions[:j]:
            if start < ostart + on and ostart < start + n:
                out.add("overlap", e, f"{e.label}.{name} ({start:#x} .. {start + n - 1:#x}) "
                        f"overlaps {oe.label}.{oname} ({ostart:#x} .. {ostart + on - 1:#x})")


def _routes(ghes: list[tuple[HestEntry, GhesEntry]], routes: Mapping[str, int], out: _Out) -> None:
    by_id: dict[int, tuple[HestEntry, GhesEntry]] = {}
    for e, g in ghes:
        by_id.setdefault(e.source_id, (e, g))
    for scenario, sid in routes.items():
        found = by_id.get(sid)
        if found is None:
            out.append(Finding("error", "route-unknown", sid, f"routes.{scenario}: no GHES "
                               f"source {sid}", RULES["route-unknown"][2]))
            continue
        e, g = found
        need = SCENARIO_MIN_BLOCK_LENGTH.get(scenario)
        if not g.enabled:
            out.add("route-disabled", e, f"routes.{scenario}: {e.label} is disabled")
        if g.notify.type in REFUSED_NOTIFY or g.notify.type > 11:
            out.add("route-refused", e, f"routes.{scenario}: {e.label} is notified by "
                    f"{g.notify.name}")
        if need is not None and g.error_block_length < need:
            out.add("route-block-small", e, f"routes.{scenario}: a {scenario} record needs "
                    f"{need} bytes, {e.label} has error_block_length "
                    f"{g.error_block_length}", e.offset + 60)
