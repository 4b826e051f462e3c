// Time of one full-batch GraphMAE2 training step (forward + backward) with the shipped Cora and CiteSeer
// configs, with the first projection dense or on the features' non-zeros (sparse_input), and the encoder alone.
// Run with OMP_NUM_THREADS=1 and =2 to see the thread scaling; a full run is max_epoch steps.

#include "datasets/registry.h"
#include "models/graphmae2/config.h"
#include "models/graphmae2/trainer.h"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <memory>

namespace g2 = graphmae2::models::graphmae2;

namespace {

const char* const kDatasets[] = {"cora", "citeseer"};

struct Setup {
  g2::GraphMAE2Config cfg;
  g2::PreparedGraph input;
  g2::GraphMAE2 model{nullptr};
  torch::Tensor targets;
  explicit Setup(const std::string& name) {
    cfg.apply_file((std::filesystem::path(GRAPHMAE2_SOURCE_DIR) / "configs" / (name + ".yaml")).string());
    auto data = graphmae2::datasets::load_node_dataset(name, graphmae2::datasets::resolve_data_root(std::nullopt));
    input = g2::prepare_inputs(data, cfg);
    model = g2::build_model(cfg, data.feature_dim());
    targets = torch::arange(input.features.size(0), torch::kInt64);
  }
  g2::MaskPlan plan() const {
    const int64_t n = input.features.size(0);
    g2::MaskPlan p{g2::random_subset(n, cfg.mask_rate, torch::kCPU), {}};
    if (cfg.remask_method == g2::RemaskMethod::random) {
      for (int64_t v = 0; v < cfg.num_remasking; ++v)
        p.remask_nodes.push_back(g2::random_subset(n, cfg.remask_rate, torch::kCPU));
    }
    return p;
  }
  g2::LossOptions loss() const { return cfg.loss_options(); }
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
    g2::GraphMAE2Batch batch;
    batch.graph = s.input.graph;
    batch.features = s.input.features;
    batch.sparse = s.sparse(sparse);
    batch.targets = s.targets;
    auto out = s.model->forward(batch, s.plan(), s.loss());
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
