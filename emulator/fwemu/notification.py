"""The notification kinds a GHES source may name, as one table: the HEST number, whether
firmware can raise it on arm64, what the HEST entry needs, which path Linux's GHES driver
takes for it, and which hook of the target agent raises it. Boards, backends, the agent
target and the OS model read this table instead of keeping lists of their own.

The Linux column is ghes_probe() and the handlers it installs (drivers/acpi/apei/ghes.c,
v6.1): SEA, SEI and SDEI are NMI-like (the record is copied out and the block released
before it is processed, through the estatus cache that drops repeats); external interrupts
get their own handler; GPIO, SCI and GSIV sources are all walked on the Hardware Error
Device's (PNP0C33) ACPI notification; polled sources on a timer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class NotifyKind:
    name: str
    hest_type: int         # ACPI HEST Hardware Error Notification type
    arm64: bool            # firmware can raise it on an arm64 system
    vector: bool           # the HEST entry names a vector (the GSIV, or the SDEI event)
    linux: str             # what Linux (arm64, 6.1) does with a source of this kind
    nmi_like: bool = False  # handled in NMI-like context: released before processing, repeats dropped
    hed: bool = False       # walked on the HED's ACPI notification
    agent_hook: str | None = None   # the agent's platform capability that raises it (proto.h CAP_*)


KINDS: Mapping[str, NotifyKind] = MappingProxyType({k.name: k for k in (
    NotifyKind("polled", 0, True, False, "ghes_poll_func: a timer reads the block every poll interval"),
    NotifyKind("external", 1, True, True, "ghes_irq_func: the source's own interrupt handler",
               agent_hook="irq"),
    NotifyKind("local", 2, False, False, "not supported: the probe logs 'notified via local interrupt is "
                                         "not supported!' and skips the source"),
    NotifyKind("sci", 3, True, False, "ghes_notify_hed: walked on the HED's ACPI notification",
               hed=True, agent_hook="irq"),
    NotifyKind("nmi", 4, False, False, "x86 only: the probe logs 'notified via NMI interrupt is not "
                                       "supported!' on arm64"),
    NotifyKind("cmci", 5, False, False, "x86 only: 'Unknown notification type' at probe"),
    NotifyKind("mce", 6, False, False, "x86 only: 'Unknown notification type' at probe"),
    NotifyKind("gpio", 7, True, False, "ghes_notify_hed: walked on the HED's ACPI notification",
               hed=True, agent_hook="irq"),
    NotifyKind("sea", 8, True, False, "ghes_notify_sea from the synchronous external abort handler",
               nmi_like=True, agent_hook="sea"),
    NotifyKind("sei", 9, True, False, "ghes_notify_sei from the SError handler (CONFIG_ACPI_APEI_SEI: "
                                      "mainline refuses such sources at probe)", nmi_like=True, agent_hook="sei"),
    NotifyKind("gsiv", 10, True, True, "ghes_notify_hed: walked on the HED's ACPI notification",
               hed=True, agent_hook="irq"),
    NotifyKind("sdei", 11, True, True, "ghes_sdei_normal_callback / ghes_sdei_critical_callback, on the "
                                       "SDEI event registered for the vector", nmi_like=True, agent_hook="sdei"),
)})

HEST_TYPES: Mapping[str, int] = MappingProxyType({k.name: k.hest_type for k in KINDS.values()})
NEEDS_VECTOR = tuple(k.name for k in KINDS.values() if k.vector)
HED_KINDS = tuple(k.name for k in KINDS.values() if k.hed)
NMI_LIKE = tuple(k.name for k in KINDS.values() if k.nmi_like)


def platform_refusal(kind: str, pe: int, pes: int, what: str = "the board") -> str | None:
    """Why no arm64 platform can raise `kind` on PE index `pe` of `pes`, or None: every
    backend refuses these the same way before asking its own machine."""
    if not 0 <= pe < pes:
        return f"no PE {pe} ({what} has {pes})"
    if not KINDS[kind].arm64:
        return f"notification type {kind} cannot be raised on arm64"
    return None
