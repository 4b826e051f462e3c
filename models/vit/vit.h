#pragma once
// Vision Transformer (Dosovitskiy et al. 2021) as MoCo v3 builds it (moco-v3 vits.py on timm): pre-norm
// blocks, fixed 2-D sin-cos position embedding, the reference's weight init, optional frozen random patch
// projection (the paper's stability fix).

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace graphmae2::models::vit {

/// How patch tokens learn where they are.
enum class PosEmbedKind { kSinCos, kLearned, kNone };
/// Which vector represents the image: the class token, or the mean of the patch tokens (then no class token).
enum class PoolingKind { kClassToken, kAverage };

/// "sincos" | "learned" | "none"; throws c10::Error naming the bad value.
PosEmbedKind parse_pos_embed(const std::string& name);
/// "cls" | "avg"; throws c10::Error naming the bad value.
PoolingKind parse_pooling(const std::string& name);
const char* to_string(PosEmbedKind kind);
const char* to_string(PoolingKind kind);

/// The fixed 2-D sin-cos table of MoCo v3. Token t = r * grid_w + c (row r, column c) gets
/// [sin(r w_k), cos(r w_k), sin(c w_k), cos(c w_k)] over k < dim/4, with w_k = temperature^(-k / (dim/4)).
/// (On square grids this is exactly the reference's table.) dim must be divisible by 4.
/// Returns float32 [grid_h * grid_w, dim].
torch::Tensor sincos_2d_position_embedding(int64_t grid_h, int64_t grid_w, int64_t dim, double temperature = 10000.0);

/// @brief Options of VisionTransformer. Defaults are ViT-Small/16 on 224 x 224 RGB, MoCo v3's main model.
struct VisionTransformerOptions {
  TORCH_ARG(int64_t, image_size) = 224;
  TORCH_ARG(int64_t, patch_size) = 16;
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, embed_dim) = 384;
  TORCH_ARG(int64_t, depth) = 12;
  TORCH_ARG(int64_t, num_heads) = 12;
  TORCH_ARG(double, mlp_ratio) = 4.0;
  TORCH_ARG(bool, qkv_bias) = true;
  TORCH_ARG(PosEmbedKind, pos_embed) = PosEmbedKind::kSinCos;
  TORCH_ARG(PoolingKind, pooling) = PoolingKind::kClassToken;
  /// Keeps the random patch projection fixed (requires_grad = false): MoCo v3's --stop-grad-conv1.
  TORCH_ARG(bool, frozen_patch_proj) = false;
  TORCH_ARG(double, layer_norm_eps) = 1e-6;

 public:
  int64_t grid_size() const { return image_size() / patch_size(); }
  int64_t num_patches() const { return grid_size() * grid_size(); }
  /// Throws c10::Error naming the first inconsistent option.
  void validate() const;
};

/// Named sizes: "tiny" (192 wide, 12 deep, 3 heads), "small" (384, 12, 12 as MoCo v3), "base" (768, 12, 12),
/// and "mini" (64, 4, 4), the small-image configuration for 28 x 28 Fashion-MNIST on a CPU (patch 7: 16 tokens).
/// Throws c10::Error on an unknown name.
VisionTransformerOptions vit_options(const std::string& size, int64_t image_size, int64_t patch_size,
                                     int64_t in_channels);

/// @brief Non-overlapping patches -> tokens: a convolution with kernel = stride = patch_size.
///
/// Holds its weight and bias itself (not through a Conv2d child) so that a frozen projection stays frozen
/// through clone(): a cloned child module would come back with requires_grad = true.
class PatchEmbedImpl : public torch::nn::Cloneable<PatchEmbedImpl> {
 public:
  explicit PatchEmbedImpl(const VisionTransformerOptions& options);
  void reset() override;
  /// x: [B, C, H, W] with H = W = image_size. Returns [B, num_patches, embed_dim] (row-major patch order).
  torch::Tensor forward(const torch::Tensor& x);

  VisionTransformerOptions options;
  torch::Tensor weight;  ///< [embed_dim, C, p, p]
  torch::Tensor bias;    ///< [embed_dim]
};
TORCH_MODULE(PatchEmbed);

/// @brief Multi-head self-attention with one fused qkv projection.
class AttentionImpl : public torch::nn::Cloneable<AttentionImpl> {
 public:
  AttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias);
  void reset() override;
  /// x: [B, T, dim]. Returns [B, T, dim].
  torch::Tensor forward(const torch::Tensor& x);

  int64_t dim, num_heads;
  bool qkv_bias;
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(Attention);

/// @brief Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)) with a GELU MLP.
class BlockImpl : public torch::nn::Cloneable<BlockImpl> {
 public:
  BlockImpl(int64_t dim, int64_t num_heads, double mlp_ratio, bool qkv_bias, double eps);
  void reset() override;
  /// x: [B, T, dim]. Returns [B, T, dim].
  torch::Tensor forward(const torch::Tensor& x);

  int64_t dim, num_heads;
  double mlp_ratio;
  bool qkv_bias;
  double eps;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Block);

/// @brief The ViT backbone without a classification head: images -> one feature vector per image.
///
/// Parameter names follow timm (patch_embed.weight/bias, cls_token, pos_embed, blocks.<i>.attn.qkv.*, norm.*), so
/// gradient groups can be picked by name. A sin-cos table is a buffer (never trained); a learned one a parameter.
class VisionTransformerImpl : public torch::nn::Cloneable<VisionTransformerImpl> {
 public:
  explicit VisionTransformerImpl(const VisionTransformerOptions& options);
  void reset() override;

  /// x: [B, C, H, W]. Returns [B, embed_dim]: the normalised class token, or the normalised mean patch token.
  torch::Tensor forward(const torch::Tensor& x);
  /// Frozen-feature readout for probes: the pooled, normalised output of each of the last n blocks,
  /// concatenated (n = 1 is forward()). Returns [B, n * embed_dim].
  torch::Tensor forward_features(const torch::Tensor& x, int64_t last_blocks);

  int64_t embed_dim() const { return options.embed_dim(); }

  VisionTransformerOptions options;
  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token;  ///< [1, 1, D]; undefined with average pooling
  torch::Tensor pos_embed;  ///< [1, T, D] (T counts the class token); undefined with PosEmbedKind::kNone
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};

 private:
  torch::Tensor pool(const torch::Tensor& tokens);
  void init_weights();
};
TORCH_MODULE(VisionTransformer);

}  // namespace graphmae2::models::vit
