#include "graph/ops/philox_inputs.h"

#include "graph/ops/cuda/gat_attention_bridge.h"
#include "graph/ops/dispatch.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

namespace graphmae2::graph {

std::pair<uint64_t, uint64_t> draw_philox_inputs(const char* op, const torch::Tensor& like) {
  return dispatch_by_device(
      op, like,
      [&] {
        auto generator = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(generator.mutex());
        return std::pair<uint64_t, uint64_t>{generator.get<at::CPUGeneratorImpl>()->random64(), 0};
      },
      [&] { return cuda::gat_attention_philox_inputs(like.device()); });
}

}  // namespace graphmae2::graph
