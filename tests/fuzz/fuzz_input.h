#pragma once
// The fuzz targets' entry points and the byte reader the structured ones decode their input with.
// Each target is a plain function so that the libFuzzer build (libfuzzer_main.cpp) and the regression test over
// tests/fixtures/fuzz/ (tests/datasets/test_fuzz_regressions.cpp, built by gcc) run the same code.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace graphmae2::fuzz {

// Each reads one input; a reader's std::runtime_error is the expected refusal and is caught inside. Anything
// else escaping, a crash or a sanitizer report is a defect.
void pickle_input(const uint8_t* data, size_t size);
void csv_input(const uint8_t* data, size_t size);
void npz_input(const uint8_t* data, size_t size);
void ogb_input(const uint8_t* data, size_t size);
void hdf5_input(const uint8_t* data, size_t size);

/// Decodes choices from the front of a fuzz input; past its end every choice is 0 and every string empty.
class InputBytes {
 public:
  InputBytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool flag() { return (byte() & 1) != 0; }
  /// A value in [lo, hi] (hi - lo < 2^16).
  int64_t in_range(int64_t lo, int64_t hi) {
    const uint32_t raw = static_cast<uint32_t>(byte()) | static_cast<uint32_t>(byte()) << 8;
    return lo + static_cast<int64_t>(raw % static_cast<uint32_t>(hi - lo + 1));
  }
  /// Up to `max_len` bytes: a length, then that many bytes (fewer at the input's end).
  std::string text(size_t max_len) {
    const size_t want = static_cast<size_t>(in_range(0, static_cast<int64_t>(std::min<size_t>(max_len, 65535))));
    return take(want);
  }
  std::string take(size_t n) {
    const size_t got = std::min(n, size_ - pos_);
    std::string out(reinterpret_cast<const char*>(data_ + pos_), got);
    pos_ += got;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace graphmae2::fuzz
