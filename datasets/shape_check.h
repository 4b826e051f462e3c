#pragma once
// The one check of a shape a file declares, before any allocation: torch computes strides as products of every
// dimension (a zero one counted as 1), so a shape like (0, 2^62, 2^62) holds no element and still overflows them
// ("Stride calculation overflowed" deep inside torch, no file named). Readers call this and name their file.

#include <cstdint>
#include <string>
#include <vector>

namespace graphmae2::datasets {

/// "" when torch can allocate `shape` with elements of `itemsize` bytes: every dimension >= 0 and the product of
/// the dimensions (zeros as 1) times itemsize within int64. Else what is wrong, e.g. "dimension 2 (4611686018427387904)
/// makes the shape (0, 4611686018427387904, 4611686018427387904) overflow 64-bit sizes".
inline std::string shape_problem(const std::vector<int64_t>& shape, int64_t itemsize) {
  const auto text = [&] {
    std::string s = "(";
    for (size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
    return s + (shape.size() == 1 ? ",)" : ")");
  };
  int64_t span = itemsize > 0 ? itemsize : 1;
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] < 0) return "dimension " + std::to_string(k) + " of the shape " + text() + " is negative";
    if (__builtin_mul_overflow(span, shape[k] > 0 ? shape[k] : 1, &span)) {
      return "dimension " + std::to_string(k) + " (" + std::to_string(shape[k]) + ") makes the shape " + text() +
             " overflow 64-bit sizes";
    }
  }
  return "";
}

}  // namespace graphmae2::datasets
