"""`fwemu record build|decode|check`: make, read and judge status blocks offline."""

from __future__ import annotations

import json
import sys

from .. import scenarios
from ..errors import EXIT_FAILED, EXIT_OK, UsageError
from ..records import check, convert, cper_record, decode, encode, kernel_profile
from ..records.model import block_from_json
from ..safe_io import write_output
from ._target import in_range


def register(sub, common) -> None:
    rec = sub.add_parser("record", parents=[common], help="build, decode and check CPER status blocks")
    rsub = rec.add_subparsers(dest="record_cmd", metavar="ACTION")

    b = rsub.add_parser("build", parents=[common], help="build a status block for a scenario")
    b.add_argument("kind", metavar="KIND", nargs="?",
                   help=f"one of: {', '.join(scenarios.SCENARIOS)} (optional with --from-json: "
                        "given, every section of the model must be of KIND's section kind)")
    b.add_argument("-o", "--output", metavar="FILE", help="write the binary block here ('-' = stdout)")
    b.add_argument("--from-json", metavar="FILE",
                   help="build from a JSON model: `record decode --json`'s whole output, or its `record`")
    scenarios.add_field_options(b)
    b.set_defaults(func=cmd_build)

    d = rsub.add_parser("decode", parents=[common], help="print a block as the Linux kernel would")
    d.add_argument("file", metavar="FILE", help="binary block, or '-' for stdin")
    d.add_argument("--hex", action="store_true", help="the input is hex text")
    d.add_argument("--source-id", type=int, default=0, help="source id for the header line, 0 .. 0xffff (default 0)")
    d.add_argument("--error-block-length", type=int, default=0,
                   help="the source's block length, 0 .. 0xffffffff (0 = unknown)")
    d.add_argument("--kernel", default=None, metavar="VERSION",
                   help=f"print as this kernel version reads the bytes: {', '.join(kernel_profile.names())} "
                        f"(default {kernel_profile.DEFAULT.name}; docs/kernel-profiles.md)")
    d.set_defaults(func=cmd_decode)

    c = rsub.add_parser("check", parents=[common], help="the kernel's verdict: exit 0 valid, 1 invalid")
    c.add_argument("file", metavar="FILE", help="binary block, or '-' for stdin")
    c.add_argument("--hex", action="store_true", help="the input is hex text")
    c.add_argument("--error-block-length", type=int, default=0,
                   help="the source's block length, 0 .. 0xffffffff (0 = unknown)")
    c.set_defaults(func=cmd_check)

    v = rsub.add_parser("convert", parents=[common], help="convert between a status block, a full CPER record and libcper JSON",
                        epilog="exit codes: 0 converted, 2 bad input or a field the target form cannot carry")
    v.add_argument("file", metavar="FILE", help="the input, or '-' for stdin")
    v.add_argument("--from", dest="src", choices=("auto",) + convert.FORMS, default="auto",
                   help="input form (default auto: \"CPER\" at 0 is a record, '{' JSON, else a block)")
    v.add_argument("--to", dest="dst", choices=convert.FORMS, required=True, help="output form")
    v.add_argument("--hex", action="store_true", help="a binary input is hex text")
    v.add_argument("-o", "--output", metavar="FILE",
                   help="write here ('-' = stdout); default: print (binary forms as hex text)")
    h = v.add_argument_group("record header fields a status block lacks (block -> cper|libcper-json)")
    h.add_argument("--record-id", metavar="N", help="record id, u64 (default 1)")
    h.add_argument("--notification", metavar="NAME|GUID",
                   help=f"notification type: {', '.join(cper_record.NOTIFY)} or a GUID "
                        "(default cmc for a corrected/informational block, else mce)")
    h.add_argument("--creator-id", metavar="GUID", help="creator id (default all zeros)")
    h.add_argument("--platform-id", metavar="GUID", help="platform id (default none: its bit clear)")
    h.add_argument("--partition-id", metavar="GUID", help="partition id (default none: its bit clear)")
    h.add_argument("--record-flags", metavar="N",
                   help="record flags, u32: 1 recovered, 2 previous boot, 4 simulated (default 0)")
    h.add_argument("--persistence", metavar="N", help="persistence information, u64 (default 0)")
    h.add_argument("--record-timestamp", choices=("entries", "none"),
                   help="entries (default): the entries' timestamp, with its bit; none: no timestamp")
    h.add_argument("--section-revision", metavar="N",
                   help="section descriptor revision, u16 (default 0x100)")
    v.add_argument("--entry-revision", metavar="N",
                   help="cper|libcper-json -> block: the entries' revision, u16 (default 0x300, "
                        "with a timestamp; below 0x300: the 64-byte entry header, none)")
    v.set_defaults(func=cmd_convert)
    rec.set_defaults(func=lambda args, out: (rec.print_help(sys.stderr), 2)[1])


MAX_INPUT = 1 << 20     # bytes of a block to decode or check (hex text: twice that and more)


def _read(path: str, as_hex: bool, limit: int | None = None) -> bytes:
    limit = limit or (MAX_INPUT * 4 if as_hex else MAX_INPUT)
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise UsageError("FILE", f"standard input holds more than {limit} bytes (the limit for a block)")
    else:
        data = scenarios.read_limited(path, "FILE", limit)
    return _unhex(data) if as_hex else data


def _unhex(data: bytes) -> bytes:
    try:
        return bytes.fromhex(data.decode("ascii", "replace").replace("\n", " "))
    except ValueError:
        raise UsageError("FILE", "--hex given but the input is not hex text") from None


def _hexdump(data: bytes) -> list[str]:
    return [f"{i:04x}  {data[i:i + 16].hex(' ')}" for i in range(0, len(data), 16)]


def _model_from_json(path: str):
    """The block of a JSON model: a block's `to_json()`, or the envelope `record decode
    --json` prints around it (its `record` member)."""
    text = scenarios.read_limited(path, "--from-json", MAX_INPUT * 8)
    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and "fwemu_version" in doc:     # decode --json's envelope
            if not isinstance(doc.get("record"), dict):
                raise UsageError("--from-json", f"{path} is fwemu output without a `record` "
                                 "(only `record decode --json` output holds one)")
            doc = doc["record"]
        return block_from_json(doc)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise UsageError("--from-json", f"{path} is not a record model: {exc}") from None


def _section_kind(scenario: str) -> str:
    if scenario not in scenarios.SCENARIOS:
        raise UsageError("KIND", f"unknown scenario {scenario!r} (one of: {', '.join(scenarios.SCENARIOS)})")
    if scenario == "raw":
        return "raw"
    return scenarios.build(scenario, {"timestamp": "none"}).entries[0].section.KIND


def _check_kind(scenario: str, block, path: str) -> None:
    """KIND with --from-json is a claim about the model: every section must be of its kind."""
    want = _section_kind(scenario)
    for i, entry in enumerate(block.entries):
        if entry.section.KIND != want:
            raise UsageError("KIND", f"{scenario} makes {want} sections, but entry {i} of {path} "
                             f"is a {entry.section.KIND} section (omit KIND to build any model)")


def cmd_build(args, out) -> int:
    if args.from_json:
        fields = scenarios.fields_from_args(args)
        if fields:
            raise UsageError(next(iter(fields)), "cannot be combined with --from-json")
        block = _model_from_json(args.from_json)
        if args.kind is not None:
            _check_kind(args.kind, block, args.from_json)
    elif args.kind is None:
        raise UsageError("KIND", "missing: name a scenario, or give --from-json FILE")
    else:
        block = scenarios.build(args.kind, scenarios.fields_from_args(args))
    raw = encode(block)
    verdict = check(raw)
    out.set(kind=args.kind, length=len(raw), hex=raw.hex(), verdict=verdict.to_json(), record=block.to_json())
    if args.output == "-":
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        return EXIT_OK
    if args.output:
        write_output(args.output, raw, "--output")
        out.line(f"wrote {len(raw)} bytes to {args.output} ({verdict.explain()})")
    else:
        for line in _hexdump(raw):
            out.line(line)
        out.line(f"{len(raw)} bytes, {verdict.explain()}")
    if block.forged:
        print("fwemu: warning: this record is deliberately invalid (fault injection)", file=sys.stderr)
    return EXIT_OK


def cmd_decode(args, out) -> int:
    from ..records.kernel_text import format_estatus

    in_range("--source-id", args.source_id, 0, 0xFFFF)
    in_range("--error-block-length", args.error_block_length, 0, 0xFFFF_FFFF)
    profile = kernel_profile.get(args.kernel)
    raw = _read(args.file, args.hex)
    verdict = check(raw, args.error_block_length)
    out.set(verdict=verdict.to_json(), kernel=profile.name)
    if not verdict.valid:
        out.line(f"kernel verdict: {verdict.explain()}")
    block = decode(raw, args.error_block_length)
    out.set(record=block.to_json())
    for line in format_estatus(block, args.source_id, profile=profile):
        out.line(line)
    return EXIT_OK if verdict.valid else EXIT_FAILED


def cmd_check(args, out) -> int:
    in_range("--error-block-length", args.error_block_length, 0, 0xFFFF_FFFF)
    raw = _read(args.file, args.hex)
    verdict = check(raw, args.error_block_length)
    out.set(verdict=verdict.to_json())
    out.line(verdict.explain() if verdict.valid else f"invalid: {verdict.explain()}")
    return EXIT_OK if verdict.valid else EXIT_FAILED


def _guid_opt(name: str, text: str | None):
    import uuid

    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise UsageError(name, f"{text!r} is not a GUID (AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE)") from None


HEADER_OPTS = ("record_id", "notification", "creator_id", "platform_id", "partition_id", "record_flags",
               "persistence", "record_timestamp", "section_revision")


def _header_options(args) -> cper_record.HeaderOptions:
    def num(name: str, text: str | None, default: int, maximum: int) -> int:
        return default if text is None else scenarios.parse_int(name, text, maximum)

    return cper_record.HeaderOptions(
        record_id=num("--record-id", args.record_id, 1, (1 << 64) - 1),
        creator_id=_guid_opt("--creator-id", args.creator_id) or cper_record.ZERO,
        platform_id=_guid_opt("--platform-id", args.platform_id),
        partition_id=_guid_opt("--partition-id", args.partition_id),
        notification=None if args.notification is None else cper_record.parse_notification(args.notification),
        flags=num("--record-flags", args.record_flags, 0, 0xFFFF_FFFF),
        persistence=num("--persistence", args.persistence, 0, (1 << 64) - 1),
        timestamp="none" if args.record_timestamp == "none" else None,
        section_revision=num("--section-revision", args.section_revision, 0x100, 0xFFFF))


def cmd_convert(args, out) -> int:
    opts = _header_options(args)
    entry_rev = 0x300 if args.entry_revision is None else \
        scenarios.parse_int("--entry-revision", args.entry_revision, 0xFFFF)
    data = _read(args.file, False, MAX_INPUT * 4)      # JSON text is larger than the bytes
    src = convert.detect(data) if args.src == "auto" else args.src
    if args.hex:
        if src == "libcper-json":
            raise UsageError("--hex", "the input is JSON text, not hex")
        data = _unhex(data)
        src = convert.detect(data) if args.src == "auto" else args.src
    # an option that does not apply to this conversion is an error, never ignored
    given = [n for n in HEADER_OPTS if getattr(args, n) is not None]
    if given and src != "block":
        raise UsageError("--" + given[0].replace("_", "-"), f"applies to a block input only; this {src} "
                         "input has its own record header")
    if args.entry_revision is not None and args.dst != "block":
        raise UsageError("--entry-revision", "applies to --to block only")
    if src != "libcper-json" and len(data) > MAX_INPUT:
        raise UsageError("FILE", f"holds more than {MAX_INPUT} bytes (the limit for a record)")
    result = convert.convert(data, src, args.dst, opts, entry_rev)
    out.set(source=src, to=args.dst, length=len(result))
    if args.output == "-":
        sys.stdout.buffer.write(result)
        sys.stdout.flush()
    elif args.output:
        write_output(args.output, result, "--output")
        out.line(f"wrote {src} -> {args.dst}, {len(result)} bytes to {args.output}")
    elif args.dst == "libcper-json":
        out.set(libcper_json=json.loads(result))
        for line in result.decode().splitlines():
            out.line(line)
    else:
        out.set(hex=result.hex())
        out.line(result.hex())
    return EXIT_OK
