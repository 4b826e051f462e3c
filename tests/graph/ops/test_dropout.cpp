// graph::dropout (Philox mask, kept as bits on the CPU or recomputed in backward) against a plain loop over
// graph/ops/philox.h.

#include "graph/ops/cpu/dropout_kernel.h"
#include "graph/ops/dropout.h"
#include "graph/ops/philox.h"
#include "graph/ops/op_testing.h"

#include <gtest/gtest.h>

#include <cmath>

namespace g = graphmae2::graph;

namespace {

// The scale of element i: a plain loop over the scalar Philox of philox.h, with the threshold written out.
torch::Tensor reference_scales(int64_t n, double rate, uint64_t seed, uint64_t offset) {
  auto out = torch::empty({n}, torch::kDouble);
  const double threshold = std::ceil(static_cast<double>(static_cast<float>(rate)) * 16777216.0);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = g::philox_dropout_bits(seed, offset, i);
    out[i] = static_cast<double>(bits >> 8) >= threshold ? 1.0 / (1.0 - rate) : 0.0;
  }
  return out;
}

}  // namespace

TEST(Dropout, KernelEqualsAPlainLoopOverPhilox) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    for (int64_t n : {1, 3, 16, 17, 63, 64, 65, 1001, 40000}) {  // sizes across the kernel's 64-element chunks
      for (double rate : {0.1, 0.5, 0.9}) {
        const uint64_t seed = 0x0123456789ABCDEFull + static_cast<uint64_t>(n), offset = 12;
        const auto expected = reference_scales(n, rate, seed, offset);
        const auto x = torch::randn({n}, torch::kDouble);
        const auto got = g::cpu::dropout_forward(x, x, {rate, seed, offset});
        EXPECT_TRUE(torch::allclose(got, x * expected, 1e-15, 0)) << "n " << n << " rate " << rate;
        const auto scales =
            g::cpu::dropout_forward(torch::Tensor(), torch::empty({n}, torch::kFloat), {rate, seed, offset});
        EXPECT_TRUE(torch::equal(scales, expected.to(torch::kFloat))) << "n " << n << " rate " << rate;
      }
    }
  });
}

TEST(Dropout, SimdAndScalarPathsGiveTheSameBits) {
  if (!g::simd_built()) GTEST_SKIP() << "built without SIMD paths";
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    const auto x = torch::randn({10007}, dtype), g_out = torch::randn({10007}, dtype);
    std::vector<torch::Tensor> outs;
    for (const bool simd : {true, false}) {
      g::SimdScope scope(simd);
      auto xg = x.clone().requires_grad_();
      const auto y = g::dropout_with_seed(xg, 0.4, 77, 8);
      (y * g_out).sum().backward();
      outs.insert(outs.end(), {y.detach(), xg.grad()});
    }
    EXPECT_TRUE(torch::equal(outs[0], outs[2])) << dtype;
    EXPECT_TRUE(torch::equal(outs[1], outs[3])) << dtype;
  }
}

TEST(Dropout, KeepsAboutOneMinusPAndScalesTheKept) {
  torch::manual_seed(0);
  const auto x = torch::ones({1000, 1000});
  for (double p : {0.2, 0.5}) {
    const auto y = g::dropout(x, p, /*training=*/true);
    const double kept = y.ne(0).to(torch::kDouble).mean().item<double>();
    EXPECT_NEAR(kept, 1.0 - p, 4 * std::sqrt(p * (1 - p) / 1e6)) << "p " << p;  // 4 sigma
    EXPECT_TRUE(torch::allclose(y.masked_select(y.ne(0)), torch::full({1}, 1.0f / static_cast<float>(1 - p))));
  }
}

TEST(Dropout, GradientIsTheSameMaskAndNothingIsDrawnTwice) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    torch::manual_seed(1);
    const auto x = (torch::rand({37, 11}, torch::kDouble) + 0.5).requires_grad_();  // no zeros: out / x is the mask
    const auto y = g::dropout(x, 0.3, true);
    const auto g_out = torch::randn({37, 11}, torch::kDouble);
    (y * g_out).sum().backward();
    const auto mask = (y / x).detach();
    EXPECT_TRUE(torch::allclose(x.grad(), g_out * mask, 1e-14, 0));
    EXPECT_GT(mask.eq(0).sum().item<int64_t>(), 0);
    EXPECT_GT(mask.ne(0).sum().item<int64_t>(), 0);
    // A strided (transposed) input: the mask follows the contiguous order of the result.
    const auto xt = torch::rand({11, 37}, torch::kDouble).t();
    torch::manual_seed(2);
    const auto yt = g::dropout(xt, 0.3, true);
    torch::manual_seed(2);
    EXPECT_TRUE(torch::allclose(yt, xt.contiguous() * g::dropout_scales({37, 11}, 0.3, torch::kDouble), 1e-15, 0));
  });
}

TEST(Dropout, TheSavedMaskGivesTheRecomputedGradientOnAnyThreadCount) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    // The CPU forward keeps 1 bit per element when a backward follows: its gradient must be the recomputed mask's
    // (the kernel applied to the gradient with the same seed and offset) bit for bit, across the 64-element words.
    const int threads = at::get_num_threads();
    for (const int t : {1, 2}) {
      at::set_num_threads(t);
      for (const int64_t n : {1, 63, 64, 65, 1000, 70001}) {
        for (const auto dtype : {torch::kFloat, torch::kDouble}) {
          const auto x = torch::randn({n}, dtype).requires_grad_();
          const auto g_out = torch::randn({n}, dtype);
          const auto y = g::dropout_with_seed(x, 0.3, 11, 4 * n);
          (y * g_out).sum().backward();
          EXPECT_TRUE(torch::equal(x.grad(), g::dropout_with_seed(g_out, 0.3, 11, 4 * n))) << n << " " << dtype;
          torch::NoGradGuard no_grad;
          EXPECT_TRUE(torch::equal(y, g::dropout_with_seed(x, 0.3, 11, 4 * n))) << "no mask kept: the same output";
        }
      }
      const auto mask = g::cpu::dropout_forward_keeping_mask(torch::ones({130}), {0.5, 3, 0}).second;
      EXPECT_EQ(mask.numel(), 3);
      EXPECT_THROW(g::cpu::dropout_backward_from_mask(torch::ones({200}), mask, 0.5), c10::Error);
    }
    at::set_num_threads(threads);
  });
}

TEST(Dropout, RepeatsUnderManualSeedAndDiffersBetweenCalls) {
  const auto x = torch::rand({500});
  torch::manual_seed(7);
  const auto a = g::dropout(x, 0.5, true);
  const auto b = g::dropout(x, 0.5, true);
  torch::manual_seed(7);
  EXPECT_TRUE(torch::equal(g::dropout(x, 0.5, true), a));
  EXPECT_FALSE(torch::equal(a, b));
  torch::manual_seed(7);
  EXPECT_TRUE(torch::equal(g::dropout_scales({500}, 0.5, torch::kFloat) * x, a));
}

TEST(Dropout, EvalOrZeroRateIsTheInputAndBadInputsAreNamed) {
  const auto x = torch::rand({4, 5});
  EXPECT_TRUE(g::dropout(x, 0.5, /*training=*/false).is_same(x));
  EXPECT_TRUE(g::dropout(x, 0.0, true).is_same(x));
  EXPECT_TRUE(torch::equal(g::dropout_scales({2, 3}, 0.0, torch::kFloat), torch::ones({2, 3})));
  EXPECT_EQ(g::dropout(torch::empty({0, 3}), 0.5, true).numel(), 0);
  EXPECT_THROW(g::dropout(x, 1.0, true), c10::Error);
  EXPECT_THROW(g::dropout(x, -0.1, true), c10::Error);
  EXPECT_THROW(g::dropout(torch::ones({3}, torch::kInt64), 0.5, true), c10::Error);
  EXPECT_THROW(g::dropout(torch::ones({3}, torch::kHalf), 0.5, true), c10::Error);  // float16 only on CUDA
}

TEST(DropoutCuda, DrawsTheCpuMaskForTheSameSeedAndOffset) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    const auto x = torch::randn({4099}, dtype);
    const auto cpu = g::dropout_with_seed(x, 0.35, 0xDEADBEEFCAFEull, 8);
    const auto cuda = g::dropout_with_seed(x.cuda(), 0.35, 0xDEADBEEFCAFEull, 8).cpu();
    EXPECT_TRUE(torch::allclose(cpu, cuda, 1e-6, 0)) << dtype;
  }
  const auto h = torch::randn({1001}, torch::kHalf).cuda();
  torch::manual_seed(3);
  const auto y = g::dropout(h, 0.5, true);
  EXPECT_EQ(y.scalar_type(), torch::kHalf);
  const auto kept = y.ne(0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.5, 0.07);
  const auto hf = h.to(torch::kFloat);
  EXPECT_TRUE(torch::allclose(y.to(torch::kFloat).masked_select(y.ne(0)), 2 * hf.masked_select(y.ne(0)), 1e-2, 1e-2));
}
