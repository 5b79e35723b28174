"""An HTML report of a journal's runs: one self-contained file (inline CSS, plots as inline
PNG images, no script, nothing fetched), built from one streaming pass (journal_read.scan),
so a journal of any size gives a report in bounded memory.

Sections: the selection and its totals; run metadata; outcomes by scenario and by
notification (table and stacked bars); latency percentiles and a histogram per
notification kind; injections over time (by state); every reason an injection was not
consumed (refused, timed out, dropped, interrupted), with counts; late answers; the OS's
reactions counted from the journalled OS log lines (memory_failure outcomes, SIGBUS, AER,
panics, hardware error records by source). Every text taken from the journal is escaped.

matplotlib (the `report` extra) is imported only when plots are drawn, with the Agg
renderer on a Figure of its own (pyplot's global state is never touched).
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from typing import Any

from . import __version__
from .errors import FwemuError, EXIT_UNREACHABLE
from .journal_read import (NO_RUN, STATES, Filter, JournalReader, Latency, Run, Scan, duration_text,
                           local_time)

COLORS = {"consumed": "#2e7d32", "dropped": "#ef6c00", "refused": "#c62828", "timed-out": "#6a1b9a",
          "interrupted": "#546e7a", "open": "#b0bec5"}
RUNS_SHOWN = 500          # rows of the run table (the totals cover every run)
RATE_BINS = 200           # bars of the injections-over-time plot

OS_CATEGORIES = (
    ("hardware_error_records", "hardware error records printed ({N}[Hardware Error]: … Source: N)"),
    ("memory_failure", "memory_failure lines (Memory failure: 0x…: …)"),
    ("sigbus", "SIGBUS lines"),
    ("aer", "AER lines"),
    ("kernel_panic_lines", "Kernel panic lines"),
    ("firmware_warnings", "[Firmware Warn] / [Firmware Bug] lines"),
    ("serror", "SError Interrupt lines"),
    ("soft_offline", "soft offline lines"),
    ("sim_notes", "[sim] lines (the simulated OS's notes; a real kernel prints none)"),
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
 background:#f6f7f9;color:#1d2329}
header{background:#263238;color:#fff;padding:18px 28px}
header h1{margin:0 0 6px;font-size:22px}
header p{margin:2px 0;color:#cfd8dc;font-size:13px}
main{padding:10px 28px 40px;max-width:1300px}
section{background:#fff;border:1px solid #dde2e6;border-radius:6px;margin:16px 0;padding:12px 18px}
h2{font-size:17px;margin:6px 0 10px;color:#263238}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border-bottom:1px solid #e3e7ea;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{color:#455a64;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.id{white-space:nowrap;font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px}
code,.mono{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0}
.card{border-radius:6px;padding:8px 14px;color:#fff;min-width:110px}
.card b{display:block;font-size:22px}
.note{color:#607d8b;font-size:12px}
img.plot{max-width:100%;height:auto;display:block;margin:6px 0}
.none{color:#90a4ae;font-style:italic}
"""


class PlotsUnavailable(FwemuError):
    """matplotlib is not installed (the `report` extra): lab setup, not a usage mistake."""

    exit_code = EXIT_UNREACHABLE


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _num(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _table(head: list[str], rows: list[list[Any]], numeric: tuple[int, ...] = (), ids: tuple[int, ...] = ()) -> str:
    """A table; numeric columns right-aligned, ids (run ids, RUN:ID) kept on one line."""
    if not rows:
        return '<p class="none">none</p>'
    cls = {i: ' class="n"' for i in numeric} | {i: ' class="id"' for i in ids}
    h = "".join(f"<th{cls.get(i, '') if i in numeric else ''}>{_e(x)}</th>" for i, x in enumerate(head))
    body = []
    for r in rows:
        body.append("<tr>" + "".join(f"<td{cls.get(i, '')}>{_e(x)}</td>" for i, x in enumerate(r)) + "</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _states_text(states: dict[str, int]) -> str:
    return ", ".join(f"{states[s]} {s}" for s in STATES if states.get(s)) or "none"


# ---- plots ------------------------------------------------------------------------------

def _figure(w: float, h: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailable("the report's plots need matplotlib: pip install 'fwemu[report]' "
                               "(or --no-plots for the tables alone)") from None
    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return f'<img class="plot" alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _plot_outcomes(scan: Scan) -> str:
    """Per scenario and per notification: the share of each final state (100 % stacked
    bars, so a handful of refusals beside thousands consumed still shows), the count at
    the end of each bar."""
    cells = scan.summary.cells
    out = []
    for idx, label in ((2, "scenario"), (1, "notification")):
        keys = sorted({k[idx] for k in cells})
        if not keys:
            continue
        totals = [sum(v for k, v in cells.items() if k[idx] == key) for key in keys]
        fig = _figure(9, 0.9 + 0.38 * len(keys))
        ax = fig.add_subplot()
        left = [0.0] * len(keys)
        for st in STATES:
            vals = [sum(v for k, v in cells.items() if k[idx] == key and k[0] == st) for key in keys]
            if any(vals):
                share = [100.0 * v / t if t else 0.0 for v, t in zip(vals, totals, strict=True)]
                ax.barh(keys, share, left=left, color=COLORS[st], label=st, height=0.7)
                left = [a + b for a, b in zip(left, share, strict=True)]
        for y, t in enumerate(totals):
            ax.text(101, y, f"{t:,}", va="center", fontsize=8, color="#37474f")
        ax.set_xlim(0, 112)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel("% of the injections (count at the right)", fontsize=9)
        ax.set_title(f"outcomes by {label}", fontsize=11)
        ax.tick_params(labelsize=8)
        ax.invert_yaxis()
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(keys) < 3 else -0.18), ncols=len(STATES),
                  fontsize=8, frameon=False)
        out.append(_png(fig))
    return "".join(out)


def _plot_latency(scan: Scan) -> str:
    lats = [(k, v) for k, v in sorted(scan.summary.latency.items()) if v.n]
    if not lats:
        return ""
    edges = Latency.edges()
    cols = 2 if len(lats) > 1 else 1
    rows = math.ceil(len(lats) / cols)
    fig = _figure(10 if cols == 2 else 7, 2.6 * rows + 0.3)
    for i, (kind, lat) in enumerate(lats):
        ax = fig.add_subplot(rows, cols, i + 1)
        inner = lat.bins[1:-1]
        nz = [j for j, c in enumerate(inner) if c]
        if nz:
            a, b = max(0, nz[0] - 1), min(len(inner), nz[-1] + 2)
            ax.stairs(inner[a:b], edges[a:b + 1], fill=True, color="#1565c0", alpha=0.85)
            ax.set_xscale("log")
            _plain_log_ticks(ax)
        p = lat.percentiles()
        for q, style in (("p50", "-"), ("p99", "--")):
            v = p[q]
            if v is not None and v > 0:
                ax.axvline(v, color="#c62828", linestyle=style, linewidth=1, label=f"{q} {v:.3g} ms")
        ax.set_title(f"{kind}: {lat.n:,} consumed", fontsize=10)
        ax.set_xlabel("latency, ms (notification → consumption)", fontsize=8)
        ax.set_ylabel("injections", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def _plain_log_ticks(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _plot_rate(scan: Scan) -> str:
    width, series = scan.summary.rate.series()
    if not series:
        return ""
    t0 = series[0][0]
    span = series[-1][0] + width - t0
    step = width * max(1, math.ceil(span / width / RATE_BINS))
    nb = max(1, math.ceil(span / step))
    counts = [[0] * nb for _ in STATES]
    for start, c in series:
        j = min(nb - 1, int((start - t0) / step))
        for i, v in enumerate(c):
            counts[i][j] += v
    unit, div = ("s", 1.0) if span <= 600 else ("min", 60.0) if span <= 36000 else ("h", 3600.0)
    xs = [j * step / div for j in range(nb)]
    fig = _figure(10, 3.2)
    ax = fig.add_subplot()
    bottom = [0.0] * nb
    for i, st in enumerate(STATES):
        rates = [v / step for v in counts[i]]
        if any(rates):
            ax.bar(xs, rates, width=step / div, bottom=bottom, align="edge", color=COLORS[st], label=st, linewidth=0)
            bottom = [a + b for a, b in zip(bottom, rates, strict=True)]
    ax.set_xlabel(f"{unit} since {local_time(t0)} (bins of {duration_text(step)})", fontsize=9)
    ax.set_ylabel("injections accepted / s", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.set_title("injections over time, by final state", fontsize=11)
    return _png(fig)


# ---- the page -----------------------------------------------------------------------------

def selection_text(flt: Filter) -> str:
    bits = []
    if flt.runs:
        bits.append(f"runs {', '.join(sorted(flt.runs))}")
    for name, v in (("state", flt.states), ("notification", flt.notify), ("scenario", flt.scenarios)):
        if v:
            bits.append(f"{name} {', '.join(sorted(v))}")
    if flt.sources:
        bits.append(f"source {', '.join(str(s) for s in sorted(flt.sources))}")
    if flt.since is not None:
        bits.append(f"since {local_time(flt.since)}")
    if flt.until is not None:
        bits.append(f"until {local_time(flt.until)}")
    return "; ".join(bits) or "every injection"


def build(reader: JournalReader, flt: Filter, *, title: str | None = None, plots: bool = True) -> tuple[str, Scan]:
    """The report's HTML, and the scan it was built from."""
    if plots:
        _figure(1, 1)       # PlotsUnavailable before the pass, not after it
    scan = reader.scan(flt, os_reactions=True)
    s = scan.summary
    runs = scan.selected_runs(flt)
    title = title or f"fwemu journal report: {', '.join(sorted({r.board for r in runs if r.board})) or 'no run'}"
    parts: list[str] = []
    add = parts.append

    add(f"<header><h1>{_e(title)}</h1>"
        f"<p>journal <span class=\"mono\">{_e(reader.path)}</span> ({scan.lines:,} lines) · selection: "
        f"{_e(selection_text(flt))}</p>"
        f"<p>generated {_e(local_time(time.time()))} by fwemu {_e(__version__)}"
        + (f" · injections accepted {_e(local_time(s.first))} … {_e(local_time(s.last))}" if s.first else "")
        + "</p></header><main>")

    cards = [f'<div class="card" style="background:#37474f"><b>{s.count:,}</b>injections</div>',
             f'<div class="card" style="background:#546e7a"><b>{len(runs):,}</b>runs</div>']
    for st in STATES:
        if s.states.get(st):
            cards.append(f'<div class="card" style="background:{COLORS[st]}"><b>{s.states[st]:,}</b>{_e(st)}</div>')
    add(f'<section><h2>Totals</h2><div class="cards">{"".join(cards)}</div>')
    if reader.warnings:
        add("<p class=\"note\">" + "<br>".join(_e(w) for w in reader.warnings) + "</p>")
    add("</section>")

    # runs
    rows = []
    for r in runs[-RUNS_SHOWN:]:
        rows.append([r.run if r.run != NO_RUN else "(no run: format 1 lines)", r.board or "–", r.target or "–",
                     r.pid if r.pid is not None else "–", (local_time(r.started) or "–").replace(" ", "\u00a0"), duration_text(r.duration),
                     r.format if r.format is not None else "–", _states_text(r.states) +
                     (f", {r.open} open" if r.open and r.end != "running" else ""),
                     f"{r.os_logs} request(s), {r.os_lines:,} line(s)" + (f"; panic: {r.panic}" if r.panic else ""),
                     r.end_text()])
    more = (f'<p class="note">the last {RUNS_SHOWN} of {len(runs):,} runs; every run counts in the totals</p>'
            if len(runs) > RUNS_SHOWN else "")
    add("<section><h2>Runs</h2>" + more + _table(
        ["run", "board", "target", "pid", "started", "duration", "format", "injections", "OS log", "end"], rows, (3,), (0,))
        + _run_details(runs) + "</section>")

    # outcomes
    cell_rows = [[st, nt, sc, v] for (st, nt, sc), v in sorted(
        s.cells.items(), key=lambda kv: (STATES.index(kv[0][0]) if kv[0][0] in STATES else 99, kv[0][1], kv[0][2]))]
    add("<section><h2>Outcomes by scenario and notification</h2>"
        + _table(["state", "notification", "scenario", "injections"], cell_rows, (3,))
        + (_plot_outcomes(scan) if plots and s.count else "") + "</section>")

    # latency
    lat_rows = []
    for kind, lat in sorted(s.latency.items()):
        p = lat.percentiles()
        lat_rows.append([kind, f"{lat.n:,}", _num(lat.min), _num(p["p50"]), _num(p["p90"]), _num(p["p99"]),
                         _num(lat.max), _num(lat.sum / lat.n if lat.n else None)])
    sampled = any(v.sampled for v in s.latency.values())
    add("<section><h2>Latency (notification → consumption, ms)</h2>"
        + _table(["notification", "consumed", "min", "p50", "p90", "p99", "max", "mean"], lat_rows, (1, 2, 3, 4, 5, 6, 7))
        + (f'<p class="note">percentiles from a uniform sample of {Latency.SAMPLES:,} per notification; '
           "count, min, max and mean exact; histograms count every value</p>" if sampled else "")
        + (_plot_latency(scan) if plots else "") + "</section>")

    # rate
    add("<section><h2>Injections over time</h2>"
        + (_plot_rate(scan) if plots and s.count else "")
        + (f'<p class="note">{s.count:,} injections accepted between {_e(local_time(s.first))} and '
           f"{_e(local_time(s.last))}</p>" if s.first else '<p class="none">none</p>') + "</section>")

    # reasons
    reason_rows = [[r["state"], r["count"], r["reason"], r["first"], r["last"]] for r in s.reason_rows()]
    late = []
    if s.consumed_late:
        late.append(["consumed late (after its injection timed out)", s.consumed_late])
    for found, n in sorted(s.resolved.items()):
        late.append([f"resolved later: found {found}", n])
    add("<section><h2>Refusals, timeouts and other outcomes, by reason</h2>"
        + _table(["state", "count", "reason", "first", "last"], reason_rows, (1,), (3, 4))
        + ("<h2>Late answers</h2>" + _table(["what", "count"], late, (1,)) if late else "") + "</section>")

    # OS reactions
    os_ = s.os
    cat_rows = [[label, os_.counts.get(key, 0)] for key, label in OS_CATEGORIES if os_.counts.get(key)]
    mf_rows = [[k, v] for k, v in os_.memory_failure.most_common(50)]
    src_rows = [[k, v] for k, v in sorted(os_.records_by_source.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)]
    panic_rows = [[p["run"] or "", p["at"] and local_time(p["at"]) or "", p["panic"],
                   f"#{p['ids'][0]}..#{p['ids'][1]}" if p["ids"][0] is not None else ""] for p in os_.panics]
    note = (f'<p class="note">counted in the {os_.lines_journalled:,} journalled lines of the {os_.lines_printed:,} '
            f"lines the OS log gave for {os_.requests:,} request(s)"
            + (" (a request journals its last 1,000 lines, so these counts are lower bounds)"
               if os_.lines_printed > os_.lines_journalled else "") + "</p>")
    add("<section><h2>OS reactions</h2>" + note
        + _table(["lines", "count"], cat_rows, (1,))
        + "<h2>memory_failure outcomes</h2>" + _table(["outcome (PFN left out)", "count"], mf_rows, (1,))
        + "<h2>Hardware error records by source</h2>" + _table(["source", "records"], src_rows, (1,))
        + f"<h2>Panics ({os_.panic_count:,})</h2>" + _table(["run", "at", "panic", "request"], panic_rows, (), (0,))
        + "</section>")

    add('<p class="note">fwemu journal report · self-contained: no script, no network</p></main>')
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
            + "".join(parts) + "</body></html>\n")
    return page, scan


def _run_details(runs: list[Run]) -> str:
    """The first runs' lesser metadata (boot id, SEI settle time, the run line's number)."""
    rows = []
    for r in runs[-20:]:
        if r.run == NO_RUN:
            continue
        rows.append([r.run, r.boot_id or "–", "–" if r.sei_settle_ms is None else f"{r.sei_settle_ms:g} ms",
                     "yes" if r.unsafe_concurrent_sei else "no", r.line if r.line is not None else "–",
                     r.resolved_by or "–", r.accepted, r.consumed_late, r.resolved])
    if not rows:
        return ""
    return ("<details><summary class=\"note\">more about the last runs</summary>"
            + _table(["run", "boot id", "SEI settle", "unsafe SEI", "run line", "resolved by", "accepted",
                      "consumed late", "resolved"], rows, (4, 6, 7, 8), (0,)) + "</details>")
