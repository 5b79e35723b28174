"""Where the qemu-virt guest's pieces are, and what is missing.

The guest image (kernel + initramfs) is built by scripts/fetch-qemu-linux.sh into
`$FWEMU_QEMU_CACHE`, else `${XDG_CACHE_HOME:-$HOME/.cache}/fwemu-qemu`. The QEMU binary is
`$FWEMU_QEMU`, else `qemu-system-aarch64` on PATH; the UEFI firmware is
`$FWEMU_QEMU_BIOS`, else Debian's qemu-efi-aarch64 `QEMU_EFI.fd`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

FETCH_HINT = "run scripts/fetch-qemu-linux.sh (installs QEMU 10.0.2 and qemu-efi-aarch64, builds the guest image)"
BIOS_CANDIDATES = ("/usr/share/qemu-efi-aarch64/QEMU_EFI.fd", "/usr/share/AAVMF/AAVMF_CODE.fd")


def cache_dir() -> str:
    if os.environ.get("FWEMU_QEMU_CACHE"):
        return os.environ["FWEMU_QEMU_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fwemu-qemu")


@dataclass(frozen=True)
class GuestImage:
    qemu: str | None
    qemu_version: tuple[int, int, int] | None
    bios: str | None
    kernel: str | None
    initrd: str | None
    kernel_release: str | None

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.qemu_version)) if self.qemu_version else "unknown"

    def missing(self) -> list[str]:
        out = []
        if not self.qemu:
            out.append(f"no QEMU: {os.environ.get('FWEMU_QEMU') or 'qemu-system-aarch64'} not found "
                       f"({FETCH_HINT}, or set FWEMU_QEMU)")
        elif self.qemu_version and self.qemu_version < (10, 0, 0):
            out.append(f"{self.qemu} is QEMU {self.version_text}: the RAS (ras=on) GHESv2 SEA source "
                       "needs QEMU >= 10.0 (bookworm-backports has 10.0.2)")
        if not self.bios:
            out.append(f"no UEFI firmware ({BIOS_CANDIDATES[0]}; apt-get install qemu-efi-aarch64, "
                       "or set FWEMU_QEMU_BIOS)")
        if not self.kernel:
            out.append(f"no guest kernel in {cache_dir()} ({FETCH_HINT})")
        if not self.initrd:
            out.append(f"no guest initramfs in {cache_dir()} ({FETCH_HINT})")
        return out


@lru_cache(maxsize=8)
def qemu_version(binary: str) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"version (\d+)\.(\d+)(?:\.(\d+))?", out)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


def _existing(path: str | None) -> str | None:
    return path if path and os.path.exists(path) else None


def find_image() -> GuestImage:
    want = os.environ.get("FWEMU_QEMU") or "qemu-system-aarch64"
    qemu = shutil.which(want)
    bios = _existing(os.environ.get("FWEMU_QEMU_BIOS")) if os.environ.get("FWEMU_QEMU_BIOS") else \
        next((p for p in BIOS_CANDIDATES if os.path.exists(p)), None)
    cache = cache_dir()
    kernel = _existing(os.environ.get("FWEMU_QEMU_KERNEL") or os.path.join(cache, "vmlinuz"))
    initrd = _existing(os.environ.get("FWEMU_QEMU_INITRD") or os.path.join(cache, "initramfs.cpio.gz"))
    release = None
    if kernel:
        m = re.search(r"vmlinuz-(.+)$", os.path.realpath(kernel))
        release = m.group(1) if m else None
    return GuestImage(qemu=qemu, qemu_version=qemu_version(qemu) if qemu else None, bios=bios,
                      kernel=kernel, initrd=initrd, kernel_release=release)


def missing_prerequisites() -> list[str]:
    """What stops a qemu-virt guest from booting here (empty when nothing does)."""
    out = find_image().missing()
    import importlib.util
    if importlib.util.find_spec("serial") is None:   # pyserial: the console client
        out.append("pyserial is not installed (pip install 'pyserial>=3.5')")
    return out
