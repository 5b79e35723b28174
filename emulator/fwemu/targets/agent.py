"""Target backend for boards whose firmware runs the fwemu target agent (`target.kind =
"agent"`): an FVP or a real board reached over a pyserial URL, or the sim board run as an
agent in its own process (`url = "sim-agent:"`, boards/sim-agent.toml).

Every memory access, post and notification is a debug-channel request (fwemu.channel,
protocol/PROTOCOL.md). The firmware model's rules run here on the host exactly as for the
in-process sim; the agent performs the ordered commit and raises the notification, and its
dedupe table makes retries safe.

After a target reset (EV_BOOT, or E_NO_SESSION) the channel starts a new session and this
backend reads back every source's block_status and Read Ack, logs what it found, and keeps
it in `status()["resets"]`.

A POST, notification or WITHDRAW that got no reply (every retry lost), or that was in
flight across a reset, raises OutcomeUnknown: it may or may not have executed. The
firmware model then asks `resolve()` (the same frame again: the agent's dedupe table
answers it without executing twice) and, when the agent no longer remembers it,
`read_back()` (the block and Read Ack, side-effect free). Nothing is resent blindly.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from .._corelib import lib
from ..board import Board, Source
from ..channel import AgentChannel, AgentError, TargetResetError
from ..channel import protocol as P
from ..channel.protocol import ChannelTimeout
from ..errors import BlockBusyError, OutcomeUnknown, RefusedError, UnreachableError, UsageError
from ..memory import AccessError, ack_reg
from ..notification import KINDS, platform_refusal
from .base import Cap, Target

log = logging.getLogger("fwemu.target.agent")

SIM_SCHEME = "sim-agent:"


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _ack(source: Source) -> list[int] | None:
    ra = source.read_ack
    if ra is None:
        return None
    return [ra.address, ra.width, ra.bit_offset, ra.preserve, ra.write]


def _unknown(exc: ChannelTimeout | TargetResetError) -> OutcomeUnknown:
    if isinstance(exc, TargetResetError):
        return OutcomeUnknown(str(exc), exc.request, 0.0, forgotten=True)
    req = P.describe(exc.request) if exc.request else "a request"
    return OutcomeUnknown(str(exc), req, exc.waited)


class SimAgentProcess:
    """`python -m fwemu.targets.simagent` for a board, its pty path and OS log file."""

    def __init__(self, board: Board, query: str = ""):
        opts = {k: v[-1] for k, v in parse_qs(query).items()}
        spec = board.name if board.shipped else board.file
        if not board.shipped and not os.path.exists(board.file):
            raise UsageError("target.url", f'"{SIM_SCHEME}" needs the board as a file or a shipped '
                             f"name (this one came from {board.file})")
        fd, self.log_path = tempfile.mkstemp(prefix="fwemu-sim-os-", suffix=".log")
        os.close(fd)
        cmd = [sys.executable, "-m", "fwemu.targets.simagent", "--board", spec, "--os-log", self.log_path]
        for key in ("delay", "sei_mode", "masked_pes", "mem_file", "ledger"):
            if key in opts:
                cmd += [f"--{key.replace('_', '-')}", opts[key]]
        if opts.get("deaf") in ("1", "true", "yes"):
            cmd.append("--deaf")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PTY "):
            self.close()
            raise UnreachableError(f"the sim agent process did not start ({line.strip() or 'no output'})")
        self.pty = line.split(None, 1)[1].strip()

    def reset(self) -> None:
        import signal
        self.proc.send_signal(signal.SIGUSR1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass


class AgentTarget(Target):
    """Target backend for `target.kind = "agent"`."""

    @classmethod
    def open(cls, board: Board, *, sim: dict[str, Any] | None = None, url: str | None = None) -> AgentTarget:
        return cls(board, url=url)

    caps = frozenset({Cap.OS_LOG, Cap.RESET})

    def capabilities(self) -> frozenset[str]:
        # a sim-agent: URL runs the sim behind the agent in a process of this session's own
        return self.caps | {Cap.MACHINE_PER_SESSION} if str(self.url).startswith(SIM_SCHEME) else self.caps

    def __init__(self, board: Board, *, url: str | None = None, baudrate: int = 115200,
                 retries: int = 8, base_timeout: float = 0.05, max_chunk: int | None = None,
                 **_ignored: Any):
        """`max_chunk` caps the record bytes per POST / POST_DATA frame (default: the
        agent's maximum, 1024): on a very noisy line smaller frames get through sooner."""
        self.board = board
        url = url or board.target.url
        if not url:         # load_board requires one for an agent board
            raise UsageError("target.url", f"board {board.name!r} names no agent URL")
        self.sim: SimAgentProcess | None = None
        if url.startswith(SIM_SCHEME):
            self.sim = SimAgentProcess(board, url[len(SIM_SCHEME):].lstrip("?"))
            url = self.sim.pty
        self.url = url
        self.max_chunk = max_chunk
        self.resets: list[dict[str, Any]] = []
        self._consumed_events = 0
        self._log_pos = 0
        self._log_lines: list[str] = []
        self._log_lock = threading.Lock()
        # an OS console logged to a file (tfa-qemu, an FVP's terminal log): kernel lines
        # printed from now on are this target's OS log
        self.console = board.target.console_path if self.sim is None else None
        self._console_start = _file_size(self.console) if self.console else 0
        self._notified_at = 0.0
        try:
            self.channel = AgentChannel(url, baudrate=baudrate, retries=retries,
                                        base_timeout=base_timeout, on_event=self._on_event,
                                        on_reset=self._on_reset)
            self.info = self.channel.hello()
            self._check_board()
        except Exception:
            self.close()
            raise

    # ---- lifecycle --------------------------------------------------------------------------
    def _check_board(self) -> None:
        info, b = self.info, self.board
        if info.pe_count != b.pes.count:
            raise UsageError("pes.count", f"board {b.name!r} says {b.pes.count} PEs, the agent at "
                             f"{self.url} reports {info.pe_count} ({info.board_id!r})")
        for w in b.windows:
            if w.access != "remote":
                continue
            if not any(base <= w.base and w.end <= base + size and flags & P.WIN_WRITE
                       for base, size, flags in info.windows):
                have = ", ".join(f"{base:#x}+{size:#x}" for base, size, _ in info.windows) or "none"
                raise UsageError(f"window {w.name}", f"{w.base:#x}+{w.size:#x} is not writable through "
                                 f"the agent at {self.url} (it announces: {have})")

    def close(self) -> None:
        ch = getattr(self, "channel", None)
        if ch is not None:
            ch.close()
        if self.sim is not None:
            self.sim.close()

    def reset(self) -> None:
        if self.sim is None:
            raise UsageError("reset", "an agent board is reset by its own means (power, debugger); "
                             "fwemu resynchronises when the agent announces itself again")
        seen = self.channel.stats.resets_seen
        self.sim.reset()
        deadline = time.monotonic() + 5
        while self.channel.stats.resets_seen == seen and time.monotonic() < deadline:
            self.channel.wait_event(0.1)
        self.channel.status()     # the next request starts the new session (HELLO) and resyncs

    # ---- memory --------------------------------------------------------------------------------
    def _check(self, addr: int, length: int) -> None:
        if self.board.window_for(addr, length) is None:
            raise AccessError(f"{addr:#x} +{length:#x} is outside every memory window")

    def _call(self, *args: Any, **kw: Any) -> list[Any]:
        try:
            return self.channel.call(*args, **kw)
        except AgentError as exc:
            if exc.code == P.E_WINDOW:
                raise AccessError(f"{exc} (the agent refused the range)") from None
            raise

    def read(self, addr: int, length: int) -> bytes:
        self._check(addr, length)
        try:
            return self.channel.read(addr, length)
        except AgentError as exc:
            raise AccessError(str(exc)) from None

    def read_reg(self, addr: int, width_bits: int) -> int:
        self._check(addr, width_bits // 8)
        value: int = self._call(P.READ_REG, addr, width_bits)[0]
        return value

    def write_reg(self, addr: int, width_bits: int, value: int) -> None:
        self._check(addr, width_bits // 8)
        self._call(P.WRITE_REG, addr, width_bits, value)

    def _no_unresolved(self, what: str) -> None:
        """A request outside the firmware model's bookkeeping (a write_reg) left the channel
        with an unresolved request: ask it once more, else refuse without sending."""
        if self.channel.unresolved is not None and self.channel.requery(2.0) is None:
            raise RefusedError(f"{what} not sent: the target has not answered whether "
                               f"{P.describe(self.channel.unresolved)} executed")

    def post(self, source: Source, record: bytes) -> None:
        self._check(source.block, source.block_length)
        self._no_unresolved(f"source {source.id}: the post")
        step = min(self.max_chunk or self.info.max_data, self.info.max_data)
        try:
            for off in range(step, len(record), step):   # the tail first, under a free block
                self._call(P.POST_DATA, source.block, source.block_length, off, record[off:off + step])
            self._call(P.POST, source.id, source.block, source.block_length, record[:step], 0, _ack(source))
        except AgentError as exc:
            raise self._post_refusal(source, exc) from None
        except (ChannelTimeout, TargetResetError) as exc:
            raise _unknown(exc) from None

    @staticmethod
    def _post_refusal(source: Source, exc: AgentError) -> RefusedError:
        if exc.code == P.E_BUSY:
            status, acked = (list(exc.results) + [None, None])[:2]
            if status == 0 and acked == 0:
                return BlockBusyError(f"source {source.id}: the OS has not acked the last record "
                                      "(Read Ack on the target)")
            shown = f"block_status {status:#x}" if isinstance(status, int) else "block_status"
            return BlockBusyError(f"source {source.id}: block still holds an unconsumed record "
                                  f"({shown} on the target)")
        return RefusedError(f"source {source.id}: post failed: {exc}")

    def withdraw(self, source: Source) -> None:
        """Idempotent in effect (block_status 0, Read Ack acked), so once the agent has
        forgotten an unanswered WITHDRAW it is simply sent again."""
        try:
            self._call(P.WITHDRAW, source.id, source.block, _ack(source))
        except (ChannelTimeout, TargetResetError) as exc:
            raise _unknown(exc) from None

    def resolve(self, source: Source, budget: float) -> str | RefusedError | None:
        res = self.channel.requery(budget)
        if res is None:
            return None
        how, msg, code, results = res
        if how == "forgotten" or code is None:     # requery gives a code with every answer
            return "memory"
        t = msg[0]
        if code == P.OK:
            # a POST_DATA only wrote bytes under a free block: whether the POST that commits
            # the record ever ran, memory tells
            return "memory" if t == P.POST_DATA else "done"
        exc = AgentError(P.describe(msg), code, results)
        if t in (P.POST, P.POST_DATA):
            return self._post_refusal(source, exc)
        if t == P.WITHDRAW:
            return "memory"
        return self._notify_error(source.notify, exc)

    # ---- notifications ----------------------------------------------------------------------------
    def notify_refusal(self, source: Source, pe: int) -> str | None:
        kind = source.notify
        reason = platform_refusal(kind, pe, self.board.pes.count)
        if reason:
            return reason
        cap = KINDS[kind].agent_hook
        if cap and not self.info.has(cap):
            return f"the agent at {self.url} cannot raise {kind.upper()} (its platform has no hook for it)"
        if kind == "sdei" and self.info.has("sdei_state"):
            rc, *rest = self._call(P.SDEI_STATE, pe, source.vector, check=False)
            if rc != P.OK:
                return f"event {source.vector} has no mapping on the target (code {rc})"
            bits = rest[0]
            if bits & P.ST_PE_MASKED:
                return f"PE {pe} is masked (the client has not called SDEI_PE_UNMASK)"
            if not bits & P.ST_REGISTERED:
                return f"event {source.vector} is not registered on PE {pe}"
            if not bits & P.ST_ENABLED:
                return f"event {source.vector} is registered but disabled on PE {pe}"
            if bits & P.ST_RUNNING:
                return f"event {source.vector} is already running on PE {pe}"
        return None

    def notify(self, source: Source, pe: int) -> None:
        kind = source.notify
        if kind == "polled":
            return
        reason = None
        if platform_refusal(kind, pe, self.board.pes.count):
            reason = self.notify_refusal(source, pe)
        if reason:
            raise RefusedError(reason)
        req: tuple[int, ...]
        if kind == "sdei":
            req = (P.SDEI, pe, source.vector)
        elif kind == "sei":
            req = (P.SEI, pe)
        elif kind == "sea":
            req = (P.SEA, pe)
        else:   # external, gsiv, gpio, sci: the interrupt the HEST entry names
            req = (P.IRQ, pe, source.vector)
        self._no_unresolved(f"the {kind.upper()}")
        self._notified_at = time.monotonic()
        try:
            self.channel.call(*req)
        except AgentError as exc:
            raise self._notify_error(kind, exc) from None
        except (ChannelTimeout, TargetResetError) as exc:
            raise _unknown(exc) from None

    @staticmethod
    def _notify_error(kind: str, exc: AgentError) -> RefusedError:
        if exc.code == P.E_REFUSED:
            if kind == "sdei":
                why = P.SDEI_WHY.get(exc.results[1] if len(exc.results) > 1 else P.WHY_UNKNOWN, "refused")
                return RefusedError(f"SDEI dispatch refused by the target: {why}")
            return RefusedError(f"{kind.upper()} refused by the target (code {exc.results})")
        if exc.code == P.E_UNSUPPORTED:
            return RefusedError(f"the target cannot raise {kind.upper()}")
        return RefusedError(f"{kind.upper()}: {exc}")

    # ---- observation ----------------------------------------------------------------------------
    def _on_event(self, msg: P.Message) -> None:
        if msg[0] == P.EV_CONSUMED:
            self._consumed_events += 1

    def _source_states(self) -> dict[int, dict[str, Any]]:
        out = {}
        for s in self.board.sources:
            st: dict[str, Any]
            try:
                st = {"block_status": self.channel.read_reg(s.block, 32)}
                if s.read_ack:
                    v = self.channel.read_reg(s.read_ack.address, s.read_ack.width)
                    st["read_ack"] = v
                    st["consumed"] = bool(lib.fw_ack_is_acked(ack_reg(s), v))
                else:
                    st["consumed"] = st["block_status"] == 0
            except Exception as exc:  # noqa: BLE001 - report what could be read
                st = {"error": str(exc)}
            out[s.id] = st
        return out

    def _on_reset(self, why: str) -> None:
        states = self._source_states()
        info = self.channel.info        # set by the resync that calls this
        report = {"at": time.time(), "why": why, "boot_count": info.boot_count if info else None,
                  "sources": states}
        self.resets.append(report)
        pending = {sid: st for sid, st in states.items() if not st.get("consumed", True)}
        log.warning("target %s reset (%s, boot count %s): %s", self.url, why, report["boot_count"],
                    f"unconsumed blocks {pending}" if pending else "every block consumed or free")

    def wait(self, timeout: float) -> None:
        self.channel.wait_event(timeout, self.channel.event_count)

    def _console_log(self, console: str, since: int) -> tuple[list[str], int]:
        """Kernel lines the console printed after byte offset `since` (0: since this target
        was opened). After a notification, waits until the console has been quiet for
        0.3 s (at most 5 s): the kernel prints a record's decode after the handler acked."""
        if self._notified_at:
            deadline = time.monotonic() + 5.0
            size, quiet_since = _file_size(console), time.monotonic()
            while time.monotonic() < deadline and time.monotonic() - quiet_since < 0.3:
                time.sleep(0.05)
                now = _file_size(console)
                if now != size:
                    size, quiet_since = now, time.monotonic()
            self._notified_at = 0.0
        start = since or self._console_start
        try:
            with open(console, "rb") as fh:
                fh.seek(start)
                data = fh.read()
        except OSError:
            return [], start
        from ..qemu.console import kernel_lines
        end = start + len(data)
        text = data.decode(errors="replace").replace("\r", "")
        return [line for _t, line in kernel_lines(text)], end

    def os_log(self, since: int = 0) -> tuple[list[str], int]:
        if self.console:
            return self._console_log(self.console, since)
        if self.sim is None:
            return [], since
        with self._log_lock:
            try:
                with open(self.sim.log_path, encoding="utf-8") as f:
                    f.seek(self._log_pos)
                    chunk = f.read()
                    self._log_pos = f.tell()
            except OSError:
                chunk = ""
            if chunk:
                self._log_lines += chunk.splitlines()
            n = len(self._log_lines)
            return self._log_lines[since:], n

    def os_state(self) -> dict[str, Any]:
        if self.console:
            try:
                with open(self.console, "rb") as fh:
                    fh.seek(self._console_start)
                    text = fh.read().decode(errors="replace")
            except OSError:
                return {}
            panics = re.findall(r"Kernel panic - not syncing: ([^\r\n]*)", text)
            return {"up": not panics, "panic": panics[-1].strip() if panics else None}
        if not self.info.has("status_blob"):
            return {}
        try:
            blob = self.channel.status().get("blob")
            state: dict[str, Any] = json.loads(blob)["os"] if blob else {}
            return state
        except Exception:  # noqa: BLE001 - state is best effort
            return {}

    def status(self) -> dict[str, Any]:
        st = self.channel.stats
        try:
            agent = self.channel.status()
            agent.pop("blob", None)
        except Exception as exc:  # noqa: BLE001
            agent = {"error": str(exc)}
        return {"kind": "agent", "url": self.url, "sim_process": self.sim is not None,
                "hello": self.info.to_dict(), "agent": agent,
                "channel": {"requests": st.requests, "frames_out": st.frames_out, "retries": st.retries,
                            "timeouts": st.timeouts, "late_replies": st.late_replies,
                            "resyncs": st.resyncs, "events": st.events,
                            "rtt_last_ms": round(st.rtt_last_s * 1e3, 3)},
                "resets": self.resets[-10:]}
