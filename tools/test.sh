#!/bin/sh
# Sets up a fresh machine, builds everything and runs every test.
set -eu
cd "$(dirname "$0")/.."
./tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
cd build && ctest --output-on-failure -j 2 --timeout 600
