// The dense product at the start of every GAT layer on Cora: features [2708, 1433] x weights [1433, 1024]
// (8 heads x 128) in float32, through LibTorch's BLAS (torch::mm) on 1 and on all threads, next to Eigen's
// product of the same sizes (Eigen as built here: baseline x86-64, one thread). Reports the mean rate, the
// best single run ("best GFLOP/s") and the rate per second of CPU used by the process ("GFLOP/cpu-s": on an
// idle machine, wall rate = this x threads).
//
//   bench_blas [--benchmark_repetitions=3]

#include <Eigen/Core>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <limits>

namespace {

constexpr int64_t kM = 2708, kK = 1433, kN = 1024;
constexpr double kFlops = 2.0 * kM * kK * kN;

// Times each iteration itself (manual time) so the best single run can be reported beside the mean; the
// process CPU time (all threads) gives the rate per busy core, which stays meaningful on a shared machine.
template <typename Fn>
void run_timed(benchmark::State& state, const Fn& fn) {
  double best = std::numeric_limits<double>::infinity();
  const std::clock_t cpu0 = std::clock();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    best = std::min(best, s);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(kFlops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["best GFLOP/s"] = kFlops * 1e-9 / best;
  const double cpu_seconds = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  state.counters["GFLOP/cpu-s"] = kFlops * 1e-9 * static_cast<double>(state.iterations()) / cpu_seconds;
}

void BM_TorchMatmul(benchmark::State& state) {
  const int previous = at::get_num_threads();
  const int threads = state.range(0) > 0 ? static_cast<int>(state.range(0)) : previous;
  at::set_num_threads(threads);
  const auto a = torch::rand({kM, kK});
  const auto b = torch::rand({kK, kN});
  auto c = torch::empty({kM, kN});
  torch::mm_out(c, a, b);  // warm-up: lets the BLAS set up its buffers and threads
  run_timed(state, [&] {
    torch::mm_out(c, a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  });
  state.SetLabel("torch::mm, " + std::to_string(threads) + " thread(s)");
  at::set_num_threads(previous);
}

void BM_EigenMatmul(benchmark::State& state) {
  const Eigen::MatrixXf a = Eigen::MatrixXf::Random(kM, kK);
  const Eigen::MatrixXf b = Eigen::MatrixXf::Random(kK, kN);
  Eigen::MatrixXf c(kM, kN);
  run_timed(state, [&] {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  });
  state.SetLabel("Eigen, 1 thread");
}

// Arg 0 = torch's default thread count (all cores).
BENCHMARK(BM_TorchMatmul)->Arg(1)->Arg(0)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_EigenMatmul)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
