#!/bin/sh
# What the read-only commands cost on a large pool, against plain git
# reading the same things in the same run (docs/benchmarks.md, "CLI
# reads"): `log -n 1`, `get REF FIELD`, `get UUID FIELD`, lookups by
# name_label, and `get REF`
# beside `git log -1` and `git show master:<field path>`. Medians of RUNS
# runs of wall time and peak RSS (/usr/bin/time).
#
#   tools/bench-cli-reads.sh [VMS] [RUNS]          (defaults 10000, 5)
#   OLD=/path/to/older/xapi-gitdb tools/bench-cli-reads.sh   also times that binary
set -eu
cd "$(dirname "$0")/.."
# GNU time reports peak RSS (Debian's `time`, not the shell keyword).
if [ ! -x /usr/bin/time ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq time
fi
VMS=${1:-10000}
RUNS=${2:-5}
BIN=./build/xapi-gitdb
WORK=${WORK:-/tmp/xgdb-bench-cli}
rm -rf "$WORK" && mkdir -p "$WORK"
REPO=$WORK/repo
./build/xgdb-gen-pool --vms "$VMS" --hosts 16 --seed 1 --out "$WORK/state.db" >/dev/null
$BIN --repo "$REPO" import "$WORK/state.db" >/dev/null
# One VM: its directory in the tree gives its ref, its uuid file its uuid.
VMDIR=$(git --git-dir="$REPO" ls-tree -r -d --name-only master xapi/VM | awk -F/ 'NF == 7' | sed -n 5p)
REF=${VMDIR##*/}
UUID=$(git --git-dir="$REPO" show "master:$VMDIR/uuid")
NAME=$(git --git-dir="$REPO" show "master:$VMDIR/name__label")

# median of wall seconds and of peak KiB over RUNS runs of "$@"
measure() {
  : >"$WORK/runs"
  status=0
  for _ in $(seq "$RUNS"); do
    start=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$WORK/t" "$@" >/dev/null 2>&1 || status=$?
    echo "$(( $(date +%s%N) - start )) $(tail -n 1 "$WORK/t")" >>"$WORK/runs"
  done
  mid=$(( (RUNS + 1) / 2 ))
  secs=$(cut -d' ' -f1 "$WORK/runs" | sort -n | sed -n "${mid}p")  # nanoseconds
  kib=$(cut -d' ' -f2 "$WORK/runs" | sort -n | sed -n "${mid}p")
  awk -v ns="$secs" -v kib="$kib" 'BEGIN { printf "%8.3f s %8.1f MB", ns / 1e9, kib / 1024 }'
  [ "$status" -eq 0 ] || printf "  (exit status %s)" "$status"
}

row() {
  label=$1; shift
  printf "%-34s %s\n" "$label" "$(measure "$@")"
}

echo "pool: $VMS VMs; repository $(du -sh "$REPO" | cut -f1); $RUNS runs each, medians"
row "git log -1 (reference)" git --git-dir="$REPO" log -1
row "git show master:<field> (ref.)" git --git-dir="$REPO" show "master:$VMDIR/name__label"
for b in $BIN ${OLD:-}; do
  echo "--- $b"
  row "log -n 1" "$b" --repo "$REPO" log -n 1
  row "get REF name__label" "$b" --repo "$REPO" get "$REF" name__label
  row "get UUID name__label" "$b" --repo "$REPO" get "$UUID" name__label
  row "get VM UUID name__label" "$b" --repo "$REPO" get VM "$UUID" name__label
  row "get VM NAME_LABEL uuid" "$b" --repo "$REPO" get VM "$NAME" uuid
  row "get VM <no such name> uuid (fails)" "$b" --repo "$REPO" get VM no-such-name uuid
  row "get REF (whole record)" "$b" --repo "$REPO" get "$REF"
done
