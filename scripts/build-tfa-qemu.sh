#!/usr/bin/env bash
# Real EL3 firmware for the tfa-qemu board: TF-A BL1/BL2/BL31 for PLAT=qemu with the fwemu
# target agent linked into BL31 (ports/tf-a/qemu), and edk2's RAM-loadable ArmVirtQemuKernel
# UEFI as BL33. Idempotent; a second run with nothing changed takes about a second.
#
#   1. host packages the builds need (apt, only those missing);
#   2. the TF-A and edk2 source packages from the Debian source registry, through a private
#      apt configuration under $CACHE/apt (the machine's apt state is not touched), on the
#      mirror this machine's own apt sources name; unpacked with dpkg-source (Debian's
#      patches applied);
#   3. edk2 ArmVirtQemuKernel (RELEASE) with ports/tf-a/qemu/edk2.patch, cached by the edk2
#      source version and the patch;
#   4. TF-A with ports/tf-a/qemu/tf-a.patch applied to a fresh copy of the tree, cached by
#      the TF-A version, the port's files and the agent's C (csrc).
#
#   CACHE  [${XDG_CACHE_HOME:-$HOME/.cache}/fwemu-tfa]   (also $FWEMU_TFA_CACHE)
#   TFA_VERSION  [2.12.1+dfsg-1, trixie]   EDK2_VERSION  [2022.11-6+deb12u2, bookworm]
#   FWEMU_TFA_SKIP_HOST=1   do not install host packages
# Result: $CACHE/current/qemu_fw.bios (-bios for QEMU: BL1 + FIP), current/build.json.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PORT="$REPO/ports/tf-a/qemu"
CACHE=${FWEMU_TFA_CACHE:-${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fwemu-tfa}}
TFA_VERSION=${TFA_VERSION:-2.12.1+dfsg-1}
EDK2_VERSION=${EDK2_VERSION:-2022.11-6+deb12u2}
JOBS=${JOBS:-$(nproc)}
. "$HERE/lib/apt-mirror.sh"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
t0=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }
log() { echo "build-tfa-qemu: $*"; }
quiet() {   # quiet LOGFILE CMD...: run with its output in LOGFILE, shown only on failure
    local logf=$1; shift
    if ! "$@" >"$logf" 2>&1; then
        echo "build-tfa-qemu: failed: $*" >&2; tail -n 40 "$logf" >&2; return 1
    fi
}

# ---- the cache key: everything that goes into the firmware ------------------------------
key_files=("$PORT"/* "$REPO"/csrc/frame.[ch] "$REPO"/csrc/ghes.[ch] "$REPO"/csrc/cper.h
           "$REPO"/csrc/agent/*.[ch] "$0")
key=$( { echo "tfa=$TFA_VERSION edk2=$EDK2_VERSION"; sha256sum "${key_files[@]}" | cut -d' ' -f1; } \
       | sha256sum | cut -c1-16)
OUT="$CACHE/out/$key"
if [ -s "$OUT/qemu_fw.bios" ] && [ -s "$OUT/build.json" ]; then
    ln -sfn "$OUT" "$CACHE/current"
    log "cached: $OUT/qemu_fw.bios (key $key) in $(since "$t0") s"
    exit 0
fi

# ---- 1. host packages ---------------------------------------------------------------------
if [ "${FWEMU_TFA_SKIP_HOST:-0}" != 1 ]; then
    pkgs=(build-essential gcc-aarch64-linux-gnu device-tree-compiler libssl-dev uuid-dev
          python3 dpkg-dev xz-utils)
    missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
fi

# ---- 2. sources from the Debian source registry (private apt state) -----------------------
APT="$CACHE/apt"
mkdir -p "$APT"/{lists/partial,cache/archives/partial,parts} "$CACHE/src" "$CACHE/dl"
mirror=$(debian_mirror)
printf 'deb-src %s trixie main\ndeb-src %s bookworm main\n' "$mirror" "$mirror" > "$APT/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=$APT/parts"
          -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o "Dir::State::status=/dev/null"
          -o "APT::Sandbox::User=root" -qq)
updated=0
fetch_src() {   # fetch_src PACKAGE VERSION -> the .dsc path
    local pkg=$1 ver=$2 dsc
    dsc="$CACHE/dl/${pkg}_${ver#*:}.dsc"
    if [ ! -s "$dsc" ]; then
        if [ "$updated" = 0 ]; then apt-get "${apt_opts[@]}" update; updated=1; fi
        (cd "$CACHE/dl" && apt-get "${apt_opts[@]}" source --download-only "$pkg=$ver") >&2
    fi
    [ -s "$dsc" ] || { echo "build-tfa-qemu: source package $pkg=$ver not found on $mirror" >&2; return 1; }
    echo "$dsc"
}
unpack() {      # unpack DSC DIR: dpkg-source -x once (applies Debian's patches)
    local dsc=$1 dir=$2
    if [ ! -f "$dir/.fwemu-unpacked" ]; then
        rm -rf "$dir"
        dpkg-source --no-check -x "$dsc" "$dir" >/dev/null
        touch "$dir/.fwemu-unpacked"
    fi
}
tfa_dsc=$(fetch_src arm-trusted-firmware "$TFA_VERSION")
edk2_dsc=$(fetch_src edk2 "$EDK2_VERSION")
TFA_SRC="$CACHE/src/arm-trusted-firmware-$TFA_VERSION"
EDK2_SRC="$CACHE/src/edk2-$EDK2_VERSION"
unpack "$tfa_dsc" "$TFA_SRC"
unpack "$edk2_dsc" "$EDK2_SRC"
ln -sfn "$TFA_SRC" "$CACHE/src/tf-a"      # pristine TF-A (tests read its SDEI state table)
log "sources ready in $(since "$t0") s (TF-A $TFA_VERSION, edk2 $EDK2_VERSION, from $mirror)"

# ---- 3. edk2 ArmVirtQemuKernel (BL33) -----------------------------------------------------
edk2_patch=$(sha256sum "$PORT/edk2.patch" | cut -c1-12)
EFI="$CACHE/edk2-$EDK2_VERSION-ArmVirtQemuKernel-RELEASE-$edk2_patch.fd"
if [ ! -s "$EFI" ]; then
    t1=$EPOCHREALTIME
    if [ -f "$EDK2_SRC/.fwemu-patched" ] && [ "$(cat "$EDK2_SRC/.fwemu-patched")" != "$edk2_patch" ]; then
        rm -rf "$EDK2_SRC"          # another version of the patch: start from Debian's tree
        unpack "$edk2_dsc" "$EDK2_SRC"
    fi
    (
        cd "$EDK2_SRC"
        if [ ! -f .fwemu-patched ]; then
            patch -p1 --quiet --forward < "$PORT/edk2.patch"
            echo "$edk2_patch" > .fwemu-patched
        fi
        # Debian builds this archive the same way (debian/rules); the orig tree lacks it
        aarch64-linux-gnu-gcc -c -fpic ArmPkg/Library/GccLto/liblto-aarch64.s \
            -o ArmPkg/Library/GccLto/liblto-aarch64.a
        quiet "$CACHE/edk2-basetools.log" make -C BaseTools -j"$JOBS"
        export WORKSPACE=$PWD PACKAGES_PATH=$PWD EDK_TOOLS_PATH=$PWD/BaseTools \
               GCC5_AARCH64_PREFIX=aarch64-linux-gnu-
        set +u
        . ./edksetup.sh BaseTools >/dev/null
        set -u
        # SECURE_BOOT_ENABLE=TRUE: with FALSE a Debian patch leaves SecureBootVariableLib
        # unresolved in this version
        quiet "$CACHE/edk2-build.log" build -a AARCH64 -t GCC5 -p ArmVirtPkg/ArmVirtQemuKernel.dsc \
              -b RELEASE -D SECURE_BOOT_ENABLE=TRUE -n "$JOBS" -q
    )
    cp "$EDK2_SRC/Build/ArmVirtQemuKernel-AARCH64/RELEASE_GCC5/FV/QEMU_EFI.fd" "$EFI.tmp"
    mv "$EFI.tmp" "$EFI"
    log "edk2 ArmVirtQemuKernel built in $(since "$t1") s"
fi

# ---- 4. TF-A with the agent ---------------------------------------------------------------
t1=$EPOCHREALTIME
WORK="$CACHE/work/tf-a-$key"
rm -rf "$CACHE/work"
mkdir -p "$CACHE/work"
cp -a "$TFA_SRC" "$WORK"
patch -d "$WORK" -p1 --quiet --forward < "$PORT/tf-a.patch"
quiet "$CACHE/tf-a-build.log" make -C "$WORK" -j"$JOBS" PLAT=qemu CROSS_COMPILE=aarch64-linux-gnu- \
    QEMU_USE_GIC_DRIVER=QEMU_GICV3 SDEI_SUPPORT=1 EL3_EXCEPTION_HANDLING=1 \
    FWEMU_AGENT=1 FWEMU_PORT="$PORT" FWEMU_CSRC="$REPO/csrc" \
    BL33="$EFI" all fip
rel="$WORK/build/qemu/release"
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
# QEMU's -bios image (BL1 + FIP), as plat/qemu's makefile lays it out
cp "$rel/qemu_fw.bios" "$rel/bl31/bl31.elf" "$OUT.tmp/"
tfa_s=$(since "$t1")
cat > "$OUT.tmp/build.json" <<JSON
{"key": "$key", "tf_a": "$TFA_VERSION", "edk2": "$EDK2_VERSION", "mirror": "$mirror",
 "options": "PLAT=qemu QEMU_USE_GIC_DRIVER=QEMU_GICV3 SDEI_SUPPORT=1 EL3_EXCEPTION_HANDLING=1 FWEMU_AGENT=1",
 "tf_a_build_s": $tfa_s, "built": "$(date -u +%FT%TZ)"}
JSON
rm -rf "$OUT" "$WORK"
mv "$OUT.tmp" "$OUT"
ln -sfn "$OUT" "$CACHE/current"
# keep the newest few builds
ls -1dt "$CACHE"/out/* 2>/dev/null | tail -n +4 | xargs -r rm -rf
log "TF-A + agent built in $tfa_s s; firmware: $OUT/qemu_fw.bios (total $(since "$t0") s)"
