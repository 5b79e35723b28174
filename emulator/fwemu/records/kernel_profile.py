"""Which Linux kernel the sim OS model and the kernel-wording printer follow.

A `KernelProfile` names a kernel version and the behaviours that differ between the
versions fwemu models. Each behaviour is tied to the mainline commit that introduced it
(docs/kernel-profiles.md has the table); a profile says which side of that commit it is on.
The default is the kernel the project runs under QEMU and compares with: Debian 12's
6.1 (6.1.192).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class KernelChange:
    """A behaviour change in mainline Linux: the flag it sets, the first release carrying
    it, and the commit."""

    flag: str
    release: str
    commit: str
    subject: str


CTX_ALIGNMENT = KernelChange(
    "ctx_alignment", "v6.14", "d6a2d02aa060531607f4a8411ec384470faa2761",
    "efi/cper: Fix cper_arm_ctx_info alignment")
CHANGES = (CTX_ALIGNMENT,)


@dataclass(frozen=True)
class KernelProfile:
    """One kernel version as fwemu models it.

    ctx_alignment: how `cper_print_proc_arm` steps from one ARM context-information block
    to the next: 1 = `sizeof(*ctx_info) + ctx_info->size` (back to back; before v6.14),
    16 = `ALIGN(sizeof(*ctx_info) + ctx_info->size, 16)` (the UEFI layout; v6.14 on)."""

    name: str
    kernel: str
    ctx_alignment: int

    def to_json(self) -> dict:
        return {"name": self.name, "kernel": self.kernel, "ctx_alignment": self.ctx_alignment}


PROFILES: dict[str, KernelProfile] = {
    # Observed under QEMU (tests/linux): a two-context record in the UEFI layout is misread
    # from the second block on ("section length is too small").
    "6.1": KernelProfile("6.1", "Debian 12 6.1.192 (linux-image-6.1.0-57-arm64)", ctx_alignment=1),
    "6.14": KernelProfile("6.14", "mainline v6.14 and later", ctx_alignment=16),
}
ALIASES = {"mainline": "6.14"}
DEFAULT = PROFILES["6.1"]


def names() -> list[str]:
    return [*PROFILES, *ALIASES]


def get(name: str | KernelProfile | None) -> KernelProfile:
    """A profile by name ('6.1', '6.14', 'mainline'); None gives the default."""
    if name is None:
        return DEFAULT
    if isinstance(name, KernelProfile):
        return name
    key = ALIASES.get(str(name).strip(), str(name).strip())
    if key not in PROFILES:
        raise UsageError("--kernel", f"unknown kernel profile {name!r} (one of: {', '.join(names())})")
    return PROFILES[key]
