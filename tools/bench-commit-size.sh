#!/bin/sh
# What one single-field commit adds to the repository (docs/benchmarks.md,
# "Commit size"): new objects and their bytes (uncompressed, as git counts
# them: `git cat-file --batch-check`) per commit, for a string write, a
# key added to a map (add_to_map: in front) and a key removed, on the real
# 2014 pool. With OLD=/path/to/older/xapi-gitdb the same commits are made
# by that binary on its own import, in the same run.
#
#   tools/bench-commit-size.sh [COMMITS]            (default 20 of each kind)
set -eu
cd "$(dirname "$0")/.."
N=${1:-20}
WORK=${WORK:-/tmp/xgdb-bench-commit-size}
STATE=tests/data/state-5.82.xml

# new objects and their bytes between two commits
added() {
  git --git-dir="$1" rev-list --objects "$2..$3" | cut -d' ' -f1 |
    git --git-dir="$1" cat-file --batch-check='%(objectsize)' |
    awk '{ n++; b += $1 } END { printf "%d %d", n, b }'
}

# "<label>: objects/commit bytes/commit" for N commits made by `$@ $i`
measure() {
  label=$1; repo=$2; shift 2
  before=$(git --git-dir="$repo" rev-parse master)
  for i in $(seq "$N"); do "$@" "$i" >/dev/null; done
  after=$(git --git-dir="$repo" rev-parse master)
  added "$repo" "$before" "$after" |
    awk -v n="$N" -v l="$label" '{ printf "  %-28s %5.1f objects %7.0f bytes per commit\n", l, $1 / n, $2 / n }'
}

for bin in ./build/xapi-gitdb ${OLD:-}; do
  rm -rf "$WORK" && mkdir -p "$WORK"
  repo=$WORK/repo
  "$bin" --repo "$repo" import "$STATE" >/dev/null
  # The VM with the most other_config keys: add_to_map there needs an order.
  vm=$(git --git-dir="$repo" ls-tree -r --name-only master xapi/VM |
       awk -F/ '$8 == "other_config" { n[$7]++ } END { for (r in n) print n[r], r }' |
       sort -rn | head -1 | cut -d' ' -f2)
  echo "--- $bin ($(git --git-dir="$repo" show master:meta/format)); VM $vm"
  string() { "$bin" --repo "$repo" set "$vm" name__label "label $1"; }
  add() { "$bin" --repo "$repo" set "$vm" other_config --add-to-map "zz-key-$1" "v"; }
  remove() { "$bin" --repo "$repo" set "$vm" other_config --remove-from-map "zz-key-$1"; }
  measure "write_field (string)" "$repo" string
  measure "add_to_map (new key first)" "$repo" add
  measure "remove_from_map" "$repo" remove
done
