// Time of one full-batch GraphMAE2 epoch on Cora with the shipped config, split into its parts.
// Prints each part's time; compare with the reference's ~0.05 s/epoch on a V100 (GraphMAE2 README runs).

#include "datasets/registry.h"
#include "models/train/config.h"
#include "models/train/trainer.h"

#include <benchmark/benchmark.h>

namespace train = graphmae2::models::train;
namespace g2 = graphmae2::models::graphmae2;

namespace {

struct CoraSetup {
  train::TrainConfig cfg;
  train::PreparedGraph input;
  g2::GraphMAE2 model{nullptr};
  CoraSetup() {
    train::apply_config_file(cfg, std::string(GRAPHMAE2_SOURCE_DIR) + "/configs/cora.yaml");
    auto data = graphmae2::datasets::load_node_dataset("cora", graphmae2::datasets::resolve_data_root(std::nullopt));
    input = train::prepare_inputs(data, cfg);
    model = train::build_model(cfg, data.feature_dim(), true);
  }
  g2::MaskPlan plan() const { return {g2::random_subset(input.features.size(0), cfg.mask_rate, torch::kCPU), {}}; }
  g2::LossConfig loss() const {
    g2::LossConfig l;
    l.alpha_l = cfg.alpha_l;
    l.lam = cfg.lam;
    l.remask_method = cfg.remask_method;
    return l;
  }
};

CoraSetup& setup() {
  static CoraSetup s;
  return s;
}

void BM_CoraForward(benchmark::State& state) {
  auto& s = setup();
  auto targets = torch::arange(s.input.features.size(0), torch::kInt64);
  for (auto _ : state) {
    torch::NoGradGuard ng;
    benchmark::DoNotOptimize(s.model->forward(s.input.graph, s.input.features, targets, s.plan(), s.loss()).total);
  }
}
BENCHMARK(BM_CoraForward)->Unit(benchmark::kMillisecond)->MinTime(3.0);

void BM_CoraForwardBackward(benchmark::State& state) {
  auto& s = setup();
  auto targets = torch::arange(s.input.features.size(0), torch::kInt64);
  for (auto _ : state) {
    auto out = s.model->forward(s.input.graph, s.input.features, targets, s.plan(), s.loss());
    out.total.backward();
  }
}
BENCHMARK(BM_CoraForwardBackward)->Unit(benchmark::kMillisecond)->MinTime(3.0);

void BM_CoraEncoderOnly(benchmark::State& state) {
  auto& s = setup();
  for (auto _ : state) {
    torch::NoGradGuard ng;
    benchmark::DoNotOptimize(s.model->embed(s.input.graph, s.input.features));
  }
}
BENCHMARK(BM_CoraEncoderOnly)->Unit(benchmark::kMillisecond)->MinTime(3.0);

}  // namespace
