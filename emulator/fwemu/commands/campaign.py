"""`fwemu campaign run|check FILE`: a validation campaign (TOML) on a board."""

from __future__ import annotations

import argparse

from .. import api
from .. import campaign as cp
from ..board import Board, load_board
from ..errors import EXIT_OK, UnreachableError
from ._simopts import add_os_model_options, check_os_model_options, os_model_options
from ._stop import stop_on_signals, stopped_error
from ._target import add_journal_option, add_no_daemon_option, add_url_option, target_url

EXAMPLES = """\
examples:
  fwemu campaign check examples/campaigns/memory-soak.toml      parse, check, show the plan
  fwemu campaign run examples/campaigns/memory-soak.toml        on the sim board
  fwemu campaign run examples/campaigns/mixed.toml --board sim-agent --jsonl
  fwemu campaign run FILE --board qemu-virt --seed 11           the same file on a real kernel

The file format is in docs/campaigns.md.

exit codes: 0 every step passed (its injections ended in an expected state, the OS as
  expected); 2 bad file or option (one line names the file, step and key); 3 an injection
  timed out, was dropped or interrupted where the step did not expect it, or the OS stayed
  up where a step expected a panic; 4 one was refused where the step did not expect it; 5 target or daemon unreachable,
  or the journal failed; 6 the OS went down where the campaign did not expect it;
  130/143 interrupted (SIGINT/SIGTERM). The worst step's code wins.
"""


def register(sub, common) -> None:
    p = sub.add_parser("campaign", parents=[common], help="run a campaign file: steps of injections, waits, resets",
                       description="Run a validation campaign (a TOML file of steps) on a board, or check one.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = p.add_subparsers(dest="campaign_cmd", metavar="{run,check}", required=True)
    run = csub.add_parser("run", parents=[common], help="run the campaign's steps in order")
    run.add_argument("file", metavar="FILE")
    run.add_argument("--seed", type=int, default=None, metavar="N",
                     help="seed instead of the file's (the same seed gives the same values)")
    run.add_argument("--jsonl", action="store_true",
                     help="JSON lines: one per injection as it ends, one per step, then the envelope")
    add_journal_option(run)
    add_url_option(run)
    add_no_daemon_option(run)
    add_os_model_options(run)
    run.set_defaults(func=cmd_run)
    chk = csub.add_parser("check", parents=[common], help="parse and check the file for the board; print the plan")
    chk.add_argument("file", metavar="FILE")
    chk.set_defaults(func=cmd_check)


def _load(args) -> tuple[cp.Campaign, Board]:
    board = load_board(args.board)
    camp = cp.load(args.file)
    if getattr(args, "seed", None) is not None:
        camp = cp.reseed(camp, args.seed)
    camp.check_board(board)
    return camp, board


def _plan_line(st: cp.Step) -> str:
    if st.kind == "wait":
        return f"wait {st.wait:g} s"
    if st.kind == "reset":
        return "reset the OS"
    req = st.request
    assert req is not None
    what = (" + ".join(f"{v.scenario}×{v.weight:g}" for v in req.mix) if req.mix else req.scenario)
    how = f"for {st.duration:g} s" if st.duration is not None else f"{req.count} injection{'s' * (req.count != 1)}"
    rate = f" at {req.rate:g}/s" if req.rate else ""
    return f"{what}: {how}{rate}, expect {'/'.join(st.expect.states)}" + (f", OS {st.expect.os}" if st.expect.os else "")


def cmd_check(args, out) -> int:
    camp, board = _load(args)
    out.set(campaign=camp.name, file=camp.file, board=board.name, seed=camp.seed,
            steps=[{"step": s.index + 1, "name": s.name, "kind": s.kind, "plan": _plan_line(s)} for s in camp.steps])
    out.line(f"campaign {camp.name!r} ({camp.file}): {len(camp.steps)} steps on board {board.name}, seed {camp.seed}")
    for st in camp.steps:
        out.line(f"  {st.index + 1}. {st.name}: {_plan_line(st)}")
    return EXIT_OK


def _step_line(r: cp.StepResult) -> str:
    head = f"{r.step.label}: "
    if r.outcome != "ran":
        return head + f"{r.outcome}" + (f": {r.why}" if r.why else "")
    if r.summary is None:
        return head + ("done" if r.step.kind == "wait" else "OS reset") + (f" ({r.seconds:.2f} s)")
    s = r.summary
    text = (f"{s.count} injection{'s' * (s.count != 1)}: " + ", ".join(f"{v} {k}" for k, v in s.states.items()) +
            (f"; latency p50 {s.p50_ms:.3f} ms, p99 {s.p99_ms:.3f} ms" if s.p50_ms is not None else "") +
            f" ({r.seconds:.2f} s)")
    return head + text + ("" if r.passed else f" — FAILED: {r.why}") + (f" — {r.why}" if r.passed and r.why else "")


def cmd_run(args, out) -> int:
    camp, board = _load(args)
    check_os_model_options(board, args)
    options = api.SessionOptions(daemon=False if args.no_daemon else None, journal=args.journal,
                                 url=target_url(board, args), sim=os_model_options(args))
    step_no = [0]
    on_final = None
    if args.jsonl:
        out.stream_lines()

        def on_final(o: api.Outcome) -> None:
            out.emit({"event": "injection", "step": step_no[0], **o.raw})

    def on_step(r: cp.StepResult) -> None:
        out.line(_step_line(r))
        if args.jsonl:
            out.emit({"event": "step", **r.to_json()})

    out.line(f"campaign {camp.name!r}: {len(camp.steps)} steps on board {board.name}, seed {camp.seed}")
    stopped: list[int] = []
    with api.open_session(board, options) as session:
        runner = cp.Runner(camp, session, on_final=on_final, on_step=on_step)

        def step_started(st: cp.Step) -> None:
            step_no[0] = st.index + 1
        runner.on_start = step_started
        with stop_on_signals(runner, stopped):
            try:
                results = runner.run()
            except UnreachableError:
                if stopped:
                    raise stopped_error(stopped[0], "before any injection was submitted") from None
                raise
        via = session.via
    total = cp.totals(results)
    out.set(campaign=camp.name, file=camp.file, board=board.name, seed=camp.seed, via=via,
            steps=[r.to_json() for r in results], totals=total)
    passed = sum(1 for r in results if r.outcome == "ran" and r.passed)
    out.line(f"campaign {camp.name!r}: {passed} of {len(results)} steps passed; {total['count']} injections: " +
             (", ".join(f"{v} {k}" for k, v in total["states"].items()) or "none"))
    if runner.journal_error:
        raise UnreachableError(runner.journal_error + "; the campaign stopped there (reported above)")
    if stopped:
        ran = sum(1 for r in results if r.outcome == "ran")
        raise stopped_error(stopped[0], f"{ran} of {len(results)} steps run (reported above)")
    return cp.exit_code(results)
