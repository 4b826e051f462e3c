#include "models/mocov3/mocov3.h"

#include "models/ssl/contrastive.h"

namespace graphmae2::models::mocov3 {
namespace nn = torch::nn;

nn::Sequential build_mlp(int64_t num_layers, int64_t input_dim, int64_t hidden_dim, int64_t output_dim, bool last_bn) {
  TORCH_CHECK(num_layers >= 1, "build_mlp: num_layers must be >= 1, got ", num_layers);
  TORCH_CHECK(input_dim >= 1 && hidden_dim >= 1 && output_dim >= 1, "build_mlp: widths must be >= 1, got ", input_dim,
              ", ", hidden_dim, ", ", output_dim);
  nn::Sequential mlp;
  for (int64_t l = 0; l < num_layers; ++l) {
    const int64_t in = l == 0 ? input_dim : hidden_dim;
    const int64_t out = l == num_layers - 1 ? output_dim : hidden_dim;
    mlp->push_back(nn::Linear(nn::LinearOptions(in, out).bias(false)));
    if (l < num_layers - 1) {
      mlp->push_back(nn::BatchNorm1d(out));
      mlp->push_back(nn::ReLU());
    } else if (last_bn) {
      mlp->push_back(nn::BatchNorm1d(nn::BatchNorm1dOptions(out).affine(false)));
    }
  }
  return mlp;
}

MoCoEncoderImpl::MoCoEncoderImpl(const MoCoV3Options& options_) : options(options_) { reset(); }

void MoCoEncoderImpl::reset() {
  backbone = register_module("backbone", vit::VisionTransformer(options.backbone()));
  projector = register_module(
      "projector", build_mlp(3, options.backbone().embed_dim(), options.mlp_dim(), options.dim(), /*last_bn=*/true));
}

torch::Tensor MoCoEncoderImpl::forward(const torch::Tensor& x) { return projector->forward(backbone(x)); }

MoCoV3Impl::MoCoV3Impl(const MoCoV3Options& options_) : options(options_) {
  TORCH_CHECK(options.dim() >= 1 && options.mlp_dim() >= 1, "MoCoV3: dim and mlp_dim must be >= 1, got ", options.dim(),
              " and ", options.mlp_dim());
  TORCH_CHECK(options.temperature() > 0.0, "MoCoV3: temperature must be > 0, got ", options.temperature());
  reset();
}

void MoCoV3Impl::reset() {
  base_encoder = register_module("base_encoder", MoCoEncoder(options));
  // The teacher starts as an exact copy of the student (the reference copies parameters at construction).
  momentum_encoder = register_module("momentum_encoder",
                                     MoCoEncoder(std::dynamic_pointer_cast<MoCoEncoderImpl>(base_encoder->clone())));
  for (auto& p : momentum_encoder->parameters()) p.set_requires_grad(false);
  // The ViT recipe's predictor ends in a BatchNorm too (builder.py MoCo_ViT: _build_mlp(2, dim, mlp_dim, dim)).
  predictor = register_module("predictor", build_mlp(2, options.dim(), options.mlp_dim(), options.dim(), true));
  ema_.reset();
}

torch::Tensor MoCoV3Impl::forward(const torch::Tensor& x1, const torch::Tensor& x2) {
  TORCH_CHECK(x1.sizes() == x2.sizes(), "MoCoV3: the two views differ in shape: ", x1.sizes(), " vs ", x2.sizes());
  TORCH_CHECK(x1.size(0) >= 2, "MoCoV3: a contrastive batch needs at least 2 images, got ", x1.size(0));
  const auto q1 = predictor->forward(base_encoder(x1));
  const auto q2 = predictor->forward(base_encoder(x2));
  torch::Tensor k1, k2;
  {
    torch::NoGradGuard no_grad;
    k1 = momentum_encoder(x1);
    k2 = momentum_encoder(x2);
  }
  return ssl::symmetric_contrastive_loss(q1, q2, k1, k2, options.temperature());
}

void MoCoV3Impl::update_momentum_encoder(double m) {
  if (!ema_) ema_ = std::make_shared<ssl::EmaUpdater>(base_encoder.ptr(), momentum_encoder.ptr());
  ema_->update(m);
}

std::vector<torch::Tensor> MoCoV3Impl::trainable_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : base_encoder->parameters()) {
    if (p.requires_grad()) out.push_back(p);
  }
  for (const auto& p : predictor->parameters()) {
    if (p.requires_grad()) out.push_back(p);
  }
  return out;
}

}  // namespace graphmae2::models::mocov3
