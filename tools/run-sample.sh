#!/bin/sh
# Sets up a fresh machine, builds xapi-gitdb and runs a simulated pool:
# three real daemons on this machine, one repository each under ./run/pool,
# replicating each other (docs/replication.md), until interrupted.
# With "single", it serves the real 2014 two-host database in tests/data/
# from one daemon instead, as before replication.
set -eu
cd "$(dirname "$0")/.."
./tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target xapi-gitdb xgdb-gen-pool
mkdir -p run
if [ "${1:-}" = single ]; then
  REPO=run/xapi-db
  if [ ! -d "$REPO" ]; then
    ./build/xapi-gitdb --repo "$REPO" import tests/data/state-5.82.xml
  fi
  ./build/xapi-gitdb --repo "$REPO" log -n 3
  echo "Serving $REPO on unix socket run/xapi-gitdb.sock (Ctrl-C to stop)."
  exec ./build/xapi-gitdb --repo "$REPO" serve --socket run/xapi-gitdb.sock
fi
rm -rf run/pool
echo "Starting a pool of 3 daemons in run/pool (Ctrl-C stops them all). Try, in another terminal:"
echo "  curl -s --unix-socket run/pool/host0/xapi-gitdb.sock http://localhost/remote_db_access_v2 -d '[\"Read_refs\",\"host\"]'"
echo "  ./build/xapi-gitdb --repo run/pool/host1/repo peers"
exec ./build/xapi-gitdb sim --hosts 3 --dir run/pool --pool-peers
