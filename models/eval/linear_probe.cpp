#include "models/eval/linear_probe.h"
#include "models/engine/seed_scope.h"

namespace graphmae2::models::eval {

double accuracy(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  const auto count = mask.sum().item<int64_t>();
  if (count == 0) return 0.0;
  auto correct = (logits.argmax(1) == labels).logical_and(mask).sum().item<int64_t>();
  return static_cast<double>(correct) / static_cast<double>(count);
}

ProbeResult linear_probe(const torch::Tensor& embeddings, const torch::Tensor& labels, int64_t num_classes,
                         const torch::Tensor& train_mask, const torch::Tensor& val_mask, const torch::Tensor& test_mask,
                         const ProbeOptions& options) {
  TORCH_CHECK(embeddings.dim() == 2, "linear_probe: embeddings must be [N, D], got ", embeddings.sizes());
  const int64_t n = embeddings.size(0);
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == n, "linear_probe: labels have shape ", labels.sizes(),
              ", expected [", n, "]");
  for (const auto* m : {&train_mask, &val_mask, &test_mask}) {
    TORCH_CHECK(m->dim() == 1 && m->size(0) == n && m->scalar_type() == torch::kBool,
                "linear_probe: masks must be bool [", n, "], got ", m->scalar_type(), " ", m->sizes());
  }
  TORCH_CHECK(num_classes >= 2, "linear_probe: num_classes must be >= 2, got ", num_classes);
  if (const auto bad = embeddings.isfinite().logical_not(); bad.any().item<bool>()) {
    const auto at = bad.nonzero()[0];
    TORCH_CHECK(false, "linear_probe: the embeddings hold ", bad.sum().item<int64_t>(),
                " NaN or infinite values (first ", "at node row ", at[0].item<int64_t>(), ", column ",
                at[1].item<int64_t>(),
                "); the encoder diverged or its input was not finite, so a probe would measure nothing");
  }
  TORCH_CHECK(train_mask.any().item<bool>(), "linear_probe: the train mask is empty");
  TORCH_CHECK(options.max_epoch >= 1, "linear_probe: max_epoch must be >= 1, got ", options.max_epoch);
  TORCH_CHECK(options.batch_size >= 0, "linear_probe: batch_size must be >= 0, got ", options.batch_size);

  // The probe's draws are torch::manual_seed(seed)'s; the caller's generators are given back when it ends.
  const engine::SeedScope seeded(options.seed, embeddings.device());
  auto x = embeddings.detach();
  auto train_idx = train_mask.nonzero().squeeze(1);
  auto x_train = x.index_select(0, train_idx);
  auto y_train = labels.index_select(0, train_idx);
  torch::nn::Linear head(x.size(1), num_classes);
  head->to(x.device());
  torch::optim::Adam opt(head->parameters(), torch::optim::AdamOptions(options.lr).weight_decay(options.weight_decay));
  ProbeResult result;
  for (int64_t epoch = 0; epoch < options.max_epoch; ++epoch) {
    head->train();
    const int64_t num_train = x_train.size(0);
    if (options.batch_size == 0 || options.batch_size >= num_train) {
      auto loss = torch::nn::functional::cross_entropy(head(x_train), y_train);
      opt.zero_grad();
      loss.backward();
      opt.step();
    } else {
      const auto order = torch::randperm(num_train, torch::TensorOptions().dtype(torch::kLong)).to(x.device());
      for (int64_t begin = 0; begin < num_train; begin += options.batch_size) {
        const auto rows = order.narrow(0, begin, std::min(options.batch_size, num_train - begin));
        auto loss =
            torch::nn::functional::cross_entropy(head(x_train.index_select(0, rows)), y_train.index_select(0, rows));
        opt.zero_grad();
        loss.backward();
        opt.step();
      }
    }
    torch::NoGradGuard no_grad;
    head->eval();
    auto logits = head(x);
    result.observe(epoch, accuracy(logits, labels, val_mask), accuracy(logits, labels, test_mask));
    if (options.on_epoch) options.on_epoch(epoch);
  }
  return result;
}

}  // namespace graphmae2::models::eval
