#!/usr/bin/env bash
# Everything the qemu-virt board needs on a Debian 12 host, idempotent and fast when cached:
#   1. host packages: QEMU 10.0.2 (qemu-system-arm from bookworm-backports; the suite is
#      added, on the mirror this machine's apt sources name, if missing), UEFI firmware (qemu-efi-aarch64), cpio;
#   2. the guest image in $CACHE: Debian's arm64 kernel (the linux-image-*-arm64 .deb behind
#      linux-image-arm64, downloaded with apt and unpacked, never installed) and a gzip'd
#      cpio initramfs of busybox-static (arm64 .deb, unpacked) + scripts/guest-init.
# Nothing arm64 is installed on the host: the arm64 architecture is added for downloads only.
#
#   CACHE   [${XDG_CACHE_HOME:-$HOME/.cache}/fwemu-qemu]   (also $FWEMU_QEMU_CACHE)
#   KPKG    [the package behind linux-image-arm64, e.g. linux-image-6.1.0-56-arm64]
#   FWEMU_QEMU_SKIP_HOST=1    do not touch host packages (image only)
#   FWEMU_QEMU_REFRESH=1      re-resolve and re-download the kernel / busybox packages
# Prints the cache paths; fwemu finds the image there (fwemu.qemu.image).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${FWEMU_QEMU_CACHE:-${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fwemu-qemu}}
INIT="$HERE/guest-init"
. "$HERE/lib/apt-mirror.sh"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
t0=$EPOCHREALTIME
updated=0
apt_update() { [ "$updated" = 1 ] || { $SUDO apt-get update -qq; updated=1; }; }
elapsed() { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "fetch-qemu-linux: done in %.1f s\n", b-a}'; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# ---- 1. host packages ------------------------------------------------------------------
if [ "${FWEMU_QEMU_SKIP_HOST:-0}" != 1 ]; then
    qver=$(dpkg-query -W -f='${Version}' qemu-system-arm 2>/dev/null || true)
    case "$qver" in
        *:10.*|*:1[1-9].*) : ;;                      # a QEMU >= 10 from the package: keep it
        *)
            if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
                mirror=$(debian_mirror)
                echo "adding the bookworm-backports suite ($mirror, from this machine's apt sources)"
                $SUDO tee /etc/apt/sources.list.d/fwemu-bookworm-backports.sources >/dev/null <<SRC
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
                updated=0
            fi
            apt_update
            echo "installing qemu-system-arm from bookworm-backports"
            $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports \
                qemu-system-arm >/dev/null
            ;;
    esac
    missing=()
    for p in qemu-efi-aarch64 cpio; do installed "$p" || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        apt_update
        $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    echo "host: $(qemu-system-aarch64 --version | head -1); UEFI $(dpkg-query -W -f='${Version}' qemu-efi-aarch64)"
fi

# ---- 2. guest image --------------------------------------------------------------------
mkdir -p "$CACHE/debs"
init_sum=$(sha256sum "$INIT" | cut -d' ' -f1)
stamp="$CACHE/image.stamp"
if [ "${FWEMU_QEMU_REFRESH:-0}" != 1 ] && [ -s "$stamp" ] && [ -e "$CACHE/vmlinuz" ] \
   && [ -e "$CACHE/initramfs.cpio.gz" ] && grep -qx "init=$init_sum" "$stamp"; then
    echo "guest image cached in $CACHE ($(grep '^kernel=' "$stamp"))"
    elapsed
    exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "adding the arm64 architecture (package downloads only; nothing arm64 is installed)"
    $SUDO dpkg --add-architecture arm64
    updated=0
fi
if ! apt-cache show linux-image-arm64:arm64 >/dev/null 2>&1; then updated=0; apt_update; fi

if [ -z "${KPKG:-}" ]; then
    KPKG=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-/{print $2; exit}')
    KPKG=${KPKG%:arm64}
fi
[ -n "$KPKG" ] || { echo "cannot resolve the kernel package behind linux-image-arm64" >&2; exit 1; }
echo "kernel package: $KPKG"
cd "$CACHE/debs"
[ "${FWEMU_QEMU_REFRESH:-0}" = 1 ] && rm -f ./*.deb
# apt-get download as root warns when _apt cannot read the directory; harmless
ls "${KPKG}"_*_arm64.deb >/dev/null 2>&1 || apt-get download -q "${KPKG}:arm64" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
ls busybox-static_*_arm64.deb >/dev/null 2>&1 || apt-get download -q busybox-static:arm64 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
for f in *%3a*.deb; do [ -e "$f" ] && mv "$f" "${f//%3a/_}"; done
kdeb=$(ls "${KPKG}"_*_arm64.deb | head -1)
bdeb=$(ls busybox-static_*_arm64.deb | head -1)
[ -f "$kdeb" ] && [ -f "$bdeb" ] || { echo "download failed ($KPKG, busybox-static)" >&2; exit 1; }

KDIR="$CACHE/kernel-$KPKG"
if [ ! -d "$KDIR/boot" ] || [ "$kdeb" -nt "$KDIR/boot" ]; then
    rm -rf "$KDIR"; mkdir -p "$KDIR"
    # only /boot (vmlinuz + config) is needed: the guest loads no modules
    dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$KDIR" --wildcards './boot/*'
fi
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -1)
ln -sf "$VMLINUZ" "$CACHE/vmlinuz"
for opt in CONFIG_ACPI_APEI_GHES CONFIG_ACPI_APEI_SEA CONFIG_ACPI_APEI_MEMORY_FAILURE \
           CONFIG_ACPI_HED CONFIG_UEFI_CPER_ARM CONFIG_ACPI_APEI_PCIEAER; do
    grep -q "^$opt=y" "$KDIR"/boot/config-* || echo "warning: $opt is not =y in $(basename "$VMLINUZ")'s config" >&2
done

BBDIR="$CACHE/busybox"
rm -rf "$BBDIR"; mkdir -p "$BBDIR"
dpkg-deb -x "$bdeb" "$BBDIR"
ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root}
cp "$BBDIR/bin/busybox" "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
install -m 0755 "$INIT" "$ROOT/init"
echo 'export PS1="guest# "' > "$ROOT/etc/profile"
(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -9n) > "$CACHE/initramfs.cpio.gz.tmp"
mv "$CACHE/initramfs.cpio.gz.tmp" "$CACHE/initramfs.cpio.gz"
{
    echo "kernel=$(basename "$VMLINUZ" | sed 's/^vmlinuz-//')"
    echo "kernel_deb=$kdeb"
    echo "busybox_deb=$bdeb"
    echo "init=$init_sum"
} > "$stamp"
echo "guest image: $CACHE/vmlinuz -> $VMLINUZ, $CACHE/initramfs.cpio.gz ($(stat -c %s "$CACHE/initramfs.cpio.gz") bytes)"
elapsed
