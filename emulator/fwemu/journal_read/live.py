"""The runs of a journal that are running now: listed in its run file (JOURNAL.runs,
recovery.py keeps it) and their process alive on this boot."""

from __future__ import annotations

import json

from ..procs import alive, boot_id


def live_runs(journal_path: str) -> set[str]:
    """Runs listed in the journal's run file (JOURNAL.runs) whose process is still alive
    on this boot (a daemon or a command running now)."""
    try:
        with open(journal_path + ".runs", "rb") as f:
            state = json.loads(f.read(1 << 22) or b"{}")
    except (OSError, ValueError):
        return set()
    boot = boot_id()
    out: set[str] = set()
    for e in state.get("runs", []) if isinstance(state, dict) else []:
        if isinstance(e, dict) and not e.get("ended") and e.get("boot_id") == boot and \
                isinstance(e.get("pid"), int) and alive(e["pid"], e.get("start")):
            out.add(str(e.get("run")))
    return out
