// A full-batch GraphMAE2 epoch as graphmae2-train runs it (the engine's loop: step, clipping, Adam, EMA, metrics)
// against the time its dense matrix products need: issue 13's "hardware limit" figure. One JSON line.
//
//   bench_epoch_gemm [--dataset cora] [--config configs/cora.yaml] [--threads 1] [--epochs 20] [--set KEY=VALUE ...]
//                    [--ops N [--op-shapes]]
//
// 1. epoch: the mean wall time of --epochs epochs after 3 warm-up epochs (train_graphmae2, as the tool runs it).
// 2. The step's dense products, recorded from the ops LibTorch dispatches (aten::mm, addmm, bmm, baddbmm, forward
//    and backward) during two further epochs: their GFLOP per step, and each distinct shape and operand layout
//    timed alone at the same thread count ("gemm_seconds": the step's products at their own measured rates).
// 3. The rate of bench_blas's product ([2708, 1433] x [1433, 1024]) at the same thread count, and the step's
//    GFLOP at that rate ("gemm_seconds_at_blas_rate", the issue's own definition of the limit: the best of 20
//    runs, as bench_blas prints it); also the median of those runs ("blas_gflops_median") and the epoch against
//    the step's GFLOP at it.
// 4. With --ops N: 5 more epochs with every op timed, and the N ops of most self time per step (with --op-shapes:
//    per distinct shapes of the op's tensor inputs, and with " < OP" when an op called it: which call a copy or a
//    fill serves). The project's own ops record their forward too (graphmae2::gat_attention, ::dropout, ::prelu,
//    ::sce_loss, ...; their backward is the CppNode<...> entry); step time inside no op is outside_ops_s_per_step.
// Ratios: epoch / gemm_seconds and epoch / gemm_seconds_at_blas_rate. Sparse products (the sparse first
// projection, the attention's aggregation) are not dense GEMMs and count as overhead here.

#include "benchmarks/measure.h"
#include "benchmarks/overrides.h"
#include "datasets/registry.h"
#include "models/graphmae2/trainer.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

namespace {

namespace ds = graphmae2::datasets;
namespace gm = graphmae2::models::graphmae2;
namespace bench = graphmae2::benchmarks;

// One dense product: batch x ([m, k] x [k, n]), each operand row-major or transposed (column-major).
struct Gemm {
  std::string op;
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool a_transposed = false, b_transposed = false, bias = false;
  auto key() const { return std::tie(op, batch, m, n, k, a_transposed, b_transposed, bias); }
  bool operator<(const Gemm& o) const { return key() < o.key(); }
  double flops() const { return 2.0 * static_cast<double>(batch) * m * n * k; }
};

bool column_major(const at::Tensor& t) {
  const int64_t d = t.dim();
  return t.size(d - 2) > 1 && t.size(d - 1) > 1 && t.stride(d - 2) == 1;
}

std::mutex recorded_mutex;
std::map<Gemm, int64_t> recorded;

std::unique_ptr<at::ObserverContext> record_gemm(const at::RecordFunction& fn) {
  const std::string name = fn.name();
  const bool with_input = name == "aten::addmm" || name == "aten::baddbmm";
  if (!with_input && name != "aten::mm" && name != "aten::bmm") return nullptr;
  const auto inputs = fn.inputs();
  const size_t first = with_input ? 1 : 0;
  if (inputs.size() < first + 2 || !inputs[first].isTensor() || !inputs[first + 1].isTensor()) return nullptr;
  const auto& a = inputs[first].toTensor();
  const auto& b = inputs[first + 1].toTensor();
  if (a.layout() != at::kStrided || b.layout() != at::kStrided) return nullptr;  // a sparse product: overhead here
  Gemm g;
  g.op = name;
  const bool batched = a.dim() == 3;
  g.batch = batched ? a.size(0) : 1;
  g.m = a.size(a.dim() - 2);
  g.k = a.size(a.dim() - 1);
  g.n = b.size(b.dim() - 1);
  g.a_transposed = column_major(a);
  g.b_transposed = column_major(b);
  g.bias = with_input;
  std::lock_guard<std::mutex> lock(recorded_mutex);
  ++recorded[g];
  return nullptr;
}

at::Tensor operand(int64_t batch, int64_t rows, int64_t cols, bool transposed) {
  auto t = transposed ? torch::rand({batch, cols, rows}).transpose(1, 2) : torch::rand({batch, rows, cols});
  return batch == 1 ? t.squeeze(0) : t;
}

// Median seconds of one product of this shape and layout, alone.
double time_alone(const Gemm& g) {
  const auto a = operand(g.batch, g.m, g.k, g.a_transposed);
  const auto b = operand(g.batch, g.k, g.n, g.b_transposed);
  const auto c = torch::rand(g.batch == 1 ? std::vector<int64_t>{g.m, g.n} : std::vector<int64_t>{g.batch, g.m, g.n});
  auto out = torch::empty_like(c);
  auto run = [&] {
    if (g.batch > 1) {
      g.bias ? torch::baddbmm_out(out, c, a, b) : torch::bmm_out(out, a, b);
    } else {
      g.bias ? torch::addmm_out(out, c, a, b) : torch::mm_out(out, a, b);
    }
  };
  run();
  const int repeats = std::clamp(static_cast<int>(2e9 / std::max(g.flops(), 1.0)), 5, 200);
  return bench::median_seconds(repeats, run);
}

// --ops: each op's self time (its time less that of the ops it calls), from RecordFunction callbacks on the
// calling thread (the CPU autograd engine runs backward there too). What the epoch spends outside dense products.
struct OpTime {
  double self_seconds = 0;
  int64_t calls = 0;
};
std::map<std::string, OpTime> op_times;
bool op_shapes = false;  // --op-shapes: each op keyed by its tensor inputs' shapes too

std::string op_key(const at::RecordFunction& fn) {
  std::string key = fn.name();
  if (!op_shapes) return key;
  for (const auto& input : fn.inputs()) {
    if (!input.isTensor() || !input.toTensor().defined()) continue;
    std::ostringstream shape;
    shape << input.toTensor().sizes();
    key += " " + shape.str();
  }
  return key;
}

struct OpFrame : at::ObserverContext {
  std::chrono::steady_clock::time_point start;
  double child_seconds = 0;
  std::string name;
  std::string op;  // the op's own name, without shapes or caller
};
thread_local std::vector<OpFrame*> op_stack;

std::unique_ptr<at::ObserverContext> op_enter(const at::RecordFunction& fn) {
  auto frame = std::make_unique<OpFrame>();
  frame->name = op_key(fn);
  frame->op = fn.name();
  // With --op-shapes the enclosing op too: which call a copy or a fill serves (none: the model's own code).
  if (op_shapes && !op_stack.empty()) frame->name += " < " + op_stack.back()->op;
  frame->start = std::chrono::steady_clock::now();
  op_stack.push_back(frame.get());
  return frame;
}

void op_exit(const at::RecordFunction&, at::ObserverContext* ctx) {
  auto* frame = static_cast<OpFrame*>(ctx);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - frame->start).count();
  if (!op_stack.empty() && op_stack.back() == frame) op_stack.pop_back();
  if (!op_stack.empty()) op_stack.back()->child_seconds += seconds;
  std::lock_guard<std::mutex> lock(recorded_mutex);
  auto& t = op_times[frame->name];
  t.self_seconds += seconds - frame->child_seconds;
  ++t.calls;
}

// bench_blas's product's rate over 20 runs: the best (bench_blas's own figure, the divisor) and the median.
// On a VM whose runs spread by +-15% the two differ by about that much; the median is what a step's products get.
struct BlasRate {
  double best_gflops, median_gflops;
};

BlasRate blas_rate() {
  constexpr int64_t kM = 2708, kK = 1433, kN = 1024;  // bench_blas's product
  const auto a = torch::rand({kM, kK});
  const auto b = torch::rand({kK, kN});
  auto c = torch::empty({kM, kN});
  torch::mm_out(c, a, b);
  const auto t = bench::sorted_seconds(20, [&] { torch::mm_out(c, a, b); });
  const double gflop = 2.0 * kM * kK * kN * 1e-9;
  return {gflop / t.front(), gflop / t[t.size() / 2]};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A full-batch GraphMAE2 epoch against the time of its dense products"};
  std::string dataset = "cora", config;
  std::vector<std::string> sets;
  int threads = 1, epochs = 20, ops = 0;
  app.add_option("--dataset", dataset, "dataset name, .h5 cache or synthetic:KEYS");
  app.add_option("--config", config, "GraphMAE2 config (default: configs/<dataset>.yaml)");
  app.add_option("--set", sets, "KEY=VALUE overrides of the config (repeatable)");
  app.add_option("--threads", threads, "intra-op threads")->check(CLI::PositiveNumber);
  app.add_option("--epochs", epochs, "timed epochs")->check(CLI::PositiveNumber);
  app.add_option(
         "--ops", ops,
         "also list the N ops of most self time per step (7 extra epochs, profiled: a run of 6 less a run of 1)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--op-shapes", op_shapes,
               "with --ops: list each op once per distinct shapes of its tensor inputs and enclosing op");
  CLI11_PARSE(app, argc, argv);
  try {
    at::set_num_threads(threads);
    if (config.empty()) config = std::string(GRAPHMAE2_SOURCE_DIR) + "/configs/" + dataset + ".yaml";
    const auto data = ds::load_node_dataset(dataset, ds::resolve_data_root(std::nullopt), {});
    gm::GraphMAE2Config cfg;
    cfg.apply_file(config);
    cfg.apply_overrides(bench::split_overrides(sets));
    cfg.dataset = data.name;
    cfg.num_threads = threads;
    const auto input = gm::prepare_inputs(data, cfg);
    const auto dir = std::filesystem::temp_directory_path() / ("bench_epoch_gemm_" + std::to_string(getpid()));
    gm::TrainerOptions options;
    options.seed_dir = dir;
    options.progress = false;
    auto train = [&](int64_t max_epoch) {
      std::filesystem::remove_all(dir);
      cfg.max_epoch = max_epoch;
      cfg.validate();
      return gm::train_graphmae2(cfg, input, 0, options);
    };

    train(3);
    const auto timed = train(epochs);
    const double epoch_seconds = timed.seconds / static_cast<double>(timed.epochs_run);

    const auto handle = at::addGlobalCallback(at::RecordFunctionCallback(&record_gemm).needsInputs(true));
    const auto recorded_run = train(2);
    at::removeCallback(handle);
    std::filesystem::remove_all(dir);

    nlohmann::ordered_json op_list = nlohmann::ordered_json::array();
    double op_seconds = 0, profiled_step_seconds = 0;
    if (ops > 0) {
      const auto op_handle =
          at::addGlobalCallback(at::RecordFunctionCallback(&op_enter, &op_exit)
                                    .needsInputs(op_shapes)
                                    .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
      // A run of 1 epoch, subtracted from one of 6: what building the model costs (initialisers' draws) is in
      // both, so only the 5 epochs' ops are left.
      const auto baseline = train(1);
      const auto baseline_ops = op_times;
      const auto profiled = train(6);
      at::removeCallback(op_handle);
      for (const auto& [name, t] : baseline_ops) {
        auto& total = op_times[name];
        total.self_seconds -= 2 * t.self_seconds;  // op_times holds both runs
        total.calls -= 2 * t.calls;
      }
      std::erase_if(op_times, [](const auto& entry) { return entry.second.calls <= 0; });
      const double profiled_steps = static_cast<double>(profiled.steps_run - baseline.steps_run);
      profiled_step_seconds = (profiled.seconds - baseline.seconds) / profiled_steps;
      std::vector<std::pair<std::string, OpTime>> sorted(op_times.begin(), op_times.end());
      std::sort(sorted.begin(), sorted.end(),
                [](const auto& a, const auto& b) { return a.second.self_seconds > b.second.self_seconds; });
      for (const auto& [name, t] : sorted) op_seconds += t.self_seconds / profiled_steps;
      for (size_t k = 0; k < sorted.size() && k < static_cast<size_t>(ops); ++k) {
        op_list.push_back({{"op", sorted[k].first},
                           {"self_s_per_step", sorted[k].second.self_seconds / profiled_steps},
                           {"calls_per_step", static_cast<double>(sorted[k].second.calls) / profiled_steps}});
      }
    }

    const double steps = static_cast<double>(recorded_run.steps_run);
    double flops = 0, gemm_seconds = 0;
    nlohmann::ordered_json shapes = nlohmann::ordered_json::array();
    for (const auto& [g, count] : recorded) {
      const double per_step = static_cast<double>(count) / steps;
      const double alone = time_alone(g);
      flops += per_step * g.flops();
      gemm_seconds += per_step * alone;
      shapes.push_back({{"op", g.op},
                        {"batch", g.batch},
                        {"m", g.m},
                        {"n", g.n},
                        {"k", g.k},
                        {"a_t", g.a_transposed},
                        {"b_t", g.b_transposed},
                        {"per_step", per_step},
                        {"gflop_s_alone", g.flops() * 1e-9 / alone}});
    }
    const auto blas = blas_rate();
    const double rate = blas.best_gflops;
    nlohmann::ordered_json line{
        {"bench", "epoch_gemm"},
        {"dataset", data.name},
        {"config", config},
        {"set", sets},
        {"threads", threads},
        {"epochs", timed.epochs_run},
        {"epoch_seconds", epoch_seconds},
        {"gemm_gflop_per_step", flops * 1e-9},
        {"gemm_seconds", gemm_seconds},
        {"blas_gflops", rate},
        {"gemm_seconds_at_blas_rate", flops * 1e-9 / rate},
        {"epoch_over_gemm", epoch_seconds / gemm_seconds},
        {"epoch_over_gemm_at_blas_rate", epoch_seconds / (flops * 1e-9 / rate)},
        {"blas_gflops_median", blas.median_gflops},
        {"epoch_over_gemm_at_blas_median_rate", epoch_seconds / (flops * 1e-9 / blas.median_gflops)},
        {"peak_rss_mib", bench::peak_rss_mib()},
        {"shapes", shapes}};
    if (ops > 0) {
      // Time outside every recorded op: the engine's own work, allocation, the loop.
      line["profiled_step_seconds"] = profiled_step_seconds;
      line["outside_ops_s_per_step"] = profiled_step_seconds - op_seconds;
      line["ops"] = op_list;
    }
    std::cout << line.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_epoch_gemm: " << e.what() << "\n";
    return 1;
  }
}
