// The CPU kernels' vector helpers against the standard library.

#include "graph/ops/cpu/simd.h"
#include "graph/ops/simd.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace graphmae2::graph::cpu {
namespace {

// Distance in units in the last place between two positive normal floats.
int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  return std::abs(static_cast<int64_t>(ia) - static_cast<int64_t>(ib));
}

TEST(PolynomialExpf, WithinTwoUlpOfStdExpOverItsRange) {
  int64_t worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.000731f) worst = std::max(worst, ulps(polynomial_expf(x), std::exp(x)));
  for (const float x : {0.0f, -0.0f, 1.0f, -1.0f, 1e-8f, -1e-8f, 0.5f, -0.5f}) {
    worst = std::max(worst, ulps(polynomial_expf(x), std::exp(x)));
  }
  EXPECT_LE(worst, 2);
}

TEST(PolynomialExpf, EdgesOfTheRangeAndSpecialValues) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(polynomial_expf(-inf), 0.0f);
  EXPECT_EQ(polynomial_expf(-100.0f), 0.0f);
  EXPECT_EQ(polynomial_expf(inf), inf);
  EXPECT_EQ(polynomial_expf(100.0f), inf);
  EXPECT_TRUE(std::isnan(polynomial_expf(std::numeric_limits<float>::quiet_NaN())));
  // Between -87.3 and -87 the clamp holds the result at exp(-87), a relative error below 1.4.
  EXPECT_NEAR(polynomial_expf(-87.2f) / std::exp(-87.2f), 1.0, 0.25);
}

TEST(PolynomialExpf, ExpAllMatchesElementwiseAndWorksInPlace) {
  std::vector<float> x(1000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = -20.0f + 0.037f * static_cast<float>(i);
  std::vector<float> out(x.size());
  exp_all(x.data(), out.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(out[i], polynomial_expf(x[i]));
  std::vector<double> d(x.begin(), x.end());
  exp_all(d.data(), d.data(), static_cast<int64_t>(d.size()));
  for (size_t i = 0; i < d.size(); ++i) EXPECT_EQ(d[i], std::exp(static_cast<double>(x[i])));
}

TEST(SimdSwitch, OnByDefaultWhereBuiltAndAScopeRestoresIt) {
  EXPECT_EQ(simd_enabled(), simd_built());
  {
    SimdScope off(false);
    EXPECT_FALSE(simd_enabled());
#ifdef GRAPHMAE2_X86_DISPATCH
    EXPECT_FALSE(use_avx2_fma());
#endif
    {
      SimdScope on(true);
      EXPECT_EQ(simd_enabled(), simd_built());
    }
    EXPECT_FALSE(simd_enabled());
  }
  EXPECT_EQ(simd_enabled(), simd_built());
#ifdef GRAPHMAE2_X86_DISPATCH
  EXPECT_EQ(use_avx2_fma(), has_avx2_fma());
#endif
}

}  // namespace
}  // namespace graphmae2::graph::cpu
