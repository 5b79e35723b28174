"""QEMU arm64 `virt` running Debian's arm64 kernel: the pieces behind the `qemu` target.

    image     where the guest image, the UEFI firmware and the QEMU binary are; what is missing
    launcher  start / stop one guest (QEMU command line, shared RAM file, pid file, run dir)
    console   the serial console over pyserial socket:// (always drained)
    qmp       a small QMP client (unix socket)
    acpi      discovery: RSDP -> XSDT -> HEST in guest RAM, checksums, GHESv2 sources

Facts these rest on: shared/reference/qemu-linux.md; user guide: docs/qemu.md.
"""

from .image import GuestImage, find_image, missing_prerequisites

__all__ = ["GuestImage", "find_image", "missing_prerequisites"]
