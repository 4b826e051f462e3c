#include "models/eval/finetune_ego_graphs.h"

#include "graph/sampling/batch.h"
#include "models/engine/grad_norm.h"
#include "models/engine/progress.h"
#include "models/engine/seed_scope.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace graphmae2::models::eval {

namespace {

/// @brief The ego-graphs of a batch of seeds on the device: their block-diagonal induced subgraphs, the rows
/// of their nodes and the positions of the seeds, with the seeds' labels.
struct EgoBatch {
  graph::CsrGraph graph;
  torch::Tensor features;
  torch::Tensor targets;
  torch::Tensor labels;
};

EgoBatch ego_batch(const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                   const graph::sampling::EgoGraphs& egos, const torch::Tensor& which, const torch::Tensor& labels,
                   const torch::Device& device) {
  const auto chosen = egos.select(which);
  const auto batched =
      graph::sampling::batched_induced_subgraphs(graph, chosen.indptr, chosen.indices.to(torch::kLong));
  EgoBatch b;
  b.graph = batched.graph.to(device);
  b.features = features.gather(batched.node_ids).to(device);
  b.targets = batched.node_offsets.narrow(0, 0, which.size(0)).to(device);  // each ego-graph's first node: its seed
  b.labels = labels.index_select(0, egos.seeds.index_select(0, which)).to(device);
  return b;
}

torch::Tensor seed_logits(layers::GATImpl& encoder, torch::nn::LinearImpl& head, const EgoBatch& b) {
  return head.forward(encoder.forward(b.graph, b.features).index_select(0, b.targets));
}

/// @brief Positions in `egos` of the ego-graphs whose seed is train, val or test, in the ego file's order.
struct EgoSplits {
  torch::Tensor train, val, test;
};

EgoSplits ego_splits(const graph::sampling::EgoGraphs& egos, const torch::Tensor& train_mask,
                     const torch::Tensor& val_mask, const torch::Tensor& test_mask) {
  const auto in = [&](const torch::Tensor& mask) { return mask.index_select(0, egos.seeds).nonzero().flatten(); };
  EgoSplits s{in(train_mask), in(val_mask), in(test_mask)};
  const int64_t found = s.train.size(0) + s.val.size(0) + s.test.size(0);
  const int64_t labelled = (train_mask | val_mask | test_mask).sum().item<int64_t>();
  TORCH_CHECK(found >= labelled, "finetune: ", labelled - found, " train/valid/test nodes have no ego-graph");
  TORCH_CHECK(s.train.size(0) > 0, "finetune: no train node has an ego-graph");
  return s;
}

/// Accuracy of head(encoder(...)) at the seeds of the ego-graphs `which`, in batches of `batch_size`.
double ego_accuracy(layers::GATImpl& encoder, torch::nn::LinearImpl& head, const graph::CsrGraph& graph,
                    const datasets::FeatureStore& features, const graph::sampling::EgoGraphs& egos,
                    const torch::Tensor& which, const torch::Tensor& labels, int64_t batch_size,
                    const torch::Device& device) {
  if (which.numel() == 0) return 0.0;
  torch::NoGradGuard no_grad;
  encoder.eval();
  head.eval();
  auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
  for (int64_t begin = 0; begin < which.size(0); begin += batch_size) {
    const auto part = which.narrow(0, begin, std::min(batch_size, which.size(0) - begin));
    const auto b = ego_batch(graph, features, egos, part, labels, device);
    correct += (seed_logits(encoder, head, b).argmax(1) == b.labels).sum();
  }
  return static_cast<double>(correct.item<int64_t>()) / static_cast<double>(which.size(0));
}

/// The reference's schedule: linear warm-up over `warmup` epochs, then a cosine decay to 0 at max_epoch.
double warmup_cosine(int64_t epoch, int64_t warmup, int64_t max_epoch) {
  if (epoch < warmup) return static_cast<double>(epoch) / static_cast<double>(warmup);
  return 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(epoch - warmup) / static_cast<double>(max_epoch - warmup)));
}

/// @brief The model being fine-tuned: a copy of the encoder, its head and their optimiser.
struct FineTuned {
  std::shared_ptr<layers::GATImpl> encoder;
  torch::nn::Linear head{nullptr};
  std::vector<torch::Tensor> params;
  std::unique_ptr<torch::optim::AdamW> opt;
};

FineTuned fine_tuned(const layers::GAT& encoder_in, int64_t num_classes, const ProbeOptions& options,
                     const torch::Device& device) {
  FineTuned m;
  m.encoder = std::dynamic_pointer_cast<layers::GATImpl>(encoder_in->clone());
  m.encoder->to(device);
  for (auto& p : m.encoder->parameters()) p.set_requires_grad(true);
  m.head = torch::nn::Linear(m.encoder->output_dim(), num_classes);
  m.head->to(device);
  m.params = m.encoder->parameters();
  for (const auto& p : m.head->parameters()) m.params.push_back(p);
  m.opt = std::make_unique<torch::optim::AdamW>(
      m.params, torch::optim::AdamWOptions(options.lr).weight_decay(options.weight_decay));
  return m;
}

/// One epoch over the train ego-graphs in `order`, in batches of `batch_size`.
void train_epoch(FineTuned& m, const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                 const graph::sampling::EgoGraphs& egos, const torch::Tensor& order, const torch::Tensor& labels,
                 int64_t batch_size, const torch::Device& device) {
  m.encoder->train();
  m.head->train();
  for (int64_t begin = 0; begin < order.size(0); begin += batch_size) {
    const auto part = order.narrow(0, begin, std::min(batch_size, order.size(0) - begin));
    const auto b = ego_batch(graph, features, egos, part, labels, device);
    auto loss = torch::nn::functional::cross_entropy(seed_logits(*m.encoder, *m.head, b), b.labels);
    m.opt->zero_grad();
    loss.backward();
    engine::clip_grad_norm(m.params, 5.0);
    m.opt->step();
  }
}

}  // namespace

ProbeResult finetune_ego_graphs(const layers::GAT& encoder, const graph::CsrGraph& graph,
                                const datasets::FeatureStore& features, const graph::sampling::EgoGraphs& egos,
                                const torch::Tensor& labels, int64_t num_classes, const torch::Tensor& train_mask,
                                const torch::Tensor& val_mask, const torch::Tensor& test_mask,
                                const ProbeOptions& options, const torch::Device& device, bool progress) {
  TORCH_CHECK(num_classes >= 2, "finetune: num_classes must be >= 2, got ", num_classes);
  TORCH_CHECK(options.max_epoch >= 1, "finetune: max_epoch must be >= 1, got ", options.max_epoch);
  TORCH_CHECK(options.batch_size >= 1, "finetune: batch_size must be >= 1, got ", options.batch_size);
  const auto split = ego_splits(egos, train_mask, val_mask, test_mask);
  // The probe's draws are torch::manual_seed(seed)'s; the caller's generators are given back when it ends.
  const engine::SeedScope seeded(options.seed, device);
  auto m = fine_tuned(encoder, num_classes, options, device);
  const auto accuracy_of = [&](layers::GATImpl& enc, torch::nn::LinearImpl& head, const torch::Tensor& which) {
    return ego_accuracy(enc, head, graph, features, egos, which, labels, options.batch_size, device);
  };
  const int64_t warmup = options.max_epoch / 10;
  const auto batch_generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  ProbeResult result;
  std::shared_ptr<layers::GATImpl> best_encoder;
  std::shared_ptr<torch::nn::Module> best_head;
  int64_t since_best = 0;
  engine::ProgressBar bar("fine-tune", options.max_epoch, progress, 0);
  for (int64_t epoch = 1; epoch < options.max_epoch && since_best < 10; ++epoch) {
    const double lr = options.lr * warmup_cosine(epoch, warmup, options.max_epoch);
    for (auto& group : m.opt->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    const auto order = split.train.index_select(0, torch::randperm(split.train.size(0), batch_generator, torch::kLong));
    train_epoch(m, graph, features, egos, order, labels, options.batch_size, device);
    const double val_acc = accuracy_of(*m.encoder, *m.head, split.val);
    // The reference keeps a strictly better validation accuracy (and counts the rest towards the early stop).
    if (result.best_epoch < 0 || val_acc > result.best_val_acc) {
      result.best_val_acc = val_acc;
      result.best_epoch = epoch;
      best_encoder = std::dynamic_pointer_cast<layers::GATImpl>(m.encoder->clone());
      best_head = m.head->clone();
      since_best = 0;
    } else {
      ++since_best;
    }
    bar.update(epoch + 1, "val " + std::to_string(val_acc));
    if (options.on_epoch) options.on_epoch(epoch);
  }
  bar.finish();
  if (best_encoder) {
    result.test_acc =
        accuracy_of(*best_encoder, *std::dynamic_pointer_cast<torch::nn::LinearImpl>(best_head), split.test);
  }
  result.final_test_acc = accuracy_of(*m.encoder, *m.head, split.test);
  return result;
}

}  // namespace graphmae2::models::eval
