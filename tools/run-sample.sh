#!/bin/sh
# Sets up a fresh machine, builds xapi-gitdb, imports the sample pool (the
# real 2014 two-host database in tests/data/) into ./run/xapi-db, shows what
# is in it, and serves it on ./run/xapi-gitdb.sock until interrupted.
set -eu
cd "$(dirname "$0")/.."
./tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target xapi-gitdb
mkdir -p run
REPO=run/xapi-db
if [ ! -d "$REPO" ]; then
  ./build/xapi-gitdb --repo "$REPO" import tests/data/state-5.82.xml
fi
./build/xapi-gitdb --repo "$REPO" log -n 3
echo
echo "Serving $REPO on unix socket run/xapi-gitdb.sock (Ctrl-C to stop). Try:"
echo "  curl -s --unix-socket run/xapi-gitdb.sock http://localhost/remote_db_access_v2 -d '[\"Read_refs\",\"host\"]'"
exec ./build/xapi-gitdb --repo "$REPO" serve --socket run/xapi-gitdb.sock
