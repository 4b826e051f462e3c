#pragma once
// Wall-clock intervals for progress lines and logged figures.

#include <chrono>

namespace graphmae2::util {

using Clock = std::chrono::steady_clock;

/// Seconds of wall time since `t0` (steady clock).
inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace graphmae2::util
