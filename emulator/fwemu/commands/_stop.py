"""Ctrl-C and SIGTERM during a run (inject, campaign): stop submitting, let what is in flight
end, report what ran, exit 130/143."""

from __future__ import annotations

import contextlib
import signal
import threading

from ..errors import StoppedError, Terminated


@contextlib.contextmanager
def stop_on_signals(session, stopped: list[int]):
    """SIGINT/SIGTERM while injecting in-process: stop submitting, let what is in flight end
    (Session.DRAIN_S, then interrupted), report it all, exit 130/143. A second signal stops
    at once, as before."""
    if threading.current_thread() is not threading.main_thread() or session.via != "in-process":
        yield     # a daemon's request cannot be stopped half way: the signal stops the wait
        return

    def handler(signum, _frame):
        if stopped:
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        stopped.append(signum)
        session.stop(f"interrupted by {signal.Signals(signum).name}", from_signal=True)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def stopped_error(signum: int, what: str) -> StoppedError:
    name = signal.Signals(signum).name
    return StoppedError(f"interrupted by {name}: {what}", 143 if signum == signal.SIGTERM else 130)
