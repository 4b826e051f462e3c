#include "datasets/augment.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

namespace graphmae2::datasets {
namespace F = torch::nn::functional;

void AugmentOptions::validate() const {
  TORCH_CHECK(output_size() >= 1, "AugmentOptions: output_size must be >= 1, got ", output_size());
  TORCH_CHECK(crop_min_scale() > 0.0 && crop_min_scale() <= crop_max_scale() && crop_max_scale() <= 1.0,
              "AugmentOptions: need 0 < crop_min_scale <= crop_max_scale <= 1, got [", crop_min_scale(), ", ",
              crop_max_scale(), "]");
  TORCH_CHECK(crop_min_ratio() > 0.0 && crop_min_ratio() <= crop_max_ratio(),
              "AugmentOptions: need 0 < crop_min_ratio <= crop_max_ratio, got [", crop_min_ratio(), ", ",
              crop_max_ratio(), "]");
  for (const auto& [name, p] : {std::pair<const char*, double>{"flip_prob", flip_prob()},
                                {"jitter_prob", jitter_prob()},
                                {"blur_prob", blur_prob()},
                                {"solarize_prob", solarize_prob()}}) {
    TORCH_CHECK(p >= 0.0 && p <= 1.0, "AugmentOptions: ", name, " must be in [0, 1], got ", p);
  }
  TORCH_CHECK(brightness() >= 0.0 && brightness() < 1.0, "AugmentOptions: brightness must be in [0, 1), got ",
              brightness());
  TORCH_CHECK(contrast() >= 0.0 && contrast() < 1.0, "AugmentOptions: contrast must be in [0, 1), got ", contrast());
  TORCH_CHECK(blur_sigma_min() > 0.0 && blur_sigma_min() <= blur_sigma_max(),
              "AugmentOptions: need 0 < blur_sigma_min <= blur_sigma_max, got [", blur_sigma_min(), ", ",
              blur_sigma_max(), "]");
}

AugmentOptions mocov3_view1(int64_t output_size) {
  const double sigma_max = output_size >= 64 ? 2.0 * static_cast<double>(output_size) / 224.0 : 1.0;
  return AugmentOptions()
      .output_size(output_size)
      .blur_prob(1.0)
      .blur_sigma_max(std::max(0.1, sigma_max))
      .solarize_prob(0.0);
}

AugmentOptions mocov3_view2(int64_t output_size) { return mocov3_view1(output_size).blur_prob(0.1).solarize_prob(0.2); }

namespace {

/// Per-sample Bernoulli(p) as a float {0, 1} tensor of shape [B].
torch::Tensor coin(int64_t b, double p, torch::Generator& gen) {
  return (torch::rand({b}, gen) < p).to(torch::kFloat32);
}

torch::Tensor uniform(int64_t b, double lo, double hi, torch::Generator& gen) {
  return torch::rand({b}, gen) * (hi - lo) + lo;
}

torch::Tensor resized_crop_and_flip(const torch::Tensor& x, const AugmentOptions& o, torch::Generator& gen) {
  const int64_t b = x.size(0);
  const auto area = uniform(b, o.crop_min_scale(), o.crop_max_scale(), gen);
  const auto log_ratio = uniform(b, std::log(o.crop_min_ratio()), std::log(o.crop_max_ratio()), gen);
  const auto ratio = log_ratio.exp();
  // Crop width/height as fractions of the image. torchvision redraws crops that do not fit; clamping to the
  // image instead keeps the batch draw-count fixed (needed for seeded determinism) at a slight bias to squarer crops.
  const auto w = (area * ratio).sqrt().clamp_max(1.0);
  const auto h = (area / ratio).sqrt().clamp_max(1.0);
  const auto cx = (torch::rand({b}, gen) * 2.0 - 1.0) * (1.0 - w);
  const auto cy = (torch::rand({b}, gen) * 2.0 - 1.0) * (1.0 - h);
  const auto flip = 1.0 - 2.0 * coin(b, o.flip_prob(), gen);
  auto zeros = torch::zeros({b});
  // affine_grid maps output coords in [-1, 1] to input coords: x_in = w * flip * x_out + cx, y_in = h * y_out + cy.
  auto theta = torch::stack({torch::stack({w * flip, zeros, cx}, 1), torch::stack({zeros, h, cy}, 1)}, 1);
  const int64_t s = o.output_size();
  auto grid = F::affine_grid(theta, {b, x.size(1), s, s}, /*align_corners=*/false);
  return F::grid_sample(
      x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));
}

torch::Tensor jitter(const torch::Tensor& x, const AugmentOptions& o, torch::Generator& gen) {
  const int64_t b = x.size(0);
  const auto apply = coin(b, o.jitter_prob(), gen);
  const auto bright = uniform(b, 1.0 - o.brightness(), 1.0 + o.brightness(), gen);
  const auto contr = uniform(b, 1.0 - o.contrast(), 1.0 + o.contrast(), gen);
  // Not applying a jitter is a factor of 1.
  const auto bf = (apply * bright + (1.0 - apply)).view({b, 1, 1, 1});
  const auto cf = (apply * contr + (1.0 - apply)).view({b, 1, 1, 1});
  auto y = (x * bf).clamp(0.0, 1.0);
  const auto mean = y.mean({1, 2, 3}, /*keepdim=*/true);
  return ((y - mean) * cf + mean).clamp(0.0, 1.0);
}

torch::Tensor blur(const torch::Tensor& x, const AugmentOptions& o, torch::Generator& gen) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const auto apply = coin(b, o.blur_prob(), gen);
  const auto sigma = uniform(b, o.blur_sigma_min(), o.blur_sigma_max(), gen);
  // Kernel covers +-3 sigma_max, kept odd and smaller than the image (reflect padding needs pad < side).
  int64_t radius = static_cast<int64_t>(std::ceil(3.0 * o.blur_sigma_max()));
  radius = std::max<int64_t>(1, std::min<int64_t>(radius, std::min(h, w) - 1));
  if (!apply.any().item<bool>()) return x;
  const int64_t k = 2 * radius + 1;
  const auto offsets = torch::arange(-radius, radius + 1, torch::kFloat32).view({1, k});
  auto kernel = torch::exp(-offsets.pow(2) / (2.0 * sigma.view({b, 1}).pow(2)));
  kernel = kernel / kernel.sum(1, true);
  // Images not blurred get the identity kernel (a centred delta).
  auto delta = torch::zeros({1, k});
  delta.index_put_({0, radius}, 1.0);
  kernel = apply.view({b, 1}) * kernel + (1.0 - apply.view({b, 1})) * delta;
  kernel = kernel.repeat_interleave(c, 0);  // [B*C, K]: one kernel per (image, channel) plane
  auto planes = x.reshape({1, b * c, h, w});
  planes = F::pad(planes, F::PadFuncOptions({radius, radius, radius, radius}).mode(torch::kReflect));
  planes = F::conv2d(planes, kernel.view({b * c, 1, 1, k}), F::Conv2dFuncOptions().groups(b * c));
  planes = F::conv2d(planes, kernel.view({b * c, 1, k, 1}), F::Conv2dFuncOptions().groups(b * c));
  return planes.view({b, c, h, w});
}

torch::Tensor solarize(const torch::Tensor& x, const AugmentOptions& o, torch::Generator& gen) {
  const int64_t b = x.size(0);
  const auto apply = coin(b, o.solarize_prob(), gen).view({b, 1, 1, 1}).to(torch::kBool);
  return torch::where(apply.logical_and(x >= o.solarize_threshold()), 1.0 - x, x);
}

}  // namespace

torch::Tensor augment_batch(const torch::Tensor& images, const AugmentOptions& options, torch::Generator& gen) {
  options.validate();
  TORCH_CHECK(images.dim() == 4, "augment_batch: images must be [B, C, H, W], got ", images.sizes());
  TORCH_CHECK(images.scalar_type() == torch::kUInt8 || images.is_floating_point(),
              "augment_batch: images must be uint8 or floating, got ", images.scalar_type());
  TORCH_CHECK(images.device().is_cpu(), "augment_batch: images must be on the CPU, got ", images.device());
  torch::NoGradGuard no_grad;
  auto x = images.scalar_type() == torch::kUInt8 ? images.to(torch::kFloat32).div_(255.0) : images.to(torch::kFloat32);
  if (x.size(0) == 0) return torch::empty({0, x.size(1), options.output_size(), options.output_size()});
  x = resized_crop_and_flip(x, options, gen);
  x = jitter(x, options, gen);
  x = blur(x, options, gen);
  x = solarize(x, options, gen);
  return x.contiguous();
}

std::pair<torch::Tensor, torch::Tensor> two_views(const torch::Tensor& images, const AugmentOptions& view1,
                                                  const AugmentOptions& view2, torch::Generator& gen) {
  auto a = augment_batch(images, view1, gen);
  auto b = augment_batch(images, view2, gen);
  return {std::move(a), std::move(b)};
}

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  auto step = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return step(step(step(seed) ^ a) ^ b);
}

TwoViewLoader::TwoViewLoader(torch::Tensor images, TwoViewLoaderOptions options)
    : images_(std::move(images)), options_(std::move(options)) {
  TORCH_CHECK(images_.dim() == 4 && images_.scalar_type() == torch::kUInt8,
              "TwoViewLoader: images must be uint8 [N, C, H, W], got ", images_.scalar_type(), " ", images_.sizes());
  TORCH_CHECK(options_.batch_size() >= 1, "TwoViewLoader: batch_size must be >= 1, got ", options_.batch_size());
  TORCH_CHECK(options_.std() > 0.0, "TwoViewLoader: std must be > 0, got ", options_.std());
  TORCH_CHECK(batches_per_epoch() >= 1, "TwoViewLoader: ", images_.size(0), " images make no batch of ",
              options_.batch_size(), (options_.drop_last() ? " (drop_last)" : ""));
  options_.view1().validate();
  options_.view2().validate();
}

int64_t TwoViewLoader::batches_per_epoch() const {
  const int64_t n = images_.size(0), bs = options_.batch_size();
  return options_.drop_last() ? n / bs : (n + bs - 1) / bs;
}

TwoViewLoader::Batch TwoViewLoader::batch(int64_t epoch, int64_t index) {
  TORCH_CHECK(epoch >= 0, "TwoViewLoader: epoch must be >= 0, got ", epoch);
  TORCH_CHECK(index >= 0 && index < batches_per_epoch(), "TwoViewLoader: batch index ", index, " outside [0, ",
              batches_per_epoch(), ")");
  if (perm_epoch_ != epoch) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix_seed(options_.seed(), static_cast<uint64_t>(epoch)));
    perm_ = torch::randperm(images_.size(0), gen, torch::kInt64);
    perm_epoch_ = epoch;
  }
  const int64_t bs = options_.batch_size();
  const int64_t start = index * bs;
  const int64_t end = std::min(start + bs, images_.size(0));
  Batch out;
  out.indices = perm_.slice(0, start, end);
  auto imgs = images_.index_select(0, out.indices);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(
      mix_seed(options_.seed(), static_cast<uint64_t>(epoch), static_cast<uint64_t>(index) + 1));
  auto [a, b] = two_views(imgs, options_.view1(), options_.view2(), gen);
  out.view1 = a.sub_(options_.mean()).div_(options_.std());
  out.view2 = b.sub_(options_.mean()).div_(options_.std());
  return out;
}

}  // namespace graphmae2::datasets
