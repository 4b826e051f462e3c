#pragma once
// Timing and memory readings shared by the benchmarks: wall-clock repeats, and the process's resident memory.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <vector>

namespace graphmae2::benchmarks {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Wall seconds of `repeats` calls of fn, sorted (front: the fastest; [size / 2]: the median).
template <class Fn>
std::vector<double> sorted_seconds(int repeats, Fn&& fn) {
  std::vector<double> t;
  for (int k = 0; k < repeats; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t;
}

template <class Fn>
double median_seconds(int repeats, Fn&& fn) {
  const auto t = sorted_seconds(repeats, fn);
  return t[t.size() / 2];
}

/// The process's peak resident memory so far (Linux reports ru_maxrss in KiB).
inline double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

/// The process's resident memory now (/proc/self/statm).
inline double current_rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

}  // namespace graphmae2::benchmarks
