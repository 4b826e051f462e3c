// libFuzzer: the strict pickle reader must reject any input with std::runtime_error, never crash or leak.

#include "datasets/pickle.h"

#include "fuzz_input.h"

#include <cstdint>
#include <stdexcept>

void graphmae2::fuzz::pickle_input(const uint8_t* data, size_t size) {
  namespace pk = graphmae2::datasets::pickle;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    pk::parse_ndarray(bytes, "fuzz");
  } catch (const std::runtime_error&) {
  }
  try {
    pk::parse_csr_matrix(bytes, "fuzz");
  } catch (const std::runtime_error&) {
  }
  try {
    pk::parse_adjacency(bytes, "fuzz");
  } catch (const std::runtime_error&) {
  }
}
