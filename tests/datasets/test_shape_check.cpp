// The shape check every reader runs before allocating what a file declares (npz, pickle, HDF5).

#include "datasets/shape_check.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace graphmae2::datasets {
namespace {

TEST(ShapeCheck, AcceptsWhatTorchAllocatesAndNamesWhatOverflows) {
  EXPECT_EQ(shape_problem({}, 8), "");
  EXPECT_EQ(shape_problem({0}, 8), "");
  EXPECT_EQ(shape_problem({3, 0, 5}, 4), "");
  EXPECT_EQ(shape_problem({int64_t{1} << 40, 1 << 20}, 1), "");
  EXPECT_EQ(shape_problem({-1, 2}, 4), "dimension 0 of the shape (-1, 2) is negative");
  const int64_t huge = int64_t{1} << 62;
  EXPECT_EQ(shape_problem({0, huge, huge}, 8),
            "dimension 1 (4611686018427387904) makes the shape (0, 4611686018427387904, 4611686018427387904) "
            "overflow 64-bit sizes");
  EXPECT_NE(shape_problem({huge}, 4), "") << "the bytes overflow even though the element count fits";
  // What the check refuses, torch itself cannot allocate either.
  EXPECT_THROW(torch::empty({0, huge, huge}), c10::Error);
  EXPECT_NO_THROW(torch::empty({3, 0, 5}));
}

}  // namespace
}  // namespace graphmae2::datasets
