#pragma once
// Device-kernel time per pass, by kernel name, from LibTorch's Kineto profiler: where a GPU step's time goes,
// without Nsight Systems (which the lent GPU machines lack). Benchmarks only.

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace graphmae2::benchmarks {

struct KernelTime {
  std::string name;
  double calls_per_pass = 0;
  double ms_per_pass = 0;
};

/// Runs `pass` `passes` times under the profiler and sums each CUDA kernel's (and device copy's) time; largest
/// first. The caller synchronises the device inside `pass`.
inline std::vector<KernelTime> profile_device_kernels(int passes, const std::function<void()>& pass) {
  namespace impl = torch::profiler::impl;
  const impl::ProfilerConfig config(impl::ProfilerState::KINETO);
  const std::set<impl::ActivityType> activities{impl::ActivityType::CPU, impl::ActivityType::CUDA};
  torch::autograd::profiler::prepareProfiler(config, activities);
  torch::autograd::profiler::enableProfiler(config, activities);
  for (int k = 0; k < passes; ++k) pass();
  const auto result = torch::autograd::profiler::disableProfiler();
  std::map<std::string, KernelTime> by_name;
  for (const auto& event : result->events()) {
    if (event.deviceType() != c10::DeviceType::CUDA) continue;
    auto& t = by_name[event.name()];
    t.name = event.name();
    t.calls_per_pass += 1.0 / passes;
    t.ms_per_pass += static_cast<double>(event.durationNs()) * 1e-6 / passes;
  }
  std::vector<KernelTime> sorted;
  for (auto& [name, t] : by_name) sorted.push_back(std::move(t));
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.ms_per_pass > b.ms_per_pass; });
  return sorted;
}

}  // namespace graphmae2::benchmarks
