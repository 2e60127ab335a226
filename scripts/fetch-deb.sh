#!/usr/bin/env bash
# Unpacks a Debian package (a test peer: prometheus-node-exporter, python3-prometheus-client) into
# .cache/deb/PACKAGE/root, once, with apt-get download and dpkg-deb -x. Never installed: no maintainer script
# runs and no service starts. Safe to run concurrently (a lock serializes callers of one package).
set -euo pipefail
pkg="${1:?usage: fetch-deb.sh PACKAGE}"
case "$pkg" in *[!a-z0-9.+-]*) echo "fetch-deb: invalid package name '$pkg'" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/.cache/deb/$pkg"
mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9
[ -f "$dest/root/.complete" ] && exit 0
cd "$dest"
rm -f ./*.deb
if ! apt-get download "$pkg" >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get download "$pkg"
fi
rm -rf root.tmp && dpkg-deb -x ./"$pkg"_*.deb root.tmp && touch root.tmp/.complete && rm -rf root && mv root.tmp root
echo "unpacked $(ls ./*.deb) into $dest/root"
