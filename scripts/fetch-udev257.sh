#!/usr/bin/env bash
# Unpacks Debian 13's udev 257 (the current stable udev, the compatibility target) into .cache/udev257, once,
# through ../shared/tools/udev257-ref.sh: its own C library and wrappers (udevadm, systemd-udevd, systemd-hwdb,
# helpers/*), its rules, hwdb sources and .link files under .cache/udev257/root. Never installed.
# Safe to run concurrently (a lock serializes callers).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/.cache/udev257"
tool="$here/../shared/tools/udev257-ref.sh"
mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9
[ -x "$dest/udevadm" ] && exit 0
[ -x "$tool" ] || [ -f "$tool" ] || { echo "fetch-udev257: $tool is missing (the workplace's shared tools)" >&2; exit 2; }
bash "$tool" "$dest" >/dev/null
"$dest/udevadm" --version >/dev/null
echo "unpacked udev $("$dest/udevadm" --version) into $dest"
