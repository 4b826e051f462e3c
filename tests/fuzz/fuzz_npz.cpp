// libFuzzer: the zip/npy readers must reject damaged archives with std::runtime_error, never crash.

#include "datasets/npz.h"

#include "fuzz_input.h"

#include <cstdint>
#include <stdexcept>

void graphmae2::fuzz::npz_input(const uint8_t* data, size_t size) {
  namespace npz = graphmae2::datasets::npz;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    for (const auto& name : npz::parse_npz_names(bytes, "fuzz")) npz::parse_npz_array(bytes, name, "fuzz");
  } catch (const std::runtime_error&) {
  }
  try {
    npz::parse_npy(bytes, "fuzz");
  } catch (const std::runtime_error&) {
  }
}
