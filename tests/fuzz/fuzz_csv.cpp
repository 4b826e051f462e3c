// libFuzzer: the OGB CSV parsers must reject bad text with std::runtime_error, never crash.

#include "datasets/csv_gz.h"

#include "fuzz_input.h"

#include <cstdint>
#include <stdexcept>

void graphmae2::fuzz::csv_input(const uint8_t* data, size_t size) {
  namespace ds = graphmae2::datasets;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    ds::parse_int_csv(text, 2, "fuzz");
  } catch (const std::runtime_error&) {
  }
  try {
    // The first byte picks an expected row count, so the preallocated path is fuzzed too.
    ds::parse_float_csv(text, size > 0 ? static_cast<int64_t>(data[0] % 8) - 1 : -1, "fuzz");
  } catch (const std::runtime_error&) {
  }
  try {
    ds::parse_label_csv(text, "fuzz");
  } catch (const std::runtime_error&) {
  }
}
