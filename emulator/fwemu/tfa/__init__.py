"""The tfa-qemu board's machine: QEMU virt (secure=on) running TF-A with the fwemu agent in
BL31 (ports/tf-a/qemu, built by scripts/build-tfa-qemu.sh), edk2 as BL33 and Debian's arm64
kernel, with the board's own HEST and an SDEI table installed through the kernel's initrd
ACPI table upgrade. fwemu talks to it only as to any agent board: over the secure UART's
loopback socket (targets/agent.py). This package only boots and stops the machine.
"""
