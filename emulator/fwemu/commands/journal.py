"""`fwemu journal list|show|summary|export`: read a board's journal (fwemu.journal_read)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

from ..errors import EXIT_OK, EXIT_USAGE, UsageError
from ..request import field_flag
from ..journal_read import (OPEN, STATES, Filter, Injection, JournalReader, OsLog, Run, duration_text,
                            local_time, split_key)

EXAMPLES = """\
examples:
  fwemu journal list                              the runs on the default board's journal
  fwemu journal list --since 2h --state refused   runs of the last 2 hours with a refusal
  fwemu journal show last                         the newest run: its injections and the OS log
  fwemu journal show 20261202T0545 --notify sdei  a run by a unique prefix, its SDEI injections
  fwemu journal show :17                          injection 17: its lines, times, the record
                                                  decoded in the kernel's words, its OS log
  fwemu journal show last:17                      the same, in the newest run
  fwemu journal summary --since 2026-12-02        counts by state x notification x scenario,
                                                  latency percentiles, refusal reasons
  fwemu journal export --csv -o inj.csv last      one CSV row per injection of the newest run
  fwemu journal list --journal /tmp/x.jsonl --json

RUN is a run id, any unique prefix of one, or `last` (the newest run); RUN:ID names one
injection, and :ID the one run that has that id (a format-3 journal gives every injection
an id no other run on it has; in older journals each run counted from 1). Filters
(repeatable, or comma lists):
--run, --state (consumed, dropped, refused, timed-out, interrupted, open), --notify,
--scenario, --source, --since/--until (an ISO time, local unless it has an offset, or a
time ago: 90s, 10m, 2h, 1d, 1w; compared with when an injection was accepted).

The journal: --journal FILE, else the board's (--board, $FWEMU_BOARD, else sim):
${XDG_STATE_HOME:-~/.local/state}/fwemu/journal-BOARD.jsonl.

exit codes: 0 success (also when nothing matches); 2 usage error: a bad option or filter,
  a missing or unreadable journal, an unknown run or injection, a damaged line (its
  number is given; a torn last line of a killed run is skipped with a warning instead).
"""

REPLAY_EXAMPLES = """\
examples:
  fwemu journal replay last                       the newest run's injections, again, same board
  fwemu journal replay last:17 --to qemu-virt     one injection's record on a real kernel
  fwemu journal replay last --state timed-out --rebuild --to sim-agent
  fwemu journal replay 20261202T0545 --notify sdei --route --journal lab.jsonl --into replay.jsonl

exit codes: as `fwemu inject`'s, the worst replay's: 0 every one consumed; 2 usage error
  (a selection with nothing journalled to replay names it); 3 timed out; 4 refused;
  5 target or daemon unreachable; 6 consumed and the OS down after.
"""

CSV_COLUMNS = ("run", "id", "scenario", "source", "notify", "pe", "state", "reason", "accepted",
               "accepted_local", "posted", "notified", "consumed", "latency_ms", "block", "length",
               "digest", "fields", "late", "resolved_by")


def add_journal_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--journal", metavar="FILE", default=argparse.SUPPRESS,
                   help="the journal to read (default: the board's, "
                        "~/.local/state/fwemu/journal-BOARD.jsonl, under $XDG_STATE_HOME if set)")


def add_filter_options(p: argparse.ArgumentParser, runs: bool = True) -> None:
    g = p.add_argument_group("filters (repeatable; each also takes a comma list)")
    if runs:
        g.add_argument("--run", action="append", metavar="RUN", dest="runs_opt",
                       help="a run: its id, a unique prefix, or 'last'")
    g.add_argument("--state", action="append", metavar="STATE", help=", ".join(STATES))
    g.add_argument("--notify", action="append", metavar="KIND", help="sea, sei, sdei, gsiv, polled, external, …")
    g.add_argument("--scenario", action="append", metavar="NAME", help="memory-ue, pcie-ue, …")
    g.add_argument("--source", action="append", metavar="ID", help="error source id")
    g.add_argument("--since", metavar="TIME", help="accepted at or after: ISO time, or a time ago (10m, 2h, 1d)")
    g.add_argument("--until", metavar="TIME", help="accepted at or before: ISO time, or a time ago")


def register(sub, common) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("journal", parents=[common], help="read the journal: runs, injections, summaries, CSV",
                       description="Read a board's injection journal: list its runs, show a run or "
                                   "one injection, summarise, export CSV.",
                       epilog=EXAMPLES, formatter_class=fmt)
    add_journal_option(p)
    jsub = p.add_subparsers(dest="journal_cmd", metavar="ACTION")

    ls = jsub.add_parser("list", parents=[common], help="one row per run",
                         description="One row per run: id, board, start (local time), duration, "
                                     "injections by state, and how it ended (ended, cut short, "
                                     "resolved by a later run, running).",
                         epilog=EXAMPLES, formatter_class=fmt)
    add_journal_option(ls)
    add_filter_options(ls)
    ls.set_defaults(func=cmd_list)

    sh = jsub.add_parser("show", parents=[common], help="a run's injections and OS log, or one injection",
                         description="RUN: its injections (one line each, as filtered) and the OS log "
                                     "lines of their requests. RUN:ID: everything about one injection: "
                                     "its journal lines, fields, timings, the record decoded in the "
                                     "Linux kernel's wording, and the OS log of its request.",
                         epilog=EXAMPLES, formatter_class=fmt)
    sh.add_argument("what", metavar="RUN|RUN:ID|:ID")
    add_journal_option(sh)
    add_filter_options(sh, runs=False)
    sh.add_argument("--kernel", metavar="VERSION", default=None,
                    help="RUN:ID: print the record as this kernel version reads it (6.1, 6.14, mainline; "
                         "default: the run's sim OS kernel when journalled, else 6.1)")
    sh.add_argument("--no-os-log", action="store_true", help="leave out the OS log lines")
    sh.set_defaults(func=cmd_show)

    sm = jsub.add_parser("summary", parents=[common], help="counts, latency percentiles, reasons",
                         description="Counts by state x notification x scenario, latency p50/p90/p99/max "
                                     "per notification, and every reason an injection was not consumed, "
                                     "with how many and the first and last (RUN:ID).",
                         epilog=EXAMPLES, formatter_class=fmt)
    sm.add_argument("runs", nargs="*", metavar="RUN", help="runs to summarise (default: all)")
    add_journal_option(sm)
    add_filter_options(sm)
    sm.set_defaults(func=cmd_summary)

    ex = jsub.add_parser("export", parents=[common], help="one CSV row per injection",
                         description="One CSV row per selected injection: " + ", ".join(CSV_COLUMNS) +
                                     " (--record adds the status block's bytes, hex). Times are epoch "
                                     "seconds; accepted_local is local time; fields is JSON.",
                         epilog=EXAMPLES, formatter_class=fmt)
    ex.add_argument("runs", nargs="*", metavar="RUN", help="runs to export (default: all)")
    ex.add_argument("--csv", action="store_true", required=True, help="CSV (the one format)")
    ex.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    ex.add_argument("--record", action="store_true", help="add a record column: the block's bytes, hex")
    add_journal_option(ex)
    add_filter_options(ex)
    ex.set_defaults(func=cmd_export)

    from . import _replay
    rp = jsub.add_parser("replay", parents=[common], help="post journalled injections again, on any board",
                         description="Post the selected injections again (those with a final line, by run "
                                     "and id): the journalled status block byte for byte, or --rebuild "
                                     "from its fields with a fresh timestamp; on the journal's board or "
                                     "--to another, to the same notification kind's source (--same-source, "
                                     "--route); the original PE. What each replay ended as is printed "
                                     "beside the original and journalled in the target's journal.",
                         epilog=REPLAY_EXAMPLES, formatter_class=fmt)
    _replay.add_arguments(rp)
    add_journal_option(rp)
    add_filter_options(rp)
    rp.set_defaults(func=cmd_replay)

    p.set_defaults(func=lambda args, out: (p.print_help(sys.stderr), EXIT_USAGE)[1])


# ---- shared --------------------------------------------------------------------------

# text from the journal (an OS console's lines, reasons) is shown with control characters
# escaped: a guest's console must not drive the user's terminal
_CONTROL = {c: repr(chr(c))[1:-1] for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)}


def _say(out, text: str = "") -> None:
    out.line(text.translate(_CONTROL))


def journal_path(args) -> str:
    """--journal, else the board's default journal."""
    path = getattr(args, "journal", None)
    if path is not None:
        if path == "" or path == "none":
            raise UsageError("--journal", f"{path!r} names no journal to read")
        return str(path)
    from ..board import load_board
    from ..journal import default_path
    return str(default_path(load_board(args.board).name))


def open_reader(args) -> JournalReader:
    path = journal_path(args)
    return JournalReader(path, "--journal" if getattr(args, "journal", None) is not None else "journal")


def make_filter(reader: JournalReader, args, runs: list[str] | None = None) -> Filter:
    sel = list(getattr(args, "runs_opt", None) or []) + list(runs or [])
    return reader.filter(runs=sel, states=args.state, notify=args.notify, scenarios=args.scenario,
                         sources=args.source, since=args.since, until=args.until)


def warn(reader: JournalReader, out, already: int = 0) -> None:
    for w in reader.warnings[already:]:
        print(f"fwemu: warning: {w}", file=sys.stderr)
    if reader.warnings:
        out.set(warnings=list(reader.warnings))


def states_text(states: dict[str, int]) -> str:
    order = {s: i for i, s in enumerate(STATES)}
    parts = [f"{v} {k}" for k, v in sorted(states.items(), key=lambda kv: order.get(kv[0], 99)) if v]
    return ", ".join(parts) or "none"


def how_text(inj: Injection) -> str:
    if inj.notify is None:
        return f"source {inj.source}" if inj.source is not None else "source ?"
    if inj.notify == "polled":
        return f"source {inj.source} (polled)"
    return f"source {inj.source} ({inj.notify.upper()} on PE {inj.pe})"


def outcome_text(inj: Injection) -> str:
    if inj.state == "consumed":
        s = f"consumed {inj.latency_ms:.3f} ms" if inj.latency_ms is not None else "consumed, latency unknown"
        if inj.reason:
            s += f" ({inj.reason})"
        return s
    if inj.state == OPEN:
        return "open: accepted, no final line in the journal"
    return f"{inj.state}: {inj.reason or 'no reason given'}"


def fields_text(fields: dict[str, str]) -> str:
    return " ".join(f"{field_flag(k)} {v}" for k, v in fields.items())    # as `fwemu inject` takes them


def injection_line(inj: Injection) -> str:
    f = f"  [{fields_text(inj.fields)}]" if inj.fields else ""
    late = "".join(f"; then {late_text(e)}" for e in inj.late)
    return f"#{inj.id} {inj.scenario or '?'} -> {how_text(inj)}: {outcome_text(inj)}{late}{f}"


def late_text(ev: dict[str, Any]) -> str:
    if ev.get("event") == "consumed-late":
        after = ev.get("after_ms")
        return "consumed late" + (f", {after} ms after the notification" if after is not None else "") + \
            f" (line {ev.get('line')})"
    why = f": {ev['reason']}" if ev.get("reason") else ""
    return f"resolved: found {ev.get('found')}{why} (line {ev.get('line')})"


# ---- list -----------------------------------------------------------------------------

def cmd_list(args, out) -> int:
    reader = open_reader(args)
    flt = make_filter(reader, args)
    scan = reader.scan(flt)
    runs = scan.selected_runs(flt)
    out.set(journal=reader.path, lines=scan.lines, runs=[r.to_json() for r in runs], filter=flt.to_json())
    warn(reader, out)
    if not runs:
        _say(out, f"no run{' matches' if flt != Filter() else ''} in {reader.path} ({scan.lines} lines)")
        return EXIT_OK
    rows = [(r.run, r.board or "-", local_time(r.started) or "?", duration_text(r.duration),
             states_text(r.states) + (f", {r.open} open" if r.open and r.end != "running" else ""),
             r.end_text()) for r in runs]
    head = ("RUN", "BOARD", "STARTED", "DURATION", "INJECTIONS", "END")
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    _say(out, fmt.format(*head))
    for row in rows:
        _say(out, fmt.format(*row))
    total = sum(r.finals + r.open for r in runs)
    shown = f"; {sum(r.matched for r in runs)} match the filters" if flt.by_injection or flt.since or flt.until else ""
    _say(out, f"{len(runs)} run{'s' if len(runs) != 1 else ''}, {total} injection{'s' if total != 1 else ''}"
             f"{shown}; journal {reader.path}")
    return EXIT_OK


# ---- show -----------------------------------------------------------------------------

OS_LINES_SHOWN = 200    # per request, on the terminal (all of them with --json)


def cmd_show(args, out) -> int:
    reader = open_reader(args)
    sel, iid = split_key(args.what)
    what = "RUN:ID" if iid is not None else "RUN"
    if iid is not None and sel == "":
        holders = reader.runs_with_id(iid)
        if not holders:
            raise UsageError("RUN:ID", f"no run in {reader.path} has injection #{iid}")
        if len(holders) > 1:
            more = f", … ({len(holders)} in all)" if len(holders) > 5 else ""
            raise UsageError("RUN:ID", f"{len(holders)} runs have an injection #{iid} (ids of journals before "
                                       f"format 3 restart in each run): {', '.join(holders[:5])}{more}; "
                                       "give RUN:ID")
        sel = holders[0]
    run = reader.resolve_run(sel, what)
    if iid is not None:
        if args.state or args.notify or args.scenario or args.source or args.since or args.until:
            raise UsageError("RUN:ID", "names one injection: filters apply to `show RUN`")
        return _show_injection(reader, run, iid, args, out)
    if args.kernel is not None:
        raise UsageError("--kernel", "applies to one injection (show RUN:ID)")
    flt = make_filter(reader, args, [run])
    meta: Run | None = None
    injs: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for item in reader.stream(flt):
        if isinstance(item, Run):
            meta = item
            _say(out, _run_head(item))
        elif isinstance(item, Injection):
            counts[item.state] = counts.get(item.state, 0) + 1
            if out.as_json:
                injs.append(item.to_json())
            _say(out, "  " + injection_line(item))
        elif isinstance(item, OsLog) and not args.no_os_log:
            if out.as_json:
                logs.append(item.to_json())
            for line in _os_log_lines(item):
                _say(out, "  " + line)
    n = sum(counts.values())
    if meta is None:
        meta = Run(run)
        _say(out, f"run {run} (its run line is not in this journal)")
    out.set(journal=reader.path, run=meta.to_json(), injections=injs, os_log=logs, filter=flt.to_json())
    filtered = " matching the filters" if flt.by_injection or flt.since or flt.until else ""
    _say(out, f"{n} injection{'s' if n != 1 else ''}{filtered} ({states_text(counts)}); run {_run_tail(meta)}")
    warn(reader, out)
    return EXIT_OK


def _run_head(r: Run) -> str:
    bits = [f"board {r.board}" + (f" ({r.target})" if r.target and r.target != r.board else "")]
    if r.pid is not None:
        bits.append(f"pid {r.pid}")
    bits.append(f"started {local_time(r.started) or '?'}")
    if r.format is not None:
        bits.append(f"format {r.format}")
    if r.unsafe_concurrent_sei:
        bits.append("--unsafe-concurrent-sei")
    return f"run {r.run}: " + ", ".join(bits)


def _run_tail(r: Run) -> str:
    d = duration_text(r.duration)
    if r.end == "ended":
        return f"ended after {d}: {states_text(r.states)}"
    if r.end == "running":
        return f"{r.end_text()}, {d} so far: {states_text(r.states)}"
    return f"{r.end_text()} after {d}: {states_text(r.states)}"


def _os_log_lines(log: OsLog) -> list[str]:
    ids = "" if log.first_id is None else (f" #{log.first_id}" if log.first_id == log.last_id
                                           else f" #{log.first_id}..#{log.last_id}")
    kept = f", the last {len(log.lines)} journalled" if log.count > len(log.lines) else ""
    head = f"OS log of request{ids} ({log.count} line{'s' if log.count != 1 else ''}{kept}):"
    lines = [head]
    body = log.lines
    if len(body) > OS_LINES_SHOWN:
        lines.append(f"   ... {len(body) - OS_LINES_SHOWN} earlier lines (all of them: --json)")
        body = body[-OS_LINES_SHOWN:]
    lines += [f"   {x}" for x in body]
    if log.os.get("panic") or log.os.get("up") is False:
        lines.append(f"   OS down after it: {log.os.get('panic') or log.os.get('down') or 'no reason given'}")
    return lines


def _show_injection(reader: JournalReader, run: str, iid: int, args, out) -> int:
    from ..errors import FwemuError
    from ..records import check, decode, kernel_profile
    from ..records.kernel_text import format_estatus

    inj, lines, log, meta = reader.injection(run, iid)
    kernel = args.kernel
    if kernel is None and log is not None:
        knobs = log.os.get("knobs")
        if isinstance(knobs, dict) and isinstance(knobs.get("kernel"), str):
            kernel = knobs["kernel"]
    try:
        profile = kernel_profile.get(kernel)
    except UsageError:
        if args.kernel is not None:
            raise
        profile = kernel_profile.DEFAULT
    _say(out, f"injection {inj.key}")
    _say(out, f"  {inj.scenario or '?'} -> {how_text(inj)}" +
             (f", block {inj.block:#x}" if isinstance(inj.block, int) else "") +
             (f", {inj.length} bytes" if inj.length is not None else "") +
             (f", digest {inj.digest}" if inj.digest else ""))
    _say(out, f"  state: {inj.state}" + (f" (written by run {inj.resolved_by} after a restart)" if inj.resolved_by else ""))
    if inj.reason:
        _say(out, f"  reason: {inj.reason}")
    if inj.left_in_memory:
        _say(out, "  left in memory: " + ", ".join(f"{k} {v:#x}" if isinstance(v, int) else f"{k} {v}"
                                                  for k, v in inj.left_in_memory.items()))
    for w in inj.warnings:
        _say(out, f"  warning: {w}")
    if inj.forged:
        _say(out, "  forged: a record posted verbatim (raw FILE), not checked to be valid")
    _say(out, "  fields: " + (fields_text(inj.fields) if inj.fields else "none (the scenario's defaults)"))
    _say(out, "  times:")
    for line in _timings(inj):
        _say(out, "    " + line)
    for ev in inj.late:
        _say(out, f"  then: {late_text(ev)}")
    _say(out, "  journal lines:")
    shown_lines = []
    for n, ev in lines:
        shown = dict(ev)
        if isinstance(shown.get("record"), str):
            shown["record"] = f"<{len(shown['record']) // 2} bytes, decoded below>"
        shown_lines.append({"line": n, "event": ev})
        _say(out, f"    {n}: {json.dumps(shown, separators=(',', ':'))}")
    decoded: dict[str, Any] | None = None
    if inj.record is None:
        why = ("its final line was written by a later run after a restart, from the accepted line "
               "(which has the digest, not the bytes)" if inj.resolved_by else
               "it has no final line" if not inj.final else "a format-1 line (before records were journalled)")
        _say(out, f"  record: not in the journal: {why}")
    else:
        verdict = check(inj.record)
        decoded = {"kernel": profile.name, "verdict": verdict.to_json(), "lines": []}
        _say(out, f"  record ({len(inj.record)} bytes), as Linux {profile.name} prints it:")
        if not verdict.valid:
            _say(out, f"    kernel verdict: {verdict.explain()}")
        try:
            block = decode(inj.record)
            text = format_estatus(block, inj.source if isinstance(inj.source, int) else 0, profile=profile)
            decoded["lines"] = text
            decoded["record"] = block.to_json()
            for t in text:
                _say(out, f"    {t}")
        except FwemuError as exc:
            decoded["error"] = str(exc)
            _say(out, f"    does not decode: {exc}")
    out.set(journal=reader.path, injection=inj.to_json(), lines=shown_lines, decoded=decoded,
            os_log=log.to_json() if log is not None else None, run=meta.to_json() if meta else None)
    if log is not None and not args.no_os_log:
        for line in _os_log_lines(log):
            _say(out, "  " + line)
    if meta is not None:
        _say(out, f"  run {meta.run}: board {meta.board}, started {local_time(meta.started) or '?'}, {_run_tail(meta)}")
    warn(reader, out)
    return EXIT_OK


def _timings(inj: Injection) -> list[str]:
    t0 = inj.accepted
    out = [f"accepted  {local_time(t0, ms=True) or '?'}" + (f" ({t0:.6f})" if t0 is not None else "")]

    def rel(name: str, t: float | None) -> None:
        if t is not None and t0 is not None:
            out.append(f"{name:<9} +{(t - t0) * 1000:.3f} ms")
        else:
            out.append(f"{name:<9} -")
    rel("posted", inj.posted)
    rel("notified", inj.notified)
    rel("consumed", inj.consumed)
    if inj.m_end is not None and inj.m_accepted is not None:
        out.append(f"{'ended':<9} +{(inj.m_end - inj.m_accepted) * 1000:.3f} ms")
    if inj.latency_ms is not None:
        out.append(f"latency   {inj.latency_ms:.4f} ms (notification to consumption)")
    return out


# ---- summary ----------------------------------------------------------------------------

def cmd_summary(args, out) -> int:
    reader = open_reader(args)
    flt = make_filter(reader, args, args.runs)
    scan = reader.scan(flt)
    s = scan.summary
    runs = scan.selected_runs(flt)
    out.set(journal=reader.path, lines=scan.lines, filter=flt.to_json(), summary=s.to_json(),
            runs=[{"run": r.to_json()["run"], "board": r.board, "started": r.started, "end": r.end,
                   "matched": r.matched} for r in runs])
    warn(reader, out)
    _say(out, f"{s.count} injection{'s' if s.count != 1 else ''} in {len(runs)} run{'s' if len(runs) != 1 else ''}"
             f" ({states_text(dict(s.states))}); journal {reader.path}")
    if s.first is not None and s.last is not None:
        _say(out, f"accepted from {local_time(s.first)} to {local_time(s.last)}")
    if not s.count:
        return EXIT_OK
    _say(out, "")
    rows: list[tuple[str, ...]] = [(st, nt, sc, str(v)) for (st, nt, sc), v in sorted(s.cells.items(), key=lambda kv: (
        STATES.index(kv[0][0]) if kv[0][0] in STATES else 99, kv[0][1], kv[0][2]))]
    _table(out, ("STATE", "NOTIFY", "SCENARIO", "COUNT"), rows, right=(3,))
    if s.latency:
        _say(out, "")
        rows = []
        for k, lat in sorted(s.latency.items()):
            p = lat.percentiles()
            rows.append((k, str(lat.n), *(_ms(p[q]) for q in ("p50", "p90", "p99")), _ms(lat.max)))
        _table(out, ("LATENCY (ms)", "N", "P50", "P90", "P99", "MAX"), rows, right=(1, 2, 3, 4, 5))
        if any(lat.sampled for lat in s.latency.values()):
            _say(out, f"(percentiles from a uniform sample of {s.latency[next(iter(s.latency))].SAMPLES:,} "
                     "per notification; counts and max exact)")
    reasons = s.reason_rows()
    if reasons:
        _say(out, "")
        _say(out, "not consumed, by reason:")
        for r in reasons:
            ids = r["first"] if r["count"] == 1 else f"{r['first']} .. {r['last']}"
            _say(out, f"  {r['count']} {r['state']} ({ids}): {r['reason']}")
    if s.consumed_late or s.resolved:
        _say(out, "")
        if s.consumed_late:
            _say(out, f"consumed late (after their timeout): {s.consumed_late}")
        for found, n in sorted(s.resolved.items()):
            _say(out, f"resolved later, found {found}: {n}")
    return EXIT_OK


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _table(out, head: tuple[str, ...], rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
    _say(out, fmt(head))
    for r in rows:
        _say(out, fmt(r))


# ---- export -----------------------------------------------------------------------------

def csv_row(inj: Injection, record: bool) -> list[Any]:
    def v(x: Any) -> Any:
        return "" if x is None else x
    late = "; ".join(late_text(e) for e in inj.late)
    row = [v(inj.run if inj.run is not None else ""), inj.id, v(inj.scenario), v(inj.source), v(inj.notify),
           v(inj.pe), inj.state, v(inj.reason), v(inj.accepted), v(local_time(inj.accepted, ms=True)),
           v(inj.posted), v(inj.notified), v(inj.consumed), v(inj.latency_ms),
           f"{inj.block:#x}" if isinstance(inj.block, int) else "", v(inj.length), v(inj.digest),
           json.dumps(inj.fields, separators=(",", ":")) if inj.fields else "", late, v(inj.resolved_by)]
    if record:
        row.append(inj.record.hex() if inj.record is not None else "")
    return row


def cmd_export(args, out) -> int:
    from ..safe_io import open_output

    reader = open_reader(args)
    flt = make_filter(reader, args, args.runs)
    if out.as_json and not args.output:
        raise UsageError("--json", "export --json needs -o FILE (standard output carries the JSON object)")
    fd = None
    if args.output and args.output != "-":
        fd = open_output(args.output, "--output")
        stream: Any = io.TextIOWrapper(open(fd, "wb", closefd=True), encoding="utf-8", newline="")
    else:
        stream = sys.stdout
    n = 0
    counts: dict[str, int] = {}
    failed: OSError | None = None
    try:
        w = csv.writer(stream, lineterminator="\n")
        w.writerow([*CSV_COLUMNS, *(("record",) if args.record else ())])
        for inj in reader.injections(flt):
            w.writerow(csv_row(inj, args.record))
            n += 1
            counts[inj.state] = counts.get(inj.state, 0) + 1
        stream.flush()
    except OSError as exc:
        failed = exc
    finally:
        if fd is not None:
            try:
                stream.close()
            except OSError as exc:
                failed = failed or exc
    if failed is not None:
        if isinstance(failed, BrokenPipeError) and fd is None:
            raise failed            # `| head`: cli's quiet exit
        raise UsageError("--output", f"cannot write {args.output or 'standard output'}: "
                                     f"{failed.strerror or failed}")
    out.set(journal=reader.path, output=args.output, rows=n, states=counts, filter=flt.to_json(),
            columns=[*CSV_COLUMNS, *(("record",) if args.record else ())])
    warn(reader, out)
    if fd is not None:
        _say(out, f"wrote {n} row{'s' if n != 1 else ''} ({states_text(counts)}) to {args.output}")
    return EXIT_OK


def cmd_replay(args, out) -> int:
    from . import _replay

    reader = open_reader(args)
    runs, ids = _replay.selection(reader, args.runs)
    flt = make_filter(reader, args, runs)
    rc = _replay.run(args, out, reader, flt, ids)
    warn(reader, out)
    return rc
