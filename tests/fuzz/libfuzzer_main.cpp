// The libFuzzer entry of one target; tests/fuzz/CMakeLists.txt sets GRAPHMAE2_FUZZ_ENTRY per executable.
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  graphmae2::fuzz::GRAPHMAE2_FUZZ_ENTRY(data, size);
  return 0;
}
