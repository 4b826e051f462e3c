// Two-view augmentations: shapes, value range, seeded determinism, and each transform against a hand reference.

#include "datasets/augment.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>

using namespace graphmae2::datasets;

namespace {

torch::Generator gen_of(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

/// Every transform off: a full-image crop of the same size is the identity.
AugmentOptions identity_options(int64_t size) {
  return AugmentOptions()
      .output_size(size)
      .crop_min_scale(1.0)
      .crop_max_scale(1.0)
      .crop_min_ratio(1.0)
      .crop_max_ratio(1.0)
      .flip_prob(0.0)
      .jitter_prob(0.0)
      .blur_prob(0.0)
      .solarize_prob(0.0);
}

torch::Tensor random_images(int64_t b, int64_t c, int64_t h, int64_t w, uint64_t seed = 0) {
  auto g = gen_of(seed);
  return torch::randint(0, 256, {b, c, h, w}, g, torch::kUInt8);
}

}  // namespace

TEST(Augment, ShapeDtypeAndRange) {
  const auto imgs = random_images(16, 1, 28, 28);
  auto g = gen_of(3);
  for (const auto& opts : {mocov3_view1(28), mocov3_view2(28), mocov3_view1(20)}) {
    const auto out = augment_batch(imgs, opts, g);
    EXPECT_EQ(out.scalar_type(), torch::kFloat32);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{16, 1, opts.output_size(), opts.output_size()}));
    EXPECT_GE(out.min().item<float>(), 0.0f);
    EXPECT_LE(out.max().item<float>(), 1.0f);
  }
  // Three channels and float input work the same way.
  const auto rgb = random_images(4, 3, 32, 32).to(torch::kFloat32) / 255.0;
  const auto out = augment_batch(rgb, mocov3_view2(32), g);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{4, 3, 32, 32}));
}

TEST(Augment, SameSeedSameViewsOtherSeedOtherViews) {
  const auto imgs = random_images(8, 1, 28, 28);
  auto g1 = gen_of(42), g2 = gen_of(42), g3 = gen_of(43);
  const auto [a1, b1] = two_views(imgs, mocov3_view1(28), mocov3_view2(28), g1);
  const auto [a2, b2] = two_views(imgs, mocov3_view1(28), mocov3_view2(28), g2);
  const auto [a3, b3] = two_views(imgs, mocov3_view1(28), mocov3_view2(28), g3);
  EXPECT_TRUE(torch::equal(a1, a2));
  EXPECT_TRUE(torch::equal(b1, b2));
  EXPECT_FALSE(torch::equal(a1, a3));
  // The two views of one call differ (independent draws).
  EXPECT_FALSE(torch::equal(a1, b1));
}

TEST(Augment, IdentitySettingsReturnTheInput) {
  const auto imgs = random_images(5, 2, 12, 12);
  auto g = gen_of(0);
  const auto out = augment_batch(imgs, identity_options(12), g);
  EXPECT_TRUE(torch::allclose(out, imgs.to(torch::kFloat32) / 255.0, 0.0, 1e-5));
}

TEST(Augment, FlipMirrorsColumns) {
  const auto imgs = random_images(3, 1, 9, 9);
  auto g = gen_of(0);
  const auto out = augment_batch(imgs, identity_options(9).flip_prob(1.0), g);
  EXPECT_TRUE(torch::allclose(out, imgs.flip({3}).to(torch::kFloat32) / 255.0, 0.0, 1e-5));
}

TEST(Augment, CropOfHalfAreaZoomsIn) {
  // A crop of scale 0.25 (half width, half height) upsampled 2x: every output pixel lies within the value
  // range of the crop window, so a constant-quadrant image gives a constant output.
  auto img = torch::zeros({1, 1, 8, 8}, torch::kUInt8);
  img.index_put_({0, 0, torch::indexing::Slice(), torch::indexing::Slice()}, 200);
  auto g = gen_of(5);
  const auto out = augment_batch(img, identity_options(8).crop_min_scale(0.25).crop_max_scale(0.25), g);
  EXPECT_TRUE(torch::allclose(out, torch::full_like(out, 200.0 / 255.0), 0.0, 1e-5));
  // On a gradient image, a half-width crop has half the horizontal spread of the full image.
  auto ramp = torch::arange(64, torch::kFloat32).view({1, 1, 1, 64}).expand({1, 1, 64, 64}) / 63.0;
  const auto crop = augment_batch(ramp.contiguous(), identity_options(64).crop_min_scale(0.25).crop_max_scale(0.25), g);
  const double spread = (crop.max() - crop.min()).item<double>();
  EXPECT_NEAR(spread, 0.5, 0.05);
}

TEST(Augment, SolarizeInvertsBrightPixels) {
  const auto imgs = random_images(4, 1, 6, 6);
  auto g = gen_of(0);
  const auto out = augment_batch(imgs, identity_options(6).solarize_prob(1.0).solarize_threshold(0.5), g);
  const auto x = imgs.to(torch::kFloat32) / 255.0;
  const auto expect = torch::where(x >= 0.5, 1.0 - x, x);
  EXPECT_TRUE(torch::allclose(out, expect, 0.0, 1e-5));
}

TEST(Augment, BrightnessScalesEachImageByOneFactorInRange) {
  // Values <= 100/255 so that a factor <= 1.4 never clips.
  auto g0 = gen_of(9);
  const auto imgs = torch::randint(1, 100, {6, 1, 5, 5}, g0, torch::kUInt8);
  auto g = gen_of(1);
  const auto out = augment_batch(imgs, identity_options(5).jitter_prob(1.0).brightness(0.4).contrast(0.0), g);
  const auto ratio = out / (imgs.to(torch::kFloat32) / 255.0);
  for (int64_t i = 0; i < 6; ++i) {
    const double lo = ratio[i].min().item<double>(), hi = ratio[i].max().item<double>();
    EXPECT_NEAR(lo, hi, 1e-4) << i;
    EXPECT_GE(lo, 0.6 - 1e-5);
    EXPECT_LE(hi, 1.4 + 1e-5);
  }
}

TEST(Augment, ContrastKeepsTheMeanAndScalesDeviations) {
  auto g0 = gen_of(4);
  // Values in [100, 150]/255 around a mean near 0.49: a factor in [0.6, 1.4] keeps them inside [0, 1].
  const auto imgs = torch::randint(100, 150, {5, 1, 7, 7}, g0, torch::kUInt8);
  auto g = gen_of(2);
  const auto out = augment_batch(imgs, identity_options(7).jitter_prob(1.0).brightness(0.0).contrast(0.4), g);
  const auto x = imgs.to(torch::kFloat32) / 255.0;
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_NEAR(out[i].mean().item<double>(), x[i].mean().item<double>(), 1e-5);
    const double factor = (out[i].std() / x[i].std()).item<double>();
    EXPECT_GE(factor, 0.6 - 1e-4);
    EXPECT_LE(factor, 1.4 + 1e-4);
  }
}

TEST(Augment, BlurMatchesPlainLoopGaussian) {
  // A single bright pixel in the middle: the output is the normalised 2-D Gaussian kernel itself.
  const int64_t n = 15, c = 7;
  auto img = torch::zeros({1, 1, n, n});
  img.index_put_({0, 0, c, c}, 1.0);
  const double sigma = 1.3;
  auto g = gen_of(0);
  const auto out =
      augment_batch(img, identity_options(n).blur_prob(1.0).blur_sigma_min(sigma).blur_sigma_max(sigma), g);
  const int radius = static_cast<int>(std::ceil(3.0 * sigma));
  double norm = 0.0;
  for (int d = -radius; d <= radius; ++d) norm += std::exp(-d * d / (2 * sigma * sigma));
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      const int dy = y - c, dx = x - c;
      double expect = 0.0;
      if (std::abs(dy) <= radius && std::abs(dx) <= radius) {
        expect = std::exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)) / (norm * norm);
      }
      EXPECT_NEAR(out[0][0][y][x].item<double>(), expect, 1e-6) << y << "," << x;
    }
  }
  // A constant image stays constant (reflect padding adds no dark border).
  const auto flat = augment_batch(torch::full({2, 1, 10, 10}, 0.3), identity_options(10).blur_prob(1.0), g);
  EXPECT_TRUE(torch::allclose(flat, torch::full_like(flat, 0.3), 0.0, 1e-5));
}

TEST(Augment, BadOptionsAreRejected) {
  const auto imgs = random_images(2, 1, 8, 8);
  auto g = gen_of(0);
  EXPECT_THROW(augment_batch(imgs, AugmentOptions().crop_min_scale(0.0), g), c10::Error);
  EXPECT_THROW(augment_batch(imgs, AugmentOptions().flip_prob(1.5), g), c10::Error);
  EXPECT_THROW(augment_batch(imgs, AugmentOptions().blur_sigma_min(3).blur_sigma_max(1), g), c10::Error);
  EXPECT_THROW(augment_batch(imgs.view({2, 8, 8}), AugmentOptions(), g), c10::Error);
}

TEST(TwoViewLoader, BatchesCoverAnEpochOnceAndRepeatPerSeed) {
  const auto imgs = random_images(50, 1, 28, 28);
  TwoViewLoader loader(imgs, TwoViewLoaderOptions().batch_size(16).seed(7).mean(0.3).std(0.4));
  ASSERT_EQ(loader.batches_per_epoch(), 3);  // 50 / 16, last 2 dropped
  std::set<int64_t> seen;
  for (int64_t i = 0; i < 3; ++i) {
    const auto b = loader.batch(0, i);
    EXPECT_EQ(b.view1.sizes(), (std::vector<int64_t>{16, 1, 28, 28}));
    EXPECT_EQ(b.view2.sizes(), (std::vector<int64_t>{16, 1, 28, 28}));
    // Normalised from [0, 1]: values lie in [-0.3/0.4, 0.7/0.4].
    EXPECT_GE(b.view1.min().item<double>(), -0.75 - 1e-5);
    EXPECT_LE(b.view1.max().item<double>(), 1.75 + 1e-5);
    for (int64_t j = 0; j < 16; ++j) seen.insert(b.indices[j].item<int64_t>());
  }
  EXPECT_EQ(seen.size(), 48u);  // no image twice in an epoch
  // Batches depend only on (seed, epoch, index): a second loader, asked out of order, agrees.
  TwoViewLoader again(imgs, TwoViewLoaderOptions().batch_size(16).seed(7).mean(0.3).std(0.4));
  const auto late = again.batch(1, 2);
  const auto early = again.batch(0, 1);
  EXPECT_TRUE(torch::equal(early.view1, loader.batch(0, 1).view1));
  EXPECT_TRUE(torch::equal(late.view2, loader.batch(1, 2).view2));
  // Another epoch reshuffles.
  EXPECT_FALSE(torch::equal(loader.batch(1, 0).indices, loader.batch(0, 0).indices));
  EXPECT_THROW(loader.batch(0, 3), c10::Error);
}
