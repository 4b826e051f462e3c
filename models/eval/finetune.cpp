#include "models/eval/finetune.h"
#include "models/engine/seed_scope.h"

namespace graphmae2::models::eval {

ProbeResult finetune(const layers::GAT& encoder, const graph::CsrGraph& graph, const torch::Tensor& x,
                     const torch::Tensor& labels, int64_t num_classes, const torch::Tensor& train_mask,
                     const torch::Tensor& val_mask, const torch::Tensor& test_mask, const ProbeOptions& options) {
  const int64_t n = x.size(0);
  TORCH_CHECK(graph.num_rows() == n && graph.num_cols == n, "finetune: graph is ", graph.num_rows(), " x ",
              graph.num_cols, " but features have ", n, " rows");
  TORCH_CHECK(labels.size(0) == n, "finetune: labels have ", labels.size(0), " entries, expected ", n);
  TORCH_CHECK(num_classes >= 2, "finetune: num_classes must be >= 2, got ", num_classes);
  TORCH_CHECK(options.max_epoch >= 1, "finetune: max_epoch must be >= 1, got ", options.max_epoch);
  // The probe's draws are torch::manual_seed(seed)'s; the caller's generators are given back when it ends.
  const engine::SeedScope seeded(options.seed);
  // A deep copy, so the pretrained weights stay as they are for the next evaluation.
  auto model = std::dynamic_pointer_cast<layers::GATImpl>(encoder->clone());
  for (auto& p : model->parameters()) p.set_requires_grad(true);
  torch::nn::Linear head(model->output_dim(), num_classes);
  auto params = model->parameters();
  for (const auto& p : head->parameters()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(options.lr).weight_decay(options.weight_decay));
  auto train_idx = train_mask.nonzero().squeeze(1);
  auto y_train = labels.index_select(0, train_idx);

  ProbeResult result;
  for (int64_t epoch = 0; epoch < options.max_epoch; ++epoch) {
    model->train();
    head->train();
    auto logits = head(model->forward(graph, x)).index_select(0, train_idx);
    auto loss = torch::nn::functional::cross_entropy(logits, y_train);
    opt.zero_grad();
    loss.backward();
    opt.step();
    torch::NoGradGuard no_grad;
    model->eval();
    head->eval();
    auto all = head(model->forward(graph, x));
    result.observe(epoch, accuracy(all, labels, val_mask), accuracy(all, labels, test_mask));
    if (options.on_epoch) options.on_epoch(epoch);
  }
  return result;
}

}  // namespace graphmae2::models::eval
