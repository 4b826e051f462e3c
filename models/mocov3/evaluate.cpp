#include "models/mocov3/evaluate.h"

#include <ATen/CPUGeneratorImpl.h>

namespace graphmae2::models::mocov3 {

torch::Tensor extract_features(vit::VisionTransformer& backbone, const torch::Tensor& images, double mean, double std,
                               int64_t last_blocks, int64_t batch_size) {
  TORCH_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8,
              "extract_features: images must be uint8 [N, C, H, W], got ", images.scalar_type(), " ", images.sizes());
  TORCH_CHECK(batch_size >= 1, "extract_features: batch_size must be >= 1, got ", batch_size);
  TORCH_CHECK(std > 0.0, "extract_features: std must be > 0, got ", std);
  torch::NoGradGuard no_grad;
  const bool was_training = backbone->is_training();
  backbone->eval();
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    const auto x = images.slice(0, start, std::min(start + batch_size, images.size(0))).to(torch::kFloat32);
    parts.push_back(backbone->forward_features(x.div(255.0).sub_(mean).div_(std), last_blocks));
  }
  backbone->train(was_training);
  if (parts.empty()) return torch::empty({0, last_blocks * backbone->embed_dim()});
  return torch::cat(parts, 0);
}

double knn_accuracy(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                    const torch::Tensor& test_features, const torch::Tensor& test_labels, int64_t num_classes,
                    int64_t k, double t) {
  TORCH_CHECK(train_features.dim() == 2 && test_features.dim() == 2 && train_features.size(1) == test_features.size(1),
              "knn_accuracy: features must be [N, D] with equal D, got ", train_features.sizes(), " and ",
              test_features.sizes());
  TORCH_CHECK(train_labels.size(0) == train_features.size(0) && test_labels.size(0) == test_features.size(0),
              "knn_accuracy: label counts ", train_labels.size(0), " / ", test_labels.size(0),
              " do not match features ", train_features.size(0), " / ", test_features.size(0));
  TORCH_CHECK(k >= 1 && k <= train_features.size(0), "knn_accuracy: k must be in [1, ", train_features.size(0),
              "], got ", k);
  TORCH_CHECK(t > 0.0, "knn_accuracy: t must be > 0, got ", t);
  torch::NoGradGuard no_grad;
  namespace F = torch::nn::functional;
  const auto bank = F::normalize(train_features.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  const auto queries = F::normalize(test_features.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  int64_t correct = 0;
  constexpr int64_t kChunk = 512;  // bounds the [chunk, N_train] similarity matrix
  for (int64_t start = 0; start < queries.size(0); start += kChunk) {
    const auto q = queries.slice(0, start, std::min(start + kChunk, queries.size(0)));
    const auto [sim, idx] = torch::matmul(q, bank.t()).topk(k, 1);
    const auto neighbour_labels = train_labels.index({idx});  // [chunk, k]
    auto votes = torch::zeros({q.size(0), num_classes});
    votes.scatter_add_(1, neighbour_labels, (sim / t).exp());
    correct += (votes.argmax(1) == test_labels.slice(0, start, start + q.size(0))).sum().item<int64_t>();
  }
  return queries.size(0) == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(queries.size(0));
}

eval::ProbeResult image_linear_probe(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                                     const torch::Tensor& test_features, const torch::Tensor& test_labels,
                                     int64_t num_classes, const eval::ProbeOptions& options, double val_fraction) {
  TORCH_CHECK(val_fraction > 0.0 && val_fraction < 1.0, "image_linear_probe: val_fraction must be in (0, 1), got ",
              val_fraction);
  TORCH_CHECK(train_features.dim() == 2 && test_features.dim() == 2 && train_features.size(1) == test_features.size(1),
              "image_linear_probe: features must be [N, D] with equal D, got ", train_features.sizes(), " and ",
              test_features.sizes());
  torch::NoGradGuard no_grad;
  const int64_t n_train = train_features.size(0), n_test = test_features.size(0);
  // A diverged encoder gives NaN features; zeros keep the probe defined (and at chance level).
  const auto tr = torch::nan_to_num(train_features.to(torch::kFloat32), 0.0, 0.0, 0.0);
  const auto te = torch::nan_to_num(test_features.to(torch::kFloat32), 0.0, 0.0, 0.0);
  const auto mu = tr.mean(0, true);
  const auto sd = tr.std(0, /*unbiased=*/true, /*keepdim=*/true).clamp_min(1e-6);
  const auto x = torch::cat({(tr - mu) / sd, (te - mu) / sd}, 0);
  const auto y = torch::cat({train_labels, test_labels}, 0);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed + 1);
  const auto perm = torch::randperm(n_train, gen, torch::kInt64);
  const int64_t n_val = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(n_train) * val_fraction));
  auto train_mask = torch::zeros({n_train + n_test}, torch::kBool);
  auto val_mask = torch::zeros({n_train + n_test}, torch::kBool);
  auto test_mask = torch::zeros({n_train + n_test}, torch::kBool);
  train_mask.index_put_({perm.slice(0, n_val)}, true);
  val_mask.index_put_({perm.slice(0, 0, n_val)}, true);
  test_mask.slice(0, n_train).fill_(true);
  torch::AutoGradMode enable_grad(true);  // the probe trains its head
  return eval::linear_probe(x, y, num_classes, train_mask, val_mask, test_mask, options);
}

}  // namespace graphmae2::models::mocov3
