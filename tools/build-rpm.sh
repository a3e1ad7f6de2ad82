#!/bin/sh
# Builds the RPM of packaging/xapi-gitdb.spec from a source tarball of HEAD
# (git archive), with rpmbuild from Debian's `rpm` package (installed when
# missing). BuildRequires name Fedora/CentOS packages that Debian's rpm
# database does not hold, so they are not checked here (--nodeps): the build
# itself uses the Debian packages tools/install-deps.sh installs.
#
#   tools/build-rpm.sh [OUTDIR]      (default ./run/rpm); prints the .rpm path
set -eu
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-run/rpm}")
if ! command -v rpmbuild >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends rpm
fi
VERSION=$(sed -n 's/^Version: *//p' packaging/xapi-gitdb.spec)
rm -rf "$OUT" && mkdir -p "$OUT/SOURCES" "$OUT/SPECS"
git archive --format=tar.gz --prefix="xapi-gitdb-$VERSION/" -o "$OUT/SOURCES/xapi-gitdb-$VERSION.tar.gz" HEAD
cp packaging/xapi-gitdb.spec "$OUT/SPECS/"
# The compiler cache, when there is one, with paths taken relative to the
# build directory so that the spec's build (<tarball>/build) shares it with
# a checkout's (<checkout>/build).
if command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_BASEDIR=/ CCACHE_NOHASHDIR=1
fi
# systemd-rpm-macros is Fedora's; define the few macros the spec uses.
rpmbuild -bb --nodeps --define "_topdir $OUT" \
  --define "_unitdir /usr/lib/systemd/system" \
  --define "systemd_post() :" --define "systemd_preun() :" \
  --define "systemd_postun_with_restart() :" \
  --define "_smp_mflags -j$(nproc)" \
  "$OUT/SPECS/xapi-gitdb.spec" >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
RPM=$(find "$OUT/RPMS" -name 'xapi-gitdb-*.rpm' ! -name '*debug*' | head -1)
rpm -qlp "$RPM" >/dev/null
echo "$RPM"
