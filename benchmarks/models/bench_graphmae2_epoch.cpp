// Time of one full-batch GraphMAE2 training step (forward + backward) with the shipped Cora and CiteSeer
// configs, with the first projection dense or on the features' non-zeros (sparse_input), and the encoder alone.
// Run with OMP_NUM_THREADS=1 and =2 to see the thread scaling; a full run is max_epoch steps.

#include "datasets/registry.h"
#include "models/train/config.h"
#include "models/train/trainer.h"

#include <benchmark/benchmark.h>

#include <map>
#include <memory>

namespace train = graphmae2::models::train;
namespace g2 = graphmae2::models::graphmae2;

namespace {

const char* const kDatasets[] = {"cora", "citeseer"};

struct Setup {
  train::TrainConfig cfg;
  train::PreparedGraph input;
  g2::GraphMAE2 model{nullptr};
  torch::Tensor targets;
  explicit Setup(const std::string& name) {
    train::apply_config_file(cfg, std::string(GRAPHMAE2_SOURCE_DIR) + "/configs/" + name + ".yaml");
    auto data = graphmae2::datasets::load_node_dataset(name, graphmae2::datasets::resolve_data_root(std::nullopt));
    input = train::prepare_inputs(data, cfg);
    model = train::build_model(cfg, data.feature_dim(), true);
    targets = torch::arange(input.features.size(0), torch::kInt64);
  }
  g2::MaskPlan plan() const { return {g2::random_subset(input.features.size(0), cfg.mask_rate, torch::kCPU), {}}; }
  g2::LossConfig loss() const {
    g2::LossConfig l;
    l.alpha_l = cfg.alpha_l;
    l.lam = cfg.lam;
    l.remask_method = cfg.remask_method;
    return l;
  }
  const graphmae2::models::layers::SparseFeatures* sparse(bool on) const { return on ? input.sparse() : nullptr; }
};

Setup& setup(int64_t index) {
  static std::map<int64_t, std::unique_ptr<Setup>> cache;
  auto& s = cache[index];
  if (!s) s = std::make_unique<Setup>(kDatasets[index]);
  return *s;
}

// Args: {dataset index, sparse input 0/1}.
void BM_TrainStep(benchmark::State& state) {
  auto& s = setup(state.range(0));
  const bool sparse = state.range(1) != 0;
  if (sparse && s.input.sparse() == nullptr) {
    state.SkipWithError("features are not sparse enough for sparse_input");
    return;
  }
  state.SetLabel(std::string(kDatasets[state.range(0)]) + (sparse ? " sparse input" : " dense input"));
  for (auto _ : state) {
    auto out = s.model->forward(s.input.graph, s.input.features, s.targets, s.plan(), s.loss(), s.sparse(sparse));
    out.total.backward();
  }
}
BENCHMARK(BM_TrainStep)->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMillisecond)->MinTime(3.0);

void BM_EncoderOnly(benchmark::State& state) {
  auto& s = setup(state.range(0));
  const bool sparse = state.range(1) != 0;
  state.SetLabel(std::string(kDatasets[state.range(0)]) + (sparse ? " sparse input" : " dense input"));
  for (auto _ : state) {
    torch::NoGradGuard ng;
    benchmark::DoNotOptimize(s.model->embed(s.input.graph, s.input.features, s.sparse(sparse)));
  }
}
BENCHMARK(BM_EncoderOnly)->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMillisecond)->MinTime(3.0);

}  // namespace
