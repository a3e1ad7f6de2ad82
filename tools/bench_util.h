// Timing and summary statistics shared by the benchmark tools. Header-only:
// every tools/*.cc is its own executable and there is no tools library.
#ifndef XGDB_TOOLS_BENCH_UTIL_H_
#define XGDB_TOOLS_BENCH_UTIL_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace xgdb::bench {

using Clock = std::chrono::steady_clock;

// Seconds from `since` until now.
inline double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

inline double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The middle value; the mean of the two middle values for an even count; 0
// for none.
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The sample at rank p * (count - 1), rounded (p in [0, 1]: 0.5 the median,
// 1 the maximum); 0 for none.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// The ref of synthetic VM number i: xapi's shape, OpaqueRef: + a UUID whose
// first digits are spread (Knuth's multiplicative hash), so rows spread over
// the repository's fan-out directories as random UUIDs do.
inline std::string VmRef(size_t i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "OpaqueRef:%08zx-0000-4000-8000-%012zu",
                static_cast<size_t>((i * 2654435761u) & 0xffffffffu), i);
  return buf;
}

}  // namespace xgdb::bench

#endif  // XGDB_TOOLS_BENCH_UTIL_H_
