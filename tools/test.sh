#!/bin/sh
# Sets up a fresh machine, builds everything and runs every test, shows
# that the RPM and the Debian package build from the source
# (packaging/xapi-gitdb.spec, packaging/debian/), then runs every fuzz
# target briefly (tools/fuzz.sh, clang with ASan and UBSan).
set -eu
cd "$(dirname "$0")/.."
./tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
(cd build && ctest --output-on-failure -j 2 --timeout 600)
echo "test.sh: building the RPM (tools/build-rpm.sh)"
./tools/build-rpm.sh run/rpm
echo "test.sh: building the Debian package (tools/build-deb.sh)"
./tools/build-deb.sh run/deb
echo "test.sh: fuzzing each reader for 10 s (tools/fuzz.sh)"
./tools/fuzz.sh 10
