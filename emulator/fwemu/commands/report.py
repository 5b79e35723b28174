"""`fwemu report [RUN...] -o report.html`: a self-contained HTML report of a journal."""

from __future__ import annotations

import argparse
import sys

from ..errors import EXIT_OK, UsageError
from .journal import add_filter_options, add_journal_option, make_filter, open_reader, states_text, warn

EXAMPLES = """\
examples:
  fwemu report -o report.html                      every run on the default board's journal
  fwemu report last -o last.html                   the newest run
  fwemu report --since 1d --notify sdei -o sdei.html
  fwemu report --journal /tmp/x.jsonl 20261202T05 -o r.html

The file holds everything (inline CSS, plots as inline PNG images, no script, nothing
fetched): outcomes by scenario and notification, latency percentiles and a histogram per
notification kind, injections over time, refusals and timeouts with their reasons, the OS's
reactions (memory_failure outcomes, SIGBUS, AER, panics) counted from the journalled OS log
lines, and each run's metadata. One pass over the journal, bounded memory.

Plots need matplotlib: pip install 'fwemu[report]' (--no-plots: the tables alone).

exit codes: 0 written; 2 usage error (a bad option or filter, a missing or unreadable
  journal, an unknown run, a damaged line, an output that cannot be written);
  5 matplotlib is not installed.
"""


def register(sub, common) -> None:
    p = sub.add_parser("report", parents=[common], help="an HTML report of the journal's runs",
                       description="Write a self-contained HTML report of the journal: outcomes, "
                                   "latency distributions, rate over time, reasons, OS reactions.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", metavar="RUN", help="runs to report on (default: all): id, prefix or 'last'")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the HTML file to write ('-' = stdout)")
    p.add_argument("--title", metavar="TEXT", help="the report's title")
    p.add_argument("--no-plots", action="store_true", help="tables only (no matplotlib needed)")
    add_journal_option(p)
    add_filter_options(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args, out) -> int:
    from .. import report
    from ..safe_io import write_output

    reader = open_reader(args)
    flt = make_filter(reader, args, args.runs)
    if args.output == "-" and out.as_json:
        raise UsageError("--output", "'-' with --json: standard output carries the JSON object")
    page, scan = report.build(reader, flt, title=args.title, plots=not args.no_plots)
    if args.output == "-":
        sys.stdout.write(page)
        sys.stdout.flush()
    else:
        write_output(args.output, page, "--output")
    runs = scan.selected_runs(flt)
    s = scan.summary
    out.set(journal=reader.path, output=args.output, bytes=len(page.encode()), injections=s.count,
            runs=len(runs), states=dict(s.states), filter=flt.to_json())
    warn(reader, out)
    if args.output != "-":
        out.line(f"wrote {args.output}: {s.count} injection{'s' if s.count != 1 else ''} "
                 f"({states_text(dict(s.states))}) in {len(runs)} run{'s' if len(runs) != 1 else ''}")
    return EXIT_OK
