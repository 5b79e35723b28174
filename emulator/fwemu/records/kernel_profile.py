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
CXL_PROT_PRINT = KernelChange(
    "cxl_prot_print", "v6.2", "abdbf1a25daf42983a7becb6f6532ac7917951b0",
    "efi/cper, cxl: Decode CXL Protocol Error Section (+ 2fb6999dd06f: Decode CXL Error Log)")
CXL_EVENT_POST = KernelChange(
    "cxl_event_post", "v6.10", "5e4a264bf8b55d5a1b4c8cd96ac10b99f98d7487",
    "acpi/ghes: Process CXL Component Events")
CXL_PROT_POST = KernelChange(
    "cxl_prot_post", "v6.15", "315c2f0b53ba2645062627443a12cea73f3dad9c",
    "acpi/ghes, cper: Recognize and cache CXL Protocol errors (+ 36f257e3b0ba)")
CHANGES = (CTX_ALIGNMENT, CXL_PROT_PRINT, CXL_EVENT_POST, CXL_PROT_POST)


@dataclass(frozen=True)
class KernelProfile:
    """One kernel version as fwemu models it.

    ctx_alignment: how `cper_print_proc_arm` steps from one ARM context-information block
    to the next: 1 = `sizeof(*ctx_info) + ctx_info->size` (back to back; before v6.14),
    16 = `ALIGN(sizeof(*ctx_info) + ctx_info->size, 16)` (the UEFI layout; v6.14 on).
    cxl_prot_print: cper.c prints the CXL protocol error section (v6.2 on); before, it is
    an unknown section (hex dump).
    cxl_event_post: ghes_do_proc() hands CXL component event sections (general media,
    DRAM, memory module) to the CXL driver, checking their length and validation bits
    (v6.10 on); before, they are non-standard sections.
    cxl_prot_post: ghes_do_proc() hands CXL protocol error sections to the CXL driver,
    checking them first (v6.15 on); before, a non-standard section."""

    name: str
    kernel: str
    ctx_alignment: int
    cxl_prot_print: bool = False
    cxl_event_post: bool = False
    cxl_prot_post: bool = False

    def to_json(self) -> dict:
        return {"name": self.name, "kernel": self.kernel, "ctx_alignment": self.ctx_alignment,
                "cxl_prot_print": self.cxl_prot_print, "cxl_event_post": self.cxl_event_post,
                "cxl_prot_post": self.cxl_prot_post}


PROFILES: dict[str, KernelProfile] = {
    # Observed under QEMU (tests/linux): a two-context record in the UEFI layout is misread
    # from the second block on ("section length is too small").
    "6.1": KernelProfile("6.1", "Debian 12 6.1.192 (linux-image-6.1.0-57-arm64)", ctx_alignment=1),
    "6.6": KernelProfile("6.6", "mainline v6.6 (LTS)", ctx_alignment=1, cxl_prot_print=True),
    "6.12": KernelProfile("6.12", "mainline v6.12 (LTS)", ctx_alignment=1, cxl_prot_print=True,
                          cxl_event_post=True),
    "6.14": KernelProfile("6.14", "mainline v6.14", ctx_alignment=16, cxl_prot_print=True,
                          cxl_event_post=True),
    "mainline": KernelProfile("mainline", "torvalds/linux master (v6.15 and later; read in 2026)",
                              ctx_alignment=16, cxl_prot_print=True, cxl_event_post=True,
                              cxl_prot_post=True),
}
ALIASES: dict[str, str] = {}
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
