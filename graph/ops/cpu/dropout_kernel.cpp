#include "graph/ops/cpu/dropout_kernel.h"

#include "graph/ops/cpu/simd.h"
#include "graph/ops/philox.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace graphmae2::graph::cpu {

namespace {

// Philox blocks drawn together: the rounds run over this many counters in structure-of-arrays form, which the
// compiler turns into vector multiplies (32 x 32 -> 64 bits, four or eight lanes).
constexpr int64_t kChunk = 16;

struct Range {
  int64_t begin, end;  // Philox blocks [begin, end)
};

template <typename T>
[[gnu::always_inline]] inline void dropout_blocks_impl(const T* __restrict in, T* __restrict out, int64_t n,
                                                       Range blocks, const DropoutParams& p, uint32_t threshold,
                                                       T scale) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int64_t b = blocks.begin; b < blocks.end; b += kChunk) {
    const int64_t m = std::min(kChunk, blocks.end - b);
    uint32_t c0[kChunk], c1[kChunk], c2[kChunk], c3[kChunk];
    for (int64_t k = 0; k < kChunk; ++k) {
      const uint64_t index = static_cast<uint64_t>(b + k);
      c0[k] = static_cast<uint32_t>(index);
      c1[k] = static_cast<uint32_t>(index >> 32);
      c2[k] = static_cast<uint32_t>(p.offset);
      c3[k] = static_cast<uint32_t>(p.offset >> 32);
    }
    uint32_t key0 = static_cast<uint32_t>(p.seed), key1 = static_cast<uint32_t>(p.seed >> 32);
    for (int round = 0; round < 10; ++round) {
      for (int64_t k = 0; k < kChunk; ++k) {
        const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0[k];
        const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2[k];
        const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[k] ^ key0;
        const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[k] ^ key1;
        c1[k] = static_cast<uint32_t>(p1);
        c3[k] = static_cast<uint32_t>(p0);
        c0[k] = n0;
        c2[k] = n2;
      }
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    const uint32_t* words[4] = {c0, c1, c2, c3};
    const int64_t first = 4 * b;
    const int64_t count = std::min<int64_t>(4 * m, n - first);
    for (int64_t j = 0; j < count; ++j) {
      const bool keep = (words[j % 4][j / 4] >> 8) >= threshold;
      const T kept = in != nullptr ? in[first + j] * scale : scale;
      out[first + j] = keep ? kept : T(0);
    }
  }
}

template <typename T>
void dropout_blocks_base(const T* in, T* out, int64_t n, Range blocks, const DropoutParams& p, uint32_t threshold,
                         T scale) {
  dropout_blocks_impl(in, out, n, blocks, p, threshold, scale);
}

#ifdef GRAPHMAE2_X86_DISPATCH
template <typename T>
[[gnu::target("avx2,fma")]] void dropout_blocks_avx2(const T* in, T* out, int64_t n, Range blocks,
                                                     const DropoutParams& p, uint32_t threshold, T scale) {
  dropout_blocks_impl(in, out, n, blocks, p, threshold, scale);
}
#endif

template <typename T>
void dropout_blocks(const T* in, T* out, int64_t n, Range blocks, const DropoutParams& p, uint32_t threshold,
                    T scale) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (has_avx2_fma()) return dropout_blocks_avx2(in, out, n, blocks, p, threshold, scale);
#endif
  dropout_blocks_base(in, out, n, blocks, p, threshold, scale);
}

}  // namespace

torch::Tensor dropout_forward(const torch::Tensor& in, const torch::Tensor& like, const DropoutParams& params) {
  TORCH_CHECK(params.rate >= 0 && params.rate < 1, "dropout: rate must be in [0, 1), got ", params.rate);
  const auto& shape = in.defined() ? in : like;
  TORCH_CHECK(shape.scalar_type() == torch::kFloat || shape.scalar_type() == torch::kDouble,
              "dropout: the CPU kernel takes float32 or float64, got ", shape.scalar_type());
  const auto input = in.defined() ? in.contiguous() : torch::Tensor();
  auto out = torch::empty(shape.sizes(), shape.options().memory_format(torch::MemoryFormat::Contiguous));
  const int64_t n = out.numel();
  const uint32_t threshold = philox_dropout_threshold(params.rate);
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "dropout_forward", [&] {
    const scalar_t scale = static_cast<scalar_t>(1.0 / (1.0 - params.rate));
    const scalar_t* ip = input.defined() ? input.data_ptr<scalar_t>() : nullptr;
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, (n + 3) / 4, 1 << 13, [&](int64_t b0, int64_t b1) {
      dropout_blocks(ip, op, n, Range{b0, b1}, params, threshold, scale);
    });
  });
  return out;
}

}  // namespace graphmae2::graph::cpu
