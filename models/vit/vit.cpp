#include "models/vit/vit.h"

#include <cmath>

namespace graphmae2::models::vit {
namespace nn = torch::nn;

PosEmbedKind parse_pos_embed(const std::string& name) {
  if (name == "sincos") return PosEmbedKind::kSinCos;
  if (name == "learned") return PosEmbedKind::kLearned;
  if (name == "none") return PosEmbedKind::kNone;
  TORCH_CHECK(false, "unknown position embedding '", name, "' (expected sincos, learned or none)");
}

PoolingKind parse_pooling(const std::string& name) {
  if (name == "cls") return PoolingKind::kClassToken;
  if (name == "avg") return PoolingKind::kAverage;
  TORCH_CHECK(false, "unknown pooling '", name, "' (expected cls or avg)");
}

const char* to_string(PosEmbedKind kind) {
  switch (kind) {
    case PosEmbedKind::kSinCos:
      return "sincos";
    case PosEmbedKind::kLearned:
      return "learned";
    case PosEmbedKind::kNone:
      return "none";
  }
  return "?";
}

const char* to_string(PoolingKind kind) { return kind == PoolingKind::kClassToken ? "cls" : "avg"; }

torch::Tensor sincos_2d_position_embedding(int64_t grid_h, int64_t grid_w, int64_t dim, double temperature) {
  TORCH_CHECK(grid_h >= 1 && grid_w >= 1, "sincos_2d_position_embedding: grid must be >= 1x1, got ", grid_h, "x",
              grid_w);
  TORCH_CHECK(dim >= 4 && dim % 4 == 0, "sincos_2d_position_embedding: dim must be a positive multiple of 4, got ",
              dim);
  const int64_t quarter = dim / 4;
  const auto omega = 1.0 / torch::pow(temperature, torch::arange(quarter, torch::kFloat64) / quarter);
  const auto rows = torch::arange(grid_h, torch::kFloat64).repeat_interleave(grid_w);  // r of token t
  const auto cols = torch::arange(grid_w, torch::kFloat64).repeat(grid_h);             // c of token t
  const auto out_r = torch::outer(rows, omega);
  const auto out_c = torch::outer(cols, omega);
  return torch::cat({out_r.sin(), out_r.cos(), out_c.sin(), out_c.cos()}, 1).to(torch::kFloat32);
}

void VisionTransformerOptions::validate() const {
  TORCH_CHECK(patch_size() >= 1 && image_size() >= patch_size(), "ViT: need 1 <= patch_size <= image_size, got ",
              patch_size(), " and ", image_size());
  TORCH_CHECK(image_size() % patch_size() == 0, "ViT: image_size ", image_size(), " is not a multiple of patch_size ",
              patch_size());
  TORCH_CHECK(in_channels() >= 1, "ViT: in_channels must be >= 1, got ", in_channels());
  TORCH_CHECK(depth() >= 1, "ViT: depth must be >= 1, got ", depth());
  TORCH_CHECK(num_heads() >= 1 && embed_dim() % num_heads() == 0, "ViT: embed_dim ", embed_dim(),
              " is not divisible by num_heads ", num_heads());
  TORCH_CHECK(mlp_ratio() > 0.0, "ViT: mlp_ratio must be > 0, got ", mlp_ratio());
  TORCH_CHECK(pos_embed() != PosEmbedKind::kSinCos || embed_dim() % 4 == 0,
              "ViT: the sin-cos position embedding needs embed_dim divisible by 4, got ", embed_dim());
}

VisionTransformerOptions vit_options(const std::string& size, int64_t image_size, int64_t patch_size,
                                     int64_t in_channels) {
  auto o = VisionTransformerOptions().image_size(image_size).patch_size(patch_size).in_channels(in_channels);
  if (size == "tiny") return o.embed_dim(192).depth(12).num_heads(3);
  if (size == "small") return o.embed_dim(384).depth(12).num_heads(12);
  if (size == "base") return o.embed_dim(768).depth(12).num_heads(12);
  if (size == "mini") return o.embed_dim(64).depth(4).num_heads(4);
  TORCH_CHECK(false, "unknown ViT size '", size, "' (expected tiny, small, base or mini)");
}

PatchEmbedImpl::PatchEmbedImpl(const VisionTransformerOptions& options_) : options(options_) { reset(); }

void PatchEmbedImpl::reset() {
  const int64_t p = options.patch_size();
  // Initialised by VisionTransformerImpl (the reference's xavier-uniform); zeros until then.
  weight = register_parameter("weight", torch::zeros({options.embed_dim(), options.in_channels(), p, p}),
                              !options.frozen_patch_proj());
  bias = register_parameter("bias", torch::zeros({options.embed_dim()}), !options.frozen_patch_proj());
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_channels() && x.size(2) == options.image_size() &&
                  x.size(3) == options.image_size(),
              "ViT: expected images [B, ", options.in_channels(), ", ", options.image_size(), ", ",
              options.image_size(), "], got ", x.sizes());
  const int64_t p = options.patch_size();
  return torch::conv2d(x, weight, bias, {p, p}).flatten(2).transpose(1, 2);
}

AttentionImpl::AttentionImpl(int64_t dim_, int64_t num_heads_, bool qkv_bias_)
    : dim(dim_), num_heads(num_heads_), qkv_bias(qkv_bias_) {
  reset();
}

void AttentionImpl::reset() {
  qkv = register_module("qkv", nn::Linear(nn::LinearOptions(dim, 3 * dim).bias(qkv_bias)));
  proj = register_module("proj", nn::Linear(dim, dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), t = x.size(1);
  const auto parts = qkv(x).view({b, t, 3, num_heads, dim / num_heads}).permute({2, 0, 3, 1, 4});
  // softmax(q k^T / sqrt(head_dim)) v, per head: [B, heads, T, head_dim].
  const auto out = at::scaled_dot_product_attention(parts[0], parts[1], parts[2]);
  return proj(out.transpose(1, 2).reshape({b, t, dim}));
}

BlockImpl::BlockImpl(int64_t dim_, int64_t num_heads_, double mlp_ratio_, bool qkv_bias_, double eps_)
    : dim(dim_), num_heads(num_heads_), mlp_ratio(mlp_ratio_), qkv_bias(qkv_bias_), eps(eps_) {
  reset();
}

void BlockImpl::reset() {
  const int64_t hidden = static_cast<int64_t>(static_cast<double>(dim) * mlp_ratio);
  norm1 = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(eps)));
  attn = register_module("attn", Attention(dim, num_heads, qkv_bias));
  norm2 = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(eps)));
  fc1 = register_module("fc1", nn::Linear(dim, hidden));
  fc2 = register_module("fc2", nn::Linear(hidden, dim));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  auto y = x + attn(norm1(x));
  return y + fc2(torch::gelu(fc1(norm2(y))));
}

VisionTransformerImpl::VisionTransformerImpl(const VisionTransformerOptions& options_) : options(options_) {
  options.validate();
  reset();
}

void VisionTransformerImpl::reset() {
  const int64_t d = options.embed_dim();
  patch_embed = register_module("patch_embed", PatchEmbed(options));
  const bool has_cls = options.pooling() == PoolingKind::kClassToken;
  const int64_t prefix = has_cls ? 1 : 0;
  cls_token = has_cls ? register_parameter("cls_token", torch::zeros({1, 1, d})) : torch::Tensor();
  pos_embed = torch::Tensor();
  if (options.pos_embed() == PosEmbedKind::kSinCos) {
    const int64_t g = options.grid_size();
    // The class token's row is zero, as in the reference.
    auto table = torch::cat({torch::zeros({prefix, d}), sincos_2d_position_embedding(g, g, d)}, 0).unsqueeze(0);
    pos_embed = register_buffer("pos_embed", table);
  } else if (options.pos_embed() == PosEmbedKind::kLearned) {
    pos_embed = register_parameter("pos_embed", torch::zeros({1, prefix + options.num_patches(), d}));
  }
  blocks = register_module("blocks", nn::ModuleList());
  for (int64_t i = 0; i < options.depth(); ++i) {
    blocks->push_back(Block(d, options.num_heads(), options.mlp_ratio(), options.qkv_bias(), options.layer_norm_eps()));
  }
  norm = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({d}).eps(options.layer_norm_eps())));
  init_weights();
}

void VisionTransformerImpl::init_weights() {
  torch::NoGradGuard no_grad;
  // moco-v3 vits.py: xavier-uniform Linear weights (q, k, v as three separate d x d matrices), zero biases.
  for (const auto& item : named_modules("", /*include_self=*/false)) {
    auto* linear = item.value()->as<nn::Linear>();
    if (!linear) continue;
    if (item.key().find("qkv") != std::string::npos) {
      const double bound = std::sqrt(6.0 / static_cast<double>(linear->weight.size(0) / 3 + linear->weight.size(1)));
      linear->weight.uniform_(-bound, bound);
    } else {
      nn::init::xavier_uniform_(linear->weight);
    }
    if (linear->bias.defined()) linear->bias.zero_();
  }
  if (cls_token.defined()) cls_token.normal_(0.0, 1e-6);
  if (options.pos_embed() == PosEmbedKind::kLearned) {
    // timm: trunc_normal_(std=.02) cut at 2 std; clamping at the cut stands in for its resampling.
    pos_embed.normal_(0.0, 0.02);
    pos_embed.clamp_(-0.04, 0.04);
  }
  // Patch projection as a xavier-uniform (fan_in = C * p * p, fan_out = D) weight; the reference hard-codes C = 3.
  const auto& w = patch_embed->weight;
  const double fan_in = static_cast<double>(options.in_channels() * options.patch_size() * options.patch_size());
  const double bound = std::sqrt(6.0 / (fan_in + static_cast<double>(options.embed_dim())));
  w.uniform_(-bound, bound);
  patch_embed->bias.zero_();
}

torch::Tensor VisionTransformerImpl::pool(const torch::Tensor& tokens) {
  if (options.pooling() == PoolingKind::kClassToken) return norm(tokens.select(1, 0));
  return norm(tokens.mean(1));
}

torch::Tensor VisionTransformerImpl::forward_features(const torch::Tensor& x, int64_t last_blocks) {
  TORCH_CHECK(last_blocks >= 1 && last_blocks <= options.depth(), "ViT: last_blocks must be in [1, ", options.depth(),
              "], got ", last_blocks);
  auto tokens = patch_embed(x);
  if (cls_token.defined()) tokens = torch::cat({cls_token.expand({tokens.size(0), 1, -1}), tokens}, 1);
  if (pos_embed.defined()) tokens = tokens + pos_embed;
  std::vector<torch::Tensor> outs;
  const int64_t depth = options.depth();
  for (int64_t i = 0; i < depth; ++i) {
    tokens = blocks[i]->as<Block>()->forward(tokens);
    if (i >= depth - last_blocks) outs.push_back(pool(tokens));
  }
  return outs.size() == 1 ? outs.front() : torch::cat(outs, 1);
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& x) { return forward_features(x, 1); }

}  // namespace graphmae2::models::vit
