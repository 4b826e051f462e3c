// One GAT layer's forward + backward on a large graph: the fused attention op against the chain of torch ops it
// replaced, on the CPU or a GPU, printed as JSON lines (benchmarks/peers/ sets PyG's and DGL's GATConv beside).
//
//   bench_gat_layer --synthetic SPEC --write-graph FILE.h5      generate a graph, save it, exit
//   bench_gat_layer --graph FILE.h5 [--in 128] [--heads 4] [--out 64] [--attention fused|chain]
//                   [--device cpu|cuda] [--dtype float32|bfloat16|float16] [--threads N] [--repeats 5]
//                   [--attn-drop 0.1] [--profile]
//
// The graph gets reverse edges and self-loops (as GraphMAE2 trains on it). The layer runs in training mode;
// the loss is <y, g> for a fixed random g, so backward reaches every parameter. Time: median of the repeats
// after one warm-up (a GPU is synchronised around each). Memory: on a GPU torch's allocator peak during the
// repeats; on the CPU the process's peak RSS and the RSS before the first forward (graph and input loaded), so
// the layer's own peak is about their difference. Run one configuration per process. float16 and bfloat16 run
// on CUDA with the fused op only (its CUDA kernels accumulate in float32).
// Roofline (JSON "roofline_s"): the projection's three dense products ([N, in] x [in, H*D] forward, and the
// two of its backward) each timed alone on the same device, dtype and threads, plus the aggregation's feature
// traffic at a measured bandwidth: forward reads one source row [H*D] per edge, backward reads one per edge twice
// more (the transposed aggregation and the attention gradient), 3 x E x H x D x element bytes, at the rate of a
// large out = a + b ("bandwidth_gb_s", 3 arrays of 256 MiB counted).
// The attention op alone ("attention_*", fused only): graph::gat_attention on random [N, H, D] features, forward,
// and forward + backward; "attention_forward_gb_s" counts the bytes it must move at least (one source row and one
// el per edge, the edge list, the output) over its time, "attention_forward_of_bandwidth" that against
// bandwidth_gb_s. --profile (CUDA) adds one JSON line per kernel, the 20 longest: its time per layer pass (Kineto).

#include "benchmarks/kernel_profile.h"
#include "benchmarks/measure.h"
#include "datasets/hdf5_io.h"
#include "datasets/synthetic.h"
#include "graph/ops/gat_attention.h"
#include "graph/transforms.h"
#include "models/engine/device_memory.h"
#include "models/layers/gat_conv.h"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

namespace {

namespace ds = graphmae2::datasets;
namespace g = graphmae2::graph;
namespace layers = graphmae2::models::layers;
namespace engine = graphmae2::models::engine;

using graphmae2::benchmarks::current_rss_mib;
using graphmae2::benchmarks::peak_rss_mib;

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

template <class Fn>
double median_synced_seconds(const torch::Device& device, int repeats, Fn&& fn) {
  fn();
  synchronize(device);
  return graphmae2::benchmarks::median_seconds(repeats, [&] {
    fn();
    synchronize(device);
  });
}

double median_mm_seconds(const torch::TensorOptions& options, int64_t m, int64_t k, int64_t n, bool a_t, bool b_t) {
  const auto a = a_t ? torch::rand({k, m}, options).t() : torch::rand({m, k}, options);
  const auto b = b_t ? torch::rand({n, k}, options).t() : torch::rand({k, n}, options);
  auto c = torch::empty({m, n}, options);
  return median_synced_seconds(options.device(), 5, [&] { torch::mm_out(c, a, b); });
}

double bandwidth_gb_s(const torch::Device& device) {
  constexpr int64_t kFloats = int64_t{64} << 20;  // 256 MiB per array
  const auto options = torch::TensorOptions().device(device);
  const auto a = torch::rand({kFloats}, options), b = torch::rand({kFloats}, options);
  auto c = torch::empty({kFloats}, options);
  const double s = median_synced_seconds(device, 5, [&] { torch::add_out(c, a, b); });
  return 3.0 * 4.0 * static_cast<double>(kFloats) / s * 1e-9;
}

torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return torch::kFloat;
  if (name == "bfloat16") return torch::kBFloat16;
  return torch::kHalf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"One GAT layer's forward + backward: fused attention vs the chain of ops"};
  std::string graph_file, synthetic, write_graph, attention = "fused", device_name = "cpu", dtype_name = "float32";
  bool profile = false;
  int64_t in_features = 128, heads = 4, out_features = 64, repeats = 5;
  int threads = 1;
  double attn_drop = 0.1;
  auto* source = app.add_option("--graph", graph_file, "graph .h5 (graph/indptr, graph/indices; rows = destinations)")
                     ->check(CLI::ExistingFile);
  app.add_option("--synthetic", synthetic, "generator spec, with --write-graph")->excludes(source);
  app.add_option("--write-graph", write_graph, "write the generated graph here and exit");
  app.add_option("--in", in_features, "input width")->check(CLI::PositiveNumber);
  app.add_option("--heads", heads, "attention heads")->check(CLI::PositiveNumber);
  app.add_option("--out", out_features, "width per head")->check(CLI::PositiveNumber);
  app.add_option("--attention", attention, "fused (graph::gat_attention) or chain (torch ops)")
      ->check(CLI::IsMember({"fused", "chain"}));
  app.add_option("--device", device_name, "cpu, cuda or cuda:N");
  app.add_option("--dtype", dtype_name, "float32; bfloat16 or float16 on CUDA with the fused op")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  app.add_flag("--profile", profile, "CUDA: print each kernel's time per pass (JSON lines)");
  app.add_option("--threads", threads, "CPU threads")->check(CLI::PositiveNumber);
  app.add_option("--repeats", repeats, "timed forward+backward passes")->check(CLI::PositiveNumber);
  app.add_option("--attn-drop", attn_drop, "attention dropout rate")->check(CLI::Range(0.0, 0.99));
  CLI11_PARSE(app, argc, argv);
  try {
    if (!synthetic.empty()) {
      if (write_graph.empty()) throw std::invalid_argument("--synthetic needs --write-graph");
      const auto data = ds::make_synthetic(ds::parse_synthetic_spec(synthetic));
      ds::write_h5(write_graph, {{"graph/indptr", data.graph.indptr}, {"graph/indices", data.graph.indices}},
                   {{"name", data.name}});
      std::cout << "wrote " << write_graph << ": " << data.graph.summary() << "\n";
      return 0;
    }
    if (graph_file.empty())
      throw std::invalid_argument("give --graph FILE.h5 (or --synthetic SPEC --write-graph FILE)");
    at::set_num_threads(threads);
    const torch::Device device(device_name);
    const auto dtype = parse_dtype(dtype_name);
    if (dtype != torch::kFloat && (!device.is_cuda() || attention != "fused")) {
      throw std::invalid_argument("--dtype " + dtype_name + " needs --device cuda and --attention fused");
    }
    if (profile && !device.is_cuda()) throw std::invalid_argument("--profile needs --device cuda");
    const auto options = torch::TensorOptions().device(device).dtype(dtype);
    const auto indptr = ds::read_h5_tensor(graph_file, "graph/indptr");
    const g::CsrGraph raw(indptr, ds::read_h5_tensor(graph_file, "graph/indices"), indptr.size(0) - 1);
    const auto graph = g::bidirected_with_self_loops(raw).to(device);
    const int64_t n = graph.num_nodes();
    torch::manual_seed(0);
    layers::GATConv conv(layers::GATConvOptions(in_features, out_features, heads)
                             .attn_drop(attn_drop)
                             .fused_attention(attention == "fused"));
    conv->to(device, dtype);
    conv->train();
    const auto x = torch::randn({n, in_features}, options);
    const auto upstream = torch::randn({n, heads * out_features}, options);
    const double baseline_rss = current_rss_mib();
    const auto pass = [&] {
      conv->zero_grad();
      (conv->forward(graph, x) * upstream).sum().backward();
      synchronize(device);
    };
    pass();  // warm-up
    engine::reset_peak_device_memory(device);
    const auto seconds = graphmae2::benchmarks::sorted_seconds(static_cast<int>(repeats), pass);
    const auto gpu = engine::peak_device_memory(device);
    const double layer_peak_rss = peak_rss_mib();  // before the roofline's own arrays
    const int64_t width = heads * out_features;
    const double gemm_s = median_mm_seconds(options, n, in_features, width, false, true) +  // x W^T
                          median_mm_seconds(options, width, n, in_features, true, false) +  // grad_W = g^T x
                          median_mm_seconds(options, n, width, in_features, false, false);  // grad_x = g W
    const double bandwidth = bandwidth_gb_s(device);
    const double element = static_cast<double>(torch::elementSize(dtype)), edges = graph.num_edges();
    const double roofline_s = gemm_s + 3.0 * edges * static_cast<double>(width) * element / (bandwidth * 1e9);
    double attention_forward_s = 0, attention_forward_backward_s = 0, attention_forward_gb_s = 0;
    if (attention == "fused") {
      const auto feat = torch::randn({n, heads, out_features}, options).requires_grad_(true);
      const auto el = torch::randn({n, heads}, options), er = torch::randn({n, heads}, options);
      const auto grad = torch::randn({n, heads, out_features}, options);
      const auto attention_options = g::GatAttentionOptions().dropout(attn_drop);
      {
        const torch::NoGradGuard no_grad;
        attention_forward_s = median_synced_seconds(device, static_cast<int>(repeats),
                                                    [&] { g::gat_attention(graph, feat, el, er, attention_options); });
      }
      attention_forward_backward_s = median_synced_seconds(device, static_cast<int>(repeats), [&] {
        g::gat_attention(graph, feat, el, er, attention_options).backward(grad);
      });
      const double bytes = edges * (static_cast<double>(width) * element + static_cast<double>(heads) * element + 8.0) +
                           static_cast<double>(n * width) * element;
      attention_forward_gb_s = bytes / attention_forward_s * 1e-9;
    }
    std::printf(
        "{\"peer\": \"graphmae2-%s\", \"device\": \"%s\", \"nodes\": %lld, \"edges\": %lld, \"in\": %lld, "
        "\"heads\": %lld, \"out\": %lld, \"threads\": %d, \"median_s\": %.4f, \"min_s\": %.4f, "
        "\"peak_rss_mib\": %.0f, \"baseline_rss_mib\": %.0f, \"peak_gpu_allocated_mib\": %.0f, "
        "\"gemm_s\": %.4f, \"bandwidth_gb_s\": %.2f, \"roofline_s\": %.4f, \"dtype\": \"%s\", "
        "\"attention_forward_s\": %.5f, \"attention_forward_backward_s\": %.5f, "
        "\"attention_forward_gb_s\": %.1f, \"attention_forward_of_bandwidth\": %.3f}\n",
        attention.c_str(), device.str().c_str(), static_cast<long long>(n), static_cast<long long>(graph.num_edges()),
        static_cast<long long>(in_features), static_cast<long long>(heads), static_cast<long long>(out_features),
        threads, seconds[seconds.size() / 2], seconds.front(), layer_peak_rss, baseline_rss,
        gpu ? static_cast<double>(gpu->allocated_bytes) / (1024.0 * 1024.0) : 0.0, gemm_s, bandwidth, roofline_s,
        dtype_name.c_str(), attention_forward_s, attention_forward_backward_s, attention_forward_gb_s,
        attention_forward_gb_s / bandwidth);
    if (profile) {
      const auto kernels = graphmae2::benchmarks::profile_device_kernels(static_cast<int>(repeats), pass);
      for (size_t i = 0; i < std::min<size_t>(kernels.size(), 20); ++i) {  // the 20 longest
        const auto& k = kernels[i];
        const nlohmann::ordered_json line{
            {"kernel", k.name.substr(0, 160)}, {"calls_per_pass", k.calls_per_pass}, {"ms_per_pass", k.ms_per_pass}};
        std::printf("%s\n", line.dump().c_str());
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_gat_layer: " << e.what() << "\n";
    return 1;
  }
}
