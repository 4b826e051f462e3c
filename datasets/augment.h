#pragma once
// Batched, seeded image augmentations for two-view self-supervised learning (MoCo v3 / BYOL style), and a
// loader that turns an in-memory image set into shuffled batches of two augmented views.

#include <torch/torch.h>

#include <cstdint>
#include <utility>

namespace graphmae2::datasets {

/// @brief One view's augmentation pipeline, applied per image with independent random draws:
/// random resized crop -> horizontal flip -> brightness/contrast jitter -> Gaussian blur -> solarise.
struct AugmentOptions {
  /// Side of the square output (the crop is resized to output_size x output_size).
  TORCH_ARG(int64_t, output_size) = 28;
  /// Crop area as a fraction of the image, drawn uniformly in [crop_min_scale, crop_max_scale].
  TORCH_ARG(double, crop_min_scale) = 0.2;
  TORCH_ARG(double, crop_max_scale) = 1.0;
  /// Crop aspect ratio (width / height), drawn log-uniformly in [crop_min_ratio, crop_max_ratio].
  TORCH_ARG(double, crop_min_ratio) = 3.0 / 4.0;
  TORCH_ARG(double, crop_max_ratio) = 4.0 / 3.0;
  TORCH_ARG(double, flip_prob) = 0.5;
  /// With probability jitter_prob: brightness x b, b ~ U[1 - brightness, 1 + brightness], then contrast:
  /// blend with the image mean by c ~ U[1 - contrast, 1 + contrast] (torchvision's ColorJitter rules).
  TORCH_ARG(double, jitter_prob) = 0.8;
  TORCH_ARG(double, brightness) = 0.4;
  TORCH_ARG(double, contrast) = 0.4;
  /// With probability blur_prob: Gaussian blur with sigma ~ U[blur_sigma_min, blur_sigma_max] pixels.
  TORCH_ARG(double, blur_prob) = 1.0;
  TORCH_ARG(double, blur_sigma_min) = 0.1;
  TORCH_ARG(double, blur_sigma_max) = 2.0;
  /// With probability solarize_prob: pixels >= solarize_threshold become 1 - pixel.
  TORCH_ARG(double, solarize_prob) = 0.0;
  TORCH_ARG(double, solarize_threshold) = 0.5;

 public:
  /// Throws c10::Error naming the first option out of range.
  void validate() const;
};

/// The reference's asymmetric pair (moco-v3 main_moco.py): view 1 always blurred, never solarised; view 2
/// blurred with p 0.1, solarised with p 0.2. Blur sigma scales with the image ([0.1, 2] px at 224); below
/// 64 px that would stay under a pixel, so small images use [0.1, 1.0] px.
AugmentOptions mocov3_view1(int64_t output_size);
AugmentOptions mocov3_view2(int64_t output_size);

/// Augments every image of a batch independently. images: uint8 [B, C, H, W] (scaled by 1/255) or floating
/// [B, C, H, W] in [0, 1]. All randomness comes from `gen`, so the same generator state gives the same output.
/// Returns float32 [B, C, output_size, output_size] with values in [0, 1].
torch::Tensor augment_batch(const torch::Tensor& images, const AugmentOptions& options, torch::Generator& gen);

/// Two independently augmented views of each image: (augment_batch(view1), augment_batch(view2)), drawn in
/// that order from `gen`.
std::pair<torch::Tensor, torch::Tensor> two_views(const torch::Tensor& images, const AugmentOptions& view1,
                                                  const AugmentOptions& view2, torch::Generator& gen);

/// @brief Options of TwoViewLoader.
struct TwoViewLoaderOptions {
  TORCH_ARG(int64_t, batch_size) = 256;
  /// Drops the last incomplete batch (contrastive losses and BatchNorm dislike tiny batches).
  TORCH_ARG(bool, drop_last) = true;
  TORCH_ARG(uint64_t, seed) = 0;
  /// Per-channel normalisation applied after augmentation: (x - mean) / std.
  TORCH_ARG(double, mean) = 0.5;
  TORCH_ARG(double, std) = 0.5;
  TORCH_ARG(AugmentOptions, view1) = mocov3_view1(28);
  TORCH_ARG(AugmentOptions, view2) = mocov3_view2(28);
};

/// @brief Shuffles an in-memory image set per epoch and returns two augmented, normalised views per batch.
///
/// Batch (epoch, index) depends only on (seed, epoch, index): a run resumed mid-epoch sees exactly the batches
/// it would have seen, and batches can be made in any order.
class TwoViewLoader {
 public:
  /// images: uint8 [N, C, H, W] (kept by reference, not copied).
  TwoViewLoader(torch::Tensor images, TwoViewLoaderOptions options);

  int64_t batches_per_epoch() const;
  const TwoViewLoaderOptions& options() const { return options_; }

  struct Batch {
    torch::Tensor view1;    ///< float [B, C, S, S], normalised
    torch::Tensor view2;    ///< float [B, C, S, S], normalised
    torch::Tensor indices;  ///< int64 [B], rows of the image set
  };
  /// Batch `index` (in [0, batches_per_epoch())) of epoch `epoch` (>= 0).
  Batch batch(int64_t epoch, int64_t index);

 private:
  torch::Tensor images_;
  TwoViewLoaderOptions options_;
  int64_t perm_epoch_ = -1;
  torch::Tensor perm_;
};

/// Mixes a seed with up to two counters into a well-spread 64-bit seed (splitmix64), for per-batch generators.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

}  // namespace graphmae2::datasets
