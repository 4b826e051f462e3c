// graph/ops on GAT's hot path at Cora size (2708 nodes, 13264 edges with self-loops, H = 8 heads, F = 128):
// each op through graphmae2's kernels next to the same computation in plain torch ops (index_select /
// index_add_ / scatter_reduce), forward alone and forward + backward.
//
//   bench_ops [--benchmark_filter=Spmm]   (GRAPHMAE2_CORA_DIR: Planetoid folder; default ../shared/datasets/planetoid,
//                                          else a random graph of Cora's size)

#include "datasets/planetoid.h"
#include "graph/ops/dropout.h"
#include "graph/ops/segment_softmax.h"
#include "graph/ops/spmm.h"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>

namespace {

using graphmae2::graph::CsrGraph;

constexpr int64_t kHeads = 8;
constexpr int64_t kFeatures = 128;

// Cora with a self-loop on every node (what GAT uses), or a random graph of the same size.
const CsrGraph& cora() {
  static const CsrGraph graph = [] {
    const char* env = std::getenv("GRAPHMAE2_CORA_DIR");
    const std::filesystem::path dir = env ? env : "../shared/datasets/planetoid";
    torch::Tensor rows, cols;
    int64_t n = 2708;
    if (std::filesystem::exists(dir / "ind.cora.graph")) {
      const auto data = graphmae2::datasets::read_planetoid(dir, "cora");
      rows = data.graph.row_ids();
      cols = data.graph.indices;
      n = data.num_nodes();
      std::cerr << "bench_ops: Cora from " << dir << " (" << data.graph.summary() << ") + self-loops\n";
    } else {
      rows = torch::randint(n, {10556}, torch::kInt64);
      cols = torch::randint(n, {10556}, torch::kInt64);
      std::cerr << "bench_ops: no Cora at " << dir << "; a random graph of Cora's size + self-loops\n";
    }
    const auto loops = torch::arange(n, torch::kInt64);
    return CsrGraph::from_edges(torch::cat({rows, loops}), torch::cat({cols, loops}), n);
  }();
  return graph;
}

// The torch-ops formulations (graphmae2's first version of both ops).
torch::Tensor torch_ops_softmax(const torch::Tensor& scores, const CsrGraph& g, const torch::Tensor& rows) {
  const auto idx = rows.unsqueeze(1).expand_as(scores);
  auto mx = torch::full({g.num_rows(), scores.size(1)}, -std::numeric_limits<float>::infinity(), scores.options())
                .scatter_reduce(0, idx, scores.detach(), "amax", true);
  auto e = (scores - mx.index_select(0, rows)).exp();
  auto sum = torch::zeros({g.num_rows(), scores.size(1)}, scores.options()).index_add(0, rows, e);
  return e / sum.index_select(0, rows);
}

torch::Tensor torch_ops_spmm(const CsrGraph& g, const torch::Tensor& w, const torch::Tensor& x,
                             const torch::Tensor& rows) {
  auto msgs = x.index_select(0, g.indices) * w.unsqueeze(-1);
  return torch::zeros({g.num_rows(), x.size(1), x.size(2)}, x.options()).index_add(0, rows, msgs);
}

// The same aggregation with scatter_add_ over an expanded index (torch's vectorised scatter kernel), a faster
// torch-ops peer than index_add_, which adds one [H, F] slice per edge.
torch::Tensor torch_scatter_spmm(const CsrGraph& g, const torch::Tensor& w, const torch::Tensor& x,
                                 const torch::Tensor& rows) {
  auto msgs = x.index_select(0, g.indices) * w.unsqueeze(-1);
  return torch::zeros({g.num_rows(), x.size(1), x.size(2)}, x.options())
      .scatter_add(0, rows.view({-1, 1, 1}).expand_as(msgs), msgs);
}

enum Impl : int64_t { kTorchOps = 0, kKernel = 1, kTorchScatter = 2 };

void label(benchmark::State& state) {
  state.SetLabel(state.range(0) == kKernel     ? "graphmae2 kernel"
                 : state.range(0) == kTorchOps ? "torch ops (index_add_)"
                                               : "torch ops (scatter_add)");
}

void BM_Spmm(benchmark::State& state, bool backward) {
  const auto& g = cora();
  const auto rows = g.row_ids();  // precomputed for torch ops: the kernel path needs none
  auto w = torch::rand({g.num_edges(), kHeads}).requires_grad_(backward);
  auto x = torch::randn({g.num_cols, kHeads, kFeatures}).requires_grad_(backward);
  const auto grad = torch::randn({g.num_rows(), kHeads, kFeatures});
  torch::AutoGradMode grad_mode(backward);
  for (auto _ : state) {
    auto out = state.range(0) == kKernel     ? graphmae2::graph::spmm(g, w, x)
               : state.range(0) == kTorchOps ? torch_ops_spmm(g, w, x, rows)
                                             : torch_scatter_spmm(g, w, x, rows);
    if (backward) {
      auto grads = torch::autograd::grad({out}, {w, x}, {grad});
      benchmark::DoNotOptimize(grads[1].data_ptr());
    }
    benchmark::DoNotOptimize(out.data_ptr());
  }
  // Forward: one multiply-add per (edge, head, feature); backward: two more (grad_w and grad_x).
  const double flops = 2.0 * g.num_edges() * kHeads * kFeatures * (backward ? 3 : 1);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  label(state);
}

void BM_SegmentSoftmax(benchmark::State& state, bool backward) {
  const auto& g = cora();
  const auto rows = g.row_ids();
  auto s = torch::randn({g.num_edges(), kHeads}).requires_grad_(backward);
  const auto grad = torch::randn({g.num_edges(), kHeads});
  torch::AutoGradMode grad_mode(backward);
  for (auto _ : state) {
    auto out = state.range(0) == kKernel ? graphmae2::graph::segment_softmax(s, g) : torch_ops_softmax(s, g, rows);
    if (backward) {
      auto gs = torch::autograd::grad({out}, {s}, {grad});
      benchmark::DoNotOptimize(gs[0].data_ptr());
    }
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.counters["edges/s"] =
      benchmark::Counter(static_cast<double>(g.num_edges()), benchmark::Counter::kIsIterationInvariantRate);
  label(state);
}

// Dropout of Cora's masked rows' input ([1354, 1433], GraphMAE2's token rows at in_drop 0.2): torch's (one mt19937
// draw per element, a stored mask) vs graph::dropout (Philox, mask recomputed), forward + backward.
void BM_Dropout(benchmark::State& state) {
  auto x = torch::randn({1354, 1433}).requires_grad_();
  const auto grad = torch::randn({1354, 1433});
  for (auto _ : state) {
    namespace F = torch::nn::functional;
    auto out = state.range(0) == kKernel ? graphmae2::graph::dropout(x, 0.2, true)
                                         : F::dropout(x, F::DropoutFuncOptions().p(0.2).training(true));
    auto gx = torch::autograd::grad({out}, {x}, {grad});
    benchmark::DoNotOptimize(gx[0].data_ptr());
  }
  state.counters["elements/s"] =
      benchmark::Counter(static_cast<double>(x.numel()), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(state.range(0) == kKernel ? "graph::dropout (Philox)" : "torch dropout (mt19937)");
}

void args(benchmark::internal::Benchmark* b) {
  b->Arg(kTorchOps)->Arg(kKernel)->Unit(benchmark::kMicrosecond)->UseRealTime();
}
BENCHMARK_CAPTURE(BM_Spmm, forward, false)->Apply(args)->Arg(kTorchScatter);
BENCHMARK_CAPTURE(BM_Spmm, forward_backward, true)->Apply(args)->Arg(kTorchScatter);
BENCHMARK_CAPTURE(BM_SegmentSoftmax, forward, false)->Apply(args);
BENCHMARK_CAPTURE(BM_SegmentSoftmax, forward_backward, true)->Apply(args);
BENCHMARK(BM_Dropout)->Apply(args);

}  // namespace
