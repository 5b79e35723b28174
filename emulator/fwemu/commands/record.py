"""`fwemu record build|decode|check`: make, read and judge status blocks offline."""

from __future__ import annotations

import json
import sys

from .. import scenarios
from ..errors import EXIT_FAILED, EXIT_OK, UsageError
from ..records import check, decode, encode, kernel_profile
from ..records.model import block_from_json
from ..safe_io import write_output
from ._target import in_range


def register(sub, common) -> None:
    rec = sub.add_parser("record", parents=[common], help="build, decode and check CPER status blocks")
    rsub = rec.add_subparsers(dest="record_cmd", metavar="ACTION")

    b = rsub.add_parser("build", parents=[common], help="build a status block for a scenario")
    b.add_argument("kind", metavar="KIND", help=f"one of: {', '.join(scenarios.SCENARIOS)}")
    b.add_argument("-o", "--output", metavar="FILE", help="write the binary block here ('-' = stdout)")
    b.add_argument("--from-json", metavar="FILE", help="build from a JSON model (as printed by decode --json)")
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
    rec.set_defaults(func=lambda args, out: (rec.print_help(sys.stderr), 2)[1])


MAX_INPUT = 1 << 20     # bytes of a block to decode or check (hex text: twice that and more)


def _read(path: str, as_hex: bool) -> bytes:
    limit = MAX_INPUT * 4 if as_hex else MAX_INPUT
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise UsageError("FILE", f"standard input holds more than {limit} bytes (the limit for a block)")
    else:
        data = scenarios.read_limited(path, "FILE", limit)
    if as_hex:
        try:
            data = bytes.fromhex(data.decode("ascii", "replace").replace("\n", " "))
        except ValueError:
            raise UsageError("FILE", "--hex given but the input is not hex text") from None
    return data


def _hexdump(data: bytes) -> list[str]:
    return [f"{i:04x}  {data[i:i + 16].hex(' ')}" for i in range(0, len(data), 16)]


def cmd_build(args, out) -> int:
    if args.from_json:
        fields = scenarios.fields_from_args(args)
        if fields:
            raise UsageError(next(iter(fields)), "cannot be combined with --from-json")
        text = scenarios.read_limited(args.from_json, "--from-json", MAX_INPUT * 8)
        try:
            block = block_from_json(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise UsageError("--from-json", f"{args.from_json} is not a record model: {exc}") from None
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
