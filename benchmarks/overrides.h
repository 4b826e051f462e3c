#pragma once
// `--set KEY=VALUE` flags of the benchmarks, split for GraphMAE2Config::apply_overrides.

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace graphmae2::benchmarks {

inline std::vector<std::pair<std::string, std::string>> split_overrides(const std::vector<std::string>& sets) {
  std::vector<std::pair<std::string, std::string>> overrides;
  for (const auto& kv : sets) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) throw std::invalid_argument("--set " + kv + ": expected KEY=VALUE");
    overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return overrides;
}

}  // namespace graphmae2::benchmarks
