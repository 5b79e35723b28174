"""One exception root for fwemu, with the CLI exit code each kind maps to.

Exit codes (documented in README "Exit codes"):
  0  success (record valid, injection consumed)
  1  the thing under test failed (record invalid per the kernel's rules)
  2  usage error: bad option, bad field value, bad board file
  3  timed out: the OS did not consume the record in time
  4  refused by a firmware rule (busy block queue full, SEI pending, SDEI refusal)
  5  target unreachable (channel, QEMU, daemon socket): lab trouble, not a DUT failure
  6  every injection consumed, and the OS is down after them (a fatal record's panic)
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_REFUSED = 4
EXIT_UNREACHABLE = 5
EXIT_OS_DOWN = 6


class FwemuError(Exception):
    """Root of every error fwemu raises on purpose. `str()` is one line for the user."""

    exit_code = EXIT_FAILED


class UsageError(FwemuError):
    """Bad user input. `field` names the option or field at fault."""

    exit_code = EXIT_USAGE

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class BoardError(UsageError):
    """A board file is invalid: reported as `file: field: reason`."""

    def __init__(self, file: str, field: str, reason: str):
        self.file = file
        super().__init__(field, reason)
        self.args = (f"{file}: {field}: {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


class RecordError(FwemuError):
    """A byte string is not a record fwemu can decode (offset says where)."""

    exit_code = EXIT_FAILED

    def __init__(self, reason: str, offset: int | None = None):
        self.reason = reason
        self.offset = offset
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"{reason}{where}")


class CoreError(FwemuError):
    """The compiled C core is missing, stale, or returned an unexpected code."""

    exit_code = EXIT_UNREACHABLE


class NotConsumedError(FwemuError, TimeoutError):
    """The OS did not consume a posted record in time."""

    exit_code = EXIT_TIMEOUT


class RefusedError(FwemuError):
    """A firmware rule refused the request (reason is the rule)."""

    exit_code = EXIT_REFUSED


class BlockBusyError(RefusedError):
    """A post refused because the block is not free: block_status is non-zero, or (GHESv2)
    the Read Ack register does not show the OS's ack of the last record."""


class UnreachableError(FwemuError):
    exit_code = EXIT_UNREACHABLE


class OutcomeUnknown(UnreachableError):
    """A request with a side effect (a post, a notification, a withdraw) got no answer: it
    may or may not have executed. `request` names it, `waited` is how long the target has
    been silent, and `forgotten` says the target restarted meanwhile, so it no longer
    remembers the request and only its memory can tell what happened. Firmware must learn
    the outcome (Target.resolve, Target.read_back) before it posts or notifies again."""

    def __init__(self, message: str, request: str = "", waited: float = 0.0, forgotten: bool = False):
        super().__init__(message)
        self.request, self.waited, self.forgotten = request, waited, forgotten


class StoppedError(FwemuError):
    """A command stopped by SIGINT (exit 130) or SIGTERM (143) after reporting what it did."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so it unwinds exactly as Ctrl-C does: sessions
    close, in-flight injections are journalled `interrupted`, one final line is printed."""
