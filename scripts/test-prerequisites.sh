#!/usr/bin/env bash
# npm's "pretest" step: makes sure everything `npm test` needs is on this machine before anything is built.
#
# The tests drive the real kernel (zram disks, loop devices, network namespaces, netlink) and compare devMaster
# with real peers (Debian's udevadm/udevd 252 and 257, pyudev, systemd-hwdb, sfdisk, mkfs.*): they run as root.
# As root, missing Debian packages are installed with apt-get and the reference udev packages are unpacked into
# .cache (scripts/fetch-udev.sh, scripts/fetch-udev257.sh). Anything that is still missing stops the run at once,
# named, before the build.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
problems=()

# Debian package: what the tests use it for.
declare -A PACKAGES=(
  [python3]='/usr/bin/python3, which runs the libudev client tests'
  [python3-pyudev]='pyudev, the libudev client the database and broadcasts are checked with'
  [libsystemd0]='sd-hwdb, the reference hwdb lookup'
  [libudev1]='libudev, under pyudev'
  [libblkid1]='libblkid, the blkid builtin'
  [libkmod2]='libkmod, the kmod builtin'
  [util-linux]='unshare, nsenter, flock, partx, addpart (namespaces, locks, partitions)'
  [mount]='losetup (loop devices)'
  [iproute2]='ip (interfaces in private network namespaces)'
  [fdisk]='sfdisk (partition tables for blkid and the watch tests)'
  [dosfstools]='mkfs.vfat (blkid)'
  [btrfs-progs]='mkfs.btrfs (blkid, btrfs)'
  [e2fsprogs]='mkfs.ext4, tune2fs (blkid, btrfs)'
  [procps]='ps, pgrep (killed programs)'
  [systemd]='systemd-escape (unit names), systemd-analyze verify and systemctl --root (the unit files)'
  [ethtool]='ethtool (the .link settings applied in a network namespace)'
  [acl]='getfacl, setfacl (the uaccess builtin)'
  [xz-utils]="xz, to unpack the conformance suite's sysfs"
  [linux-libc-dev]='<linux/input-event-codes.h> (keyboard key names)'
)

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

if [ "$(uname -s)" != Linux ] || ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "npm test: needs a Debian (or derived) Linux machine with dpkg and apt-get" >&2
  exit 1
fi

missing=()
for p in "${!PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
root=false
[ "$(id -u)" = 0 ] && root=true

if [ ${#missing[@]} -gt 0 ] && $root; then
  echo "npm test: installing the Debian packages the tests need: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || problems+=("apt-get update failed")
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || problems+=("apt-get install ${missing[*]} failed")
  still=()
  for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
  missing=("${still[@]}")
fi
for p in "${missing[@]}"; do problems+=("Debian package $p is not installed: ${PACKAGES[$p]}"); done

if ! $root; then
  problems+=("npm test must run as root: the tests create zram disks, loop devices and network namespaces (uid $(id -u) now)")
fi

# zram is how the tests make real disks: built in, or a module root can load
if [ ! -e /sys/class/zram-control ] && $root; then modprobe zram 2>/dev/null || true; fi
[ -e /sys/class/zram-control ] || problems+=("the kernel has no zram (/sys/class/zram-control): the tests hot-add zram disks")

# systemd's udev-test suite and its sysfs, kept next to the repository
suite="$here/../shared/conformance/udev-test"
[ -f "$suite/cases.json" ] && [ -f "$suite/sys.tar.xz" ] || problems+=("systemd's udev-test suite is missing: expected $suite/cases.json and sys.tar.xz")

# the reference implementations, unpacked into .cache (never installed)
if $root && [ ${#problems[@]} -eq 0 ]; then
  for f in fetch-udev.sh fetch-udev257.sh; do
    if ! out=$("$here/scripts/$f" 2>&1); then problems+=("scripts/$f failed: ${out//$'\n'/ }"); fi
  done
  # the metrics tests' peers, unpacked the same way (never installed, no service started)
  for pkg in prometheus-node-exporter python3-prometheus-client python3-decorator; do
    if ! out=$("$here/scripts/fetch-deb.sh" "$pkg" 2>&1); then problems+=("scripts/fetch-deb.sh $pkg failed: ${out//$'\n'/ }"); fi
  done
fi

if [ ${#problems[@]} -gt 0 ]; then
  echo "npm test cannot run on this machine:" >&2
  for m in "${problems[@]}"; do echo "  - $m" >&2; done
  exit 1
fi
