#pragma once
// MoCo v3 (Chen, Xie, He 2021; moco-v3 moco/builder.py): a ViT + 3-layer projector trained to predict,
// through a 2-layer predictor, the projections a momentum copy makes of another view of the same image.

#include "models/ssl/ema.h"
#include "models/vit/vit.h"

#include <torch/torch.h>

#include <memory>
#include <vector>

namespace graphmae2::models::mocov3 {

/// MLP of MoCo v3: num_layers Linear layers without bias; BatchNorm1d + ReLU after each hidden layer, and
/// (when last_bn) a BatchNorm1d without affine parameters after the last one (SimCLR's design).
/// Returns a Sequential mapping [B, input_dim] -> [B, output_dim].
torch::nn::Sequential build_mlp(int64_t num_layers, int64_t input_dim, int64_t hidden_dim, int64_t output_dim,
                                bool last_bn);

/// @brief Options of MoCoV3. Defaults follow the reference's ViT recipe except the MLP width (4096 there).
struct MoCoV3Options {
  TORCH_ARG(vit::VisionTransformerOptions, backbone);
  /// Output width of projector and predictor (the reference's --moco-dim).
  TORCH_ARG(int64_t, dim) = 256;
  /// Hidden width of projector and predictor (--moco-mlp-dim).
  TORCH_ARG(int64_t, mlp_dim) = 4096;
  /// Softmax temperature of the contrastive loss (--moco-t; 0.2 in the ViT recipes).
  TORCH_ARG(double, temperature) = 0.2;
};

/// @brief Backbone followed by the 3-layer projection MLP: the part the momentum encoder mirrors.
class MoCoEncoderImpl : public torch::nn::Cloneable<MoCoEncoderImpl> {
 public:
  explicit MoCoEncoderImpl(const MoCoV3Options& options);
  void reset() override;
  /// x: [B, C, H, W]. Returns the projection [B, dim].
  torch::Tensor forward(const torch::Tensor& x);

  MoCoV3Options options;
  vit::VisionTransformer backbone{nullptr};
  torch::nn::Sequential projector{nullptr};
};
TORCH_MODULE(MoCoEncoder);

/// @brief Base encoder + predictor, and a momentum encoder that follows the base encoder by EMA.
///
/// The momentum encoder is created as a clone of the base encoder, its parameters never require grad, and it
/// runs in the same train/eval mode (in train mode its BatchNorms use batch statistics, as the reference's).
/// The trainer owns the momentum schedule: after optimizer.step() it calls update_momentum_encoder(m).
class MoCoV3Impl : public torch::nn::Cloneable<MoCoV3Impl> {
 public:
  explicit MoCoV3Impl(const MoCoV3Options& options);
  void reset() override;

  /// x1, x2: two views [B, C, H, W] of the same B images. Returns the symmetrised loss
  /// ctr(q1, k2) + ctr(q2, k1), q = predictor(base_encoder(x)), k = momentum_encoder(x) (no gradient).
  torch::Tensor forward(const torch::Tensor& x1, const torch::Tensor& x2);
  /// momentum_encoder = m * momentum_encoder + (1 - m) * base_encoder (parameters and float buffers).
  void update_momentum_encoder(double m);
  /// The parameters the optimizer updates: base encoder and predictor, only those with requires_grad
  /// (a frozen patch projection is left out).
  std::vector<torch::Tensor> trainable_parameters() const;

  MoCoV3Options options;
  MoCoEncoder base_encoder{nullptr};
  MoCoEncoder momentum_encoder{nullptr};
  torch::nn::Sequential predictor{nullptr};

 private:
  std::shared_ptr<ssl::EmaUpdater> ema_;  // made on first use, so that it pairs the tensors a clone/load left
};
TORCH_MODULE(MoCoV3);

}  // namespace graphmae2::models::mocov3
