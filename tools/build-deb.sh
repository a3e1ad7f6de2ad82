#!/bin/sh
# Builds the Debian package (packaging/debian/, debhelper with CMake) from a
# source tree of HEAD (git archive), installs debhelper when missing, then
# checks the package: its files, its conffile, and that the binary it holds
# runs with the libraries its dependencies name.
#
#   tools/build-deb.sh [OUTDIR]      (default ./run/deb); prints the .deb path
set -eu
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-run/deb}")
if ! command -v dh >/dev/null || ! command -v dpkg-buildpackage >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    debhelper dpkg-dev fakeroot
fi
VERSION=$(sed -n '1s/^xapi-gitdb (\([^)]*\)).*/\1/p' packaging/debian/changelog)
SRC="$OUT/xapi-gitdb-$VERSION"
rm -rf "$OUT" && mkdir -p "$SRC"
git archive --format=tar HEAD | tar -x -C "$SRC"
cp -r packaging/debian "$SRC/debian"
# The compiler cache, as for the RPM (tools/build-rpm.sh).
if command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_BASEDIR=/ CCACHE_NOHASHDIR=1
fi
(cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
  dpkg-buildpackage -b -uc -us >"$OUT/build.log" 2>&1) || { tail -30 "$OUT/build.log"; exit 1; }
DEB=$(find "$OUT" -maxdepth 1 -name "xapi-gitdb_${VERSION}_*.deb" | head -1)
[ -n "$DEB" ] || { echo "build-deb: no package was made" >&2; exit 1; }

# What a user gets: the layout, the conffile, a binary that runs.
dpkg-deb -c "$DEB" >"$OUT/contents"
for path in ./usr/sbin/xapi-gitdb ./usr/lib/systemd/system/xapi-gitdb.service \
            ./etc/xapi-gitdb/xapi-gitdb.conf ./var/lib/xapi-db/; do
  grep -q " $path\$" "$OUT/contents" || { echo "build-deb: $path missing" >&2; exit 1; }
done
grep -q '^drwx------ .* ./var/lib/xapi-db/$' "$OUT/contents" ||
  { echo "build-deb: /var/lib/xapi-db is not mode 0700" >&2; exit 1; }
dpkg-deb -I "$DEB" conffiles | grep -qx /etc/xapi-gitdb/xapi-gitdb.conf ||
  { echo "build-deb: the configuration is not a conffile" >&2; exit 1; }
dpkg-deb -x "$DEB" "$OUT/root"
"$OUT/root/usr/sbin/xapi-gitdb" --version >/dev/null
echo "$DEB"
