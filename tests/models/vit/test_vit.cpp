// ViT: sin-cos table values, shapes and parameter counts, the reference's init, attention against a plain
// softmax reference, permutation invariance, and a frozen patch projection that an optimizer step leaves alone.

#include "models/vit/vit.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace graphmae2::models::vit;

namespace {

VisionTransformerOptions tiny_options() {
  return VisionTransformerOptions().image_size(8).patch_size(4).in_channels(1).embed_dim(16).depth(2).num_heads(2);
}

int64_t count_trainable(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.requires_grad() ? p.numel() : 0;
  return n;
}

}  // namespace

TEST(SinCos, HandComputedTwoByTwoGrid) {
  // dim 8: two frequencies, w_0 = 1 and w_1 = 10000^(-1/2) = 0.01. Token t = r * 2 + c.
  const auto table = sincos_2d_position_embedding(2, 2, 8);
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{4, 8}));
  auto row = [](double r, double c) {
    return std::vector<double>{std::sin(r), std::sin(0.01 * r), std::cos(r), std::cos(0.01 * r),
                               std::sin(c), std::sin(0.01 * c), std::cos(c), std::cos(0.01 * c)};
  };
  const std::vector<std::vector<double>> expect = {row(0, 0), row(0, 1), row(1, 0), row(1, 1)};
  for (int t = 0; t < 4; ++t) {
    for (int j = 0; j < 8; ++j) EXPECT_NEAR(table[t][j].item<double>(), expect[t][j], 1e-6) << t << "," << j;
  }
}

TEST(SinCos, ValuesOnALargerGridAndFrequencies) {
  const int64_t dim = 16, g = 5;  // quarter = 4: w_k = 10000^(-k/4) = 1, 0.1, 0.01, 0.001
  const auto table = sincos_2d_position_embedding(g, g, dim);
  const double w[4] = {1.0, 0.1, 0.01, 0.001};
  for (int64_t r = 0; r < g; ++r) {
    for (int64_t c = 0; c < g; ++c) {
      const auto v = table[r * g + c];
      for (int k = 0; k < 4; ++k) {
        EXPECT_NEAR(v[k].item<double>(), std::sin(r * w[k]), 1e-6);
        EXPECT_NEAR(v[4 + k].item<double>(), std::cos(r * w[k]), 1e-6);
        EXPECT_NEAR(v[8 + k].item<double>(), std::sin(c * w[k]), 1e-6);
        EXPECT_NEAR(v[12 + k].item<double>(), std::cos(c * w[k]), 1e-6);
      }
    }
  }
  EXPECT_THROW(sincos_2d_position_embedding(2, 2, 6), c10::Error);
}

TEST(ViT, SinCosBufferHasZeroClassTokenRowAndIsNotTrained) {
  VisionTransformer vit(tiny_options());
  ASSERT_TRUE(vit->pos_embed.defined());
  EXPECT_FALSE(vit->pos_embed.requires_grad());
  EXPECT_EQ(vit->pos_embed.sizes(), (std::vector<int64_t>{1, 5, 16}));
  EXPECT_EQ(vit->pos_embed[0][0].abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(vit->pos_embed[0].slice(0, 1), sincos_2d_position_embedding(2, 2, 16)));
  const auto names = vit->named_parameters().keys();
  EXPECT_EQ(std::count(names.begin(), names.end(), "pos_embed"), 0);
}

TEST(ViT, ShapesForEveryPoolingAndPositionKind) {
  torch::manual_seed(0);
  const auto x = torch::randn({3, 1, 8, 8});
  for (auto pos : {PosEmbedKind::kSinCos, PosEmbedKind::kLearned, PosEmbedKind::kNone}) {
    for (auto pool : {PoolingKind::kClassToken, PoolingKind::kAverage}) {
      VisionTransformer vit(tiny_options().pos_embed(pos).pooling(pool));
      EXPECT_EQ(vit->forward(x).sizes(), (std::vector<int64_t>{3, 16})) << to_string(pos) << to_string(pool);
      EXPECT_EQ(vit->forward_features(x, 2).sizes(), (std::vector<int64_t>{3, 32}));
      EXPECT_TRUE(torch::allclose(vit->forward_features(x, 2).slice(1, 16), vit->forward(x)));
      EXPECT_EQ(vit->cls_token.defined(), pool == PoolingKind::kClassToken);
    }
  }
  VisionTransformer vit(tiny_options());
  EXPECT_THROW(vit->forward(torch::randn({2, 1, 9, 9})), c10::Error);
  EXPECT_THROW(vit->forward(torch::randn({2, 3, 8, 8})), c10::Error);
  EXPECT_THROW(VisionTransformer(tiny_options().patch_size(3)), c10::Error);
  EXPECT_THROW(VisionTransformer(tiny_options().num_heads(3)), c10::Error);
}

TEST(ViT, SmallHasTheKnownParameterCount) {
  // timm vit_small_patch16_224 has 22,050,664 parameters with its 1000-class head (384 * 1000 + 1000) and a
  // learned position embedding; the backbone alone: 21,665,664.
  VisionTransformer learned(vit_options("small", 224, 16, 3).pos_embed(PosEmbedKind::kLearned));
  EXPECT_EQ(count_trainable(*learned), 21665664);
  // With the fixed sin-cos table the 197 x 384 embedding is a buffer, not a parameter.
  VisionTransformer sincos(vit_options("small", 224, 16, 3));
  EXPECT_EQ(count_trainable(*sincos), 21665664 - 197 * 384);
  EXPECT_EQ(vit_options("tiny", 224, 16, 3).embed_dim(), 192);
  EXPECT_EQ(vit_options("base", 224, 16, 3).embed_dim(), 768);
  EXPECT_THROW(vit_options("huge", 224, 16, 3), c10::Error);
}

TEST(ViT, ReferenceInitialisation) {
  torch::manual_seed(1);
  const auto o = tiny_options().embed_dim(64).num_heads(4);
  VisionTransformer vit(o);
  auto* block = vit->blocks[0]->as<BlockImpl>();
  // qkv: uniform with bound sqrt(6 / (D + D)) (q, k, v treated as separate D x D matrices).
  const double qkv_bound = std::sqrt(6.0 / (64 + 64));
  EXPECT_LE(block->attn->qkv->weight.abs().max().item<double>(), qkv_bound);
  EXPECT_NEAR(block->attn->qkv->weight.std().item<double>(), qkv_bound / std::sqrt(3.0), 0.1 * qkv_bound);
  // fc1: xavier uniform, bound sqrt(6 / (D + 4D)).
  const double fc1_bound = std::sqrt(6.0 / (64 + 256));
  EXPECT_LE(block->fc1->weight.abs().max().item<double>(), fc1_bound);
  EXPECT_GT(block->fc1->weight.abs().max().item<double>(), 0.9 * fc1_bound);
  EXPECT_EQ(block->fc1->bias.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(block->attn->qkv->bias.abs().sum().item<double>(), 0.0);
  // Patch projection: bound sqrt(6 / (C p^2 + D)); class token ~ N(0, 1e-6).
  const double patch_bound = std::sqrt(6.0 / (16 + 64));
  EXPECT_LE(vit->patch_embed->weight.abs().max().item<double>(), patch_bound);
  EXPECT_GT(vit->patch_embed->weight.abs().max().item<double>(), 0.8 * patch_bound);
  EXPECT_LT(vit->cls_token.abs().max().item<double>(), 1e-5);
}

TEST(ViT, AttentionMatchesPlainSoftmax) {
  torch::manual_seed(2);
  Attention attn(8, 2, true);
  const auto x = torch::randn({2, 5, 8});
  const auto got = attn->forward(x);
  // Reference: per head h, softmax(q_h k_h^T / sqrt(4)) v_h, heads concatenated, then proj.
  const auto qkv = attn->qkv->forward(x);
  std::vector<torch::Tensor> heads;
  for (int64_t h = 0; h < 2; ++h) {
    const auto q = qkv.slice(2, h * 4, h * 4 + 4);
    const auto k = qkv.slice(2, 8 + h * 4, 8 + h * 4 + 4);
    const auto v = qkv.slice(2, 16 + h * 4, 16 + h * 4 + 4);
    heads.push_back(torch::softmax(torch::matmul(q, k.transpose(1, 2)) / 2.0, -1).matmul(v));
  }
  const auto expect = attn->proj->forward(torch::cat(heads, 2));
  EXPECT_TRUE(torch::allclose(got, expect, 1e-5, 1e-6));
}

TEST(ViT, WithoutPositionsAveragePoolingIgnoresPatchOrder) {
  torch::manual_seed(3);
  VisionTransformer vit(tiny_options().pos_embed(PosEmbedKind::kNone).pooling(PoolingKind::kAverage));
  const auto x = torch::randn({2, 1, 8, 8});
  // Swap the top-left and bottom-right 4x4 patches.
  auto y = x.clone();
  y.slice(2, 0, 4).slice(3, 0, 4).copy_(x.slice(2, 4, 8).slice(3, 4, 8));
  y.slice(2, 4, 8).slice(3, 4, 8).copy_(x.slice(2, 0, 4).slice(3, 0, 4));
  EXPECT_TRUE(torch::allclose(vit->forward(x), vit->forward(y), 1e-5, 1e-5));
  // With the sin-cos table the order matters.
  VisionTransformer positional(tiny_options().pooling(PoolingKind::kAverage));
  EXPECT_FALSE(torch::allclose(positional->forward(x), positional->forward(y), 1e-4, 1e-4));
}

TEST(ViT, FrozenPatchProjectionReceivesNoUpdate) {
  torch::manual_seed(4);
  VisionTransformer vit(tiny_options().frozen_patch_proj(true));
  EXPECT_FALSE(vit->patch_embed->weight.requires_grad());
  const auto w0 = vit->patch_embed->weight.clone();
  const auto b0 = vit->patch_embed->bias.clone();
  const auto qkv0 = vit->blocks[0]->as<BlockImpl>()->attn->qkv->weight.clone();
  // Even handed every parameter, with weight decay, AdamW must leave the frozen ones alone.
  torch::optim::AdamW opt(vit->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    vit->forward(torch::randn({4, 1, 8, 8})).pow(2).sum().backward();
    opt.step();
  }
  EXPECT_FALSE(vit->patch_embed->weight.grad().defined());
  EXPECT_TRUE(torch::equal(vit->patch_embed->weight, w0));
  EXPECT_TRUE(torch::equal(vit->patch_embed->bias, b0));
  EXPECT_FALSE(torch::equal(vit->blocks[0]->as<BlockImpl>()->attn->qkv->weight, qkv0));
  // A clone (how a momentum encoder is made) keeps the projection frozen.
  auto copy = std::dynamic_pointer_cast<VisionTransformerImpl>(vit->clone());
  EXPECT_FALSE(copy->patch_embed->weight.requires_grad());
  EXPECT_TRUE(torch::equal(copy->patch_embed->weight, w0));
}

TEST(ViT, ParseNames) {
  EXPECT_EQ(parse_pos_embed("learned"), PosEmbedKind::kLearned);
  EXPECT_EQ(parse_pooling("avg"), PoolingKind::kAverage);
  EXPECT_THROW(parse_pos_embed("rope"), c10::Error);
  EXPECT_THROW(parse_pooling("max"), c10::Error);
}
