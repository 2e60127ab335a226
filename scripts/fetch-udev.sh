#!/usr/bin/env bash
# Unpacks Debian's udev package (the reference implementation) into .cache/udev/root, once.
# Gives udevadm, systemd-hwdb, rules.d and hwdb.d for compatibility tests and benchmarks.
# Never installs it: udevd must not run on the host. Safe to run concurrently (a lock serializes callers).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/.cache/udev"
mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9
if [ -x "$dest/root/bin/udevadm" ] || [ -x "$dest/root/usr/bin/udevadm" ]; then exit 0; fi
cd "$dest"
rm -f udev_*.deb
if ! apt-get download udev >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get download udev
fi
rm -rf root.tmp && dpkg-deb -x udev_*.deb root.tmp && rm -rf root && mv root.tmp root
echo "unpacked $(ls udev_*.deb) into $dest/root"
