// SeedScope: the draws inside are torch::manual_seed(seed)'s, and the caller's generator state is back after.

#include "models/engine/seed_scope.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace engine = graphmae2::models::engine;

TEST(SeedScope, DrawsAreManualSeedsAndTheCallersStreamContinuesUntouched) {
  torch::manual_seed(7);
  const auto straight_first = torch::rand({4});
  const auto straight_next = torch::rand({4});

  torch::manual_seed(7);
  const auto first = torch::rand({4});
  torch::Tensor inside;
  {
    const engine::SeedScope scope(123);
    inside = torch::rand({3});
  }
  const auto next = torch::rand({4});
  EXPECT_TRUE(torch::equal(first, straight_first));
  EXPECT_TRUE(torch::equal(next, straight_next)) << "the scope moved the caller's generator";

  torch::manual_seed(123);
  EXPECT_TRUE(torch::equal(inside, torch::rand({3}))) << "the scope's draws are not manual_seed(123)'s";
}

TEST(SeedScope, AnInnerScopeGivesTheOuterItsStreamBack) {
  torch::manual_seed(5);
  const auto expected_a = torch::rand({2});
  const auto expected_b = torch::rand({2});
  torch::manual_seed(1);
  const auto caller_expected = torch::rand({2});

  torch::manual_seed(1);
  torch::Tensor a, b;
  {
    const engine::SeedScope outer(5);
    a = torch::rand({2});
    {
      const engine::SeedScope inner(6);
      (void)torch::rand({8});
    }
    b = torch::rand({2});
  }
  EXPECT_TRUE(torch::equal(a, expected_a));
  EXPECT_TRUE(torch::equal(b, expected_b)) << "the inner scope moved the outer one's stream";
  EXPECT_TRUE(torch::equal(torch::rand({2}), caller_expected)) << "the caller's stream moved";
}
