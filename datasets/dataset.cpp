#include "datasets/dataset.h"

#include <stdexcept>

namespace graphmae2::datasets {

void NodeDataset::validate() const {
  graph.validate();
  const int64_t n = graph.num_nodes();
  TORCH_CHECK(graph.is_square(), name, ": graph is ", graph.num_rows(), " x ", graph.num_cols, ", expected square");
  TORCH_CHECK(features.defined() && features.dim() == 2 && features.size(0) == n, name, ": features have shape ",
              features.defined() ? features.sizes() : c10::IntArrayRef{}, ", expected [", n, ", D]");
  TORCH_CHECK(features.scalar_type() == torch::kFloat32, name, ": features must be float32, got ",
              features.scalar_type());
  TORCH_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == n, name, ": labels have shape ",
              labels.defined() ? labels.sizes() : c10::IntArrayRef{}, ", expected [", n, "]");
  TORCH_CHECK(labels.scalar_type() == torch::kInt64, name, ": labels must be int64, got ", labels.scalar_type());
  for (const auto* m : {&train_mask, &val_mask, &test_mask}) {
    TORCH_CHECK(m->defined() && m->dim() == 1 && m->size(0) == n && m->scalar_type() == torch::kBool, name,
                ": split masks must be bool [", n, "]");
  }
  if (n > 0) {
    auto lo = labels.min().item<int64_t>();
    auto hi = labels.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < num_classes, name, ": labels span [", lo, ", ", hi, "] but num_classes is ",
                num_classes);
  }
}

torch::Tensor row_normalize(const torch::Tensor& features) {
  auto sums = features.sum(1, /*keepdim=*/true);
  return features / torch::where(sums == 0, torch::ones_like(sums), sums);
}

torch::Tensor to_float16_checked(const torch::Tensor& features, int64_t first_row) {
  constexpr double kHalfMax = 65504.0;
  const auto too_large = features.abs() > kHalfMax;
  if (too_large.any().item<bool>()) {
    const auto at = too_large.nonzero()[0];
    const int64_t row = at[0].item<int64_t>(), col = at[1].item<int64_t>();
    throw std::invalid_argument("float16 features: feature [" + std::to_string(first_row + row) + ", " +
                                std::to_string(col) + "] = " + std::to_string(features[row][col].item<double>()) +
                                " overflows float16 (largest 65504); keep float32 or normalise the features");
  }
  return features.to(torch::kHalf);
}

torch::Tensor standardize(const torch::Tensor& features) {
  auto mean = features.mean(0, /*keepdim=*/true);
  // StandardScaler divides by the population std and leaves constant columns at zero.
  auto std = features.std(0, /*unbiased=*/false, /*keepdim=*/true);
  return (features - mean) / torch::where(std == 0, torch::ones_like(std), std);
}

}  // namespace graphmae2::datasets
