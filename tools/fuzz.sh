#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz/, clang with ASan and UBSan) and
# runs each for SECONDS (default 20), starting from seeds made from the test
# vectors and from the corpus earlier runs kept in run/fuzz/corpus. A crash,
# a leak, a timeout (10 s for one input) or a violated property fails the
# run and leaves the input in run/fuzz/crashes/ (docs/hardening.md).
#
#   tools/fuzz.sh [SECONDS] [TARGET...]     e.g. tools/fuzz.sh 3600 v1_request_fuzz
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-20}
[ $# -gt 0 ] && shift
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-dev
fi
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DXGDB_FUZZ=ON -DBUILD_TESTING=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_targets
BIN=build-fuzz/tests/fuzz
rm -rf run/fuzz/seeds && mkdir -p run/fuzz/corpus run/fuzz/crashes
"$BIN/fuzz_seeds" run/fuzz/seeds
TARGETS=${*:-$(cd "$BIN" && ls *_fuzz)}
status=0
for t in $TARGETS; do
  mkdir -p "run/fuzz/corpus/$t"
  # state.db documents are larger than libFuzzer's default 4 KB inputs.
  max_len=4096; [ "$t" = statedb_fuzz ] && max_len=65536
  if "$BIN/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
       -max_len=$max_len -print_final_stats=1 -artifact_prefix="run/fuzz/crashes/$t-" \
       "run/fuzz/corpus/$t" "run/fuzz/seeds/$t" >"run/fuzz/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "run/fuzz/$t.log")
    cov=$(grep -o 'cov: [0-9]*' "run/fuzz/$t.log" | tail -1)
    echo "fuzz: $t: $runs inputs in ${SECONDS_EACH} s, $cov, no failure"
  else
    echo "fuzz: $t FAILED (run/fuzz/$t.log):"
    grep -E 'ERROR|property violated|SUMMARY|Test unit written' "run/fuzz/$t.log" | head -8
    status=1
  fi
done
exit $status
