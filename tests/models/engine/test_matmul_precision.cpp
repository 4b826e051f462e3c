// engine::Float32MatmulPrecisionScope: sets LibTorch's float32 product precision and puts the previous one back.

#include "models/engine/matmul_precision.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

using graphmae2::models::engine::Float32MatmulPrecisionScope;

TEST(Float32MatmulPrecisionScope, SetsAndRestoresIncludingWhenNested) {
  auto& context = at::globalContext();
  const auto initial = context.float32MatmulPrecision();  // HIGHEST unless the environment asks for TF32
  {
    const Float32MatmulPrecisionScope medium("medium");
    EXPECT_EQ(context.float32MatmulPrecision(), at::Float32MatmulPrecision::MEDIUM);
    {
      const Float32MatmulPrecisionScope high("high");
      EXPECT_EQ(context.float32MatmulPrecision(), at::Float32MatmulPrecision::HIGH);
    }
    EXPECT_EQ(context.float32MatmulPrecision(), at::Float32MatmulPrecision::MEDIUM);
  }
  EXPECT_EQ(context.float32MatmulPrecision(), initial);
}

TEST(Float32MatmulPrecisionScope, RefusesAnUnknownNameAndChangesNothing) {
  const auto initial = at::globalContext().float32MatmulPrecision();
  try {
    const Float32MatmulPrecisionScope bad("bf16");
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("got 'bf16'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(at::globalContext().float32MatmulPrecision(), initial);
}

TEST(Float32MatmulPrecisionScope, HighestKeepsProductsFloat32) {
  // Under "highest" a product equals its float64 value to float32 rounding; "medium" may round its inputs to
  // bfloat16 where the CPU has such products (about 1e-2 relative), so this pins down what the default gives.
  torch::manual_seed(0);
  const auto a = torch::rand({64, 300}), b = torch::rand({300, 32});
  const auto exact = torch::mm(a.to(torch::kDouble), b.to(torch::kDouble));
  const Float32MatmulPrecisionScope highest("highest");
  EXPECT_TRUE(torch::allclose(torch::mm(a, b).to(torch::kDouble), exact, 1e-5, 1e-5));
}

}  // namespace
