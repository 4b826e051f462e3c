#include "graph/ops/cuda/gat_attention_bridge.h"

#include "graph/ops/cuda/gat_attention_kernel.h"
#include "graph/ops/cuda/kernel_type.h"

#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <mutex>

namespace graphmae2::graph::cuda {

namespace {

GatAttentionShape shape_of(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& feat,
                           const cpu::GatAttentionParams& params) {
  return {indptr.data_ptr<int64_t>(),
          indices.data_ptr<int64_t>(),
          indptr.size(0) - 1,
          indices.size(0),
          feat.size(1),
          feat.size(2),
          params.negative_slope,
          params.dropout,
          params.seed,
          params.offset};
}

torch::ScalarType acc_type(torch::ScalarType t) { return t == torch::kDouble ? torch::kDouble : torch::kFloat; }

// The slices of the segments delimited by ptr [S + 1] over num_edges edges (GatSlices: one kernel and one sum, no
// host sync), and the rows they write, partial: [slot_bound, H, width] (width D for the aggregations' partial
// rows, 1 for the backward's shares). Graphs of kGatSliceEdges edges or fewer have no long segment.
struct SlicePlan {
  torch::Tensor counts, partial;  // counts [2, S + 1]: long_ptr, long_rank
  int64_t num_edges = 0;

  GatSlices slices() const {
    if (!partial.defined()) return {nullptr, nullptr, 0, 0};
    return {counts[0].data_ptr<int64_t>(), counts[1].data_ptr<int64_t>(), partial.size(0), num_edges / kGatSliceEdges};
  }
  template <typename A>
  A* partial_ptr() const {
    return partial.defined() ? partial.data_ptr<A>() : nullptr;
  }
};

SlicePlan plan_slices(const torch::Tensor& ptr, int64_t num_edges, int64_t H, int64_t width,
                      const torch::TensorOptions& acc_options) {
  SlicePlan plan;
  if (num_edges <= kGatSliceEdges) return plan;
  const int64_t segments = ptr.size(0) - 1;
  plan.num_edges = num_edges;
  plan.counts = torch::empty({2, segments + 1}, ptr.options());
  launch_gat_slice_counts(ptr.data_ptr<int64_t>(), segments, plan.counts.data_ptr<int64_t>(),
                          c10::cuda::getCurrentCUDAStream());
  plan.counts.cumsum_(1);
  plan.partial = torch::empty({2 * num_edges / kGatSliceEdges + 1, H, width}, acc_options);
  return plan;
}

}  // namespace

std::pair<uint64_t, uint64_t> gat_attention_philox_inputs(const torch::Device& device) {
  auto generator = at::cuda::detail::getDefaultCUDAGenerator(device.index());
  std::lock_guard<std::mutex> lock(generator.mutex());
  // The kernels draw one Philox block per (edge, 4 heads) at this offset; 4 keeps torch's offsets a multiple of 4.
  return generator.get<at::CUDAGeneratorImpl>()->philox_engine_inputs(4);
}

std::pair<torch::Tensor, torch::Tensor> gat_attention_forward(const torch::Tensor& indptr, const torch::Tensor& indices,
                                                              const torch::Tensor& feat, const torch::Tensor& el,
                                                              const torch::Tensor& er, const torch::Tensor& bias,
                                                              const cpu::GatAttentionParams& params) {
  const c10::cuda::CUDAGuard guard(feat.device());
  const int64_t R = indptr.size(0) - 1, H = feat.size(1), D = feat.size(2);
  auto out = torch::empty({R, H, D}, feat.options());
  auto lse = torch::empty({R, H}, feat.options().dtype(acc_type(feat.scalar_type())));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const auto shape = shape_of(indptr, indices, feat, params);
  const auto plan = plan_slices(indptr, indices.size(0), H, D, lse.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(torch::kHalf, torch::kBFloat16, feat.scalar_type(), "gat_attention_forward", [&] {
    using K = typename KernelType<scalar_t>::type;
    launch_gat_attention_forward<K>(shape, plan.slices(), kernel_ptr<scalar_t>(feat), kernel_ptr<scalar_t>(el),
                                    kernel_ptr<scalar_t>(er), bias.defined() ? kernel_ptr<scalar_t>(bias) : nullptr,
                                    reinterpret_cast<K*>(out.data_ptr<scalar_t>()), lse.data_ptr<GatAcc<K>>(),
                                    plan.partial_ptr<GatAcc<K>>(), stream);
  });
  return {out, lse};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> gat_attention_backward(
    const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& feat, const torch::Tensor& el,
    const torch::Tensor& er, const torch::Tensor& lse, const torch::Tensor& grad_out,
    const cpu::GatAttentionParams& params, bool needs_feat) {
  const c10::cuda::CUDAGuard guard(feat.device());
  const int64_t R = indptr.size(0) - 1, E = indices.size(0), C = feat.size(0), H = feat.size(1), D = feat.size(2);
  const auto acc_options = feat.options().dtype(acc_type(feat.scalar_type()));
  auto attention = torch::empty({E, H}, acc_options);
  auto grad_logit = torch::empty({E, H}, acc_options);
  auto grad_er = torch::empty({R, H}, acc_options);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const auto shape = shape_of(indptr, indices, feat, params);
  const auto row_plan = plan_slices(indptr, E, H, 1, acc_options);
  AT_DISPATCH_FLOATING_TYPES_AND2(torch::kHalf, torch::kBFloat16, feat.scalar_type(), "gat_attention_backward", [&] {
    using K = typename KernelType<scalar_t>::type;
    using A = GatAcc<K>;
    launch_gat_attention_backward<K>(shape, row_plan.slices(), kernel_ptr<scalar_t>(feat), kernel_ptr<scalar_t>(el),
                                     kernel_ptr<scalar_t>(er), lse.data_ptr<A>(), kernel_ptr<scalar_t>(grad_out),
                                     attention.data_ptr<A>(), grad_logit.data_ptr<A>(), grad_er.data_ptr<A>(),
                                     row_plan.partial_ptr<A>(), stream);
  });
  // Sources: the transposed aggregation over the edges sorted by source (a stable sort, so each source sums its
  // edges in a fixed order), and a scatter of the logit gradients (atomics: summation order, and so the last bits
  // of grad_el, vary between runs).
  torch::Tensor grad_feat;
  if (needs_feat) {
    const auto [sorted_cols, order] = indices.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false);
    const auto col_ptr = torch::searchsorted(sorted_cols, torch::arange(C + 1, indptr.options()));
    const auto edge_rows = torch::repeat_interleave(torch::arange(R, indptr.options()), indptr.diff(), /*dim=*/0,
                                                    /*output_size=*/E);
    grad_feat = torch::empty({C, H, D}, feat.options());
    const GatTransposedShape transposed{
        col_ptr.data_ptr<int64_t>(), order.data_ptr<int64_t>(), edge_rows.data_ptr<int64_t>(), C, H, D};
    const auto plan = plan_slices(col_ptr, E, H, D, acc_options);
    AT_DISPATCH_FLOATING_TYPES_AND2(
        torch::kHalf, torch::kBFloat16, feat.scalar_type(), "gat_attention_transposed", [&] {
          using K = typename KernelType<scalar_t>::type;
          launch_gat_attention_transposed<K>(
              transposed, plan.slices(), attention.data_ptr<GatAcc<K>>(), kernel_ptr<scalar_t>(grad_out),
              reinterpret_cast<K*>(grad_feat.data_ptr<scalar_t>()), plan.partial_ptr<GatAcc<K>>(), stream);
        });
  }
  auto grad_el = torch::zeros({C, H}, acc_options).index_add_(0, indices, grad_logit).to(feat.scalar_type());
  return {grad_feat, grad_el, grad_er.to(feat.scalar_type())};
}

}  // namespace graphmae2::graph::cuda
