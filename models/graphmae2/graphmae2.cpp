#include "models/graphmae2/graphmae2.h"

#include "models/layers/prelu.h"
#include "models/ssl/contrastive.h"
#include "models/ssl/losses.h"

#include <cmath>

namespace graphmae2::models::graphmae2 {

namespace {

// Encoder: in_dim -> heads x (num_hidden / heads) on every layer; decoder: num_hidden -> out_heads x in_dim.
layers::GAT make_gat(const GraphMAE2Options& o, bool encoding) {
  const int64_t per_head = o.num_hidden() / o.heads();
  auto opts =
      encoding ? layers::GATOptions(o.in_dim(), per_head, per_head, o.num_layers()).out_heads(o.heads())
               : layers::GATOptions(o.num_hidden(), per_head, o.in_dim(), o.num_dec_layers()).out_heads(o.out_heads());
  return layers::GAT(opts.heads(o.heads())
                         .activation(o.activation())
                         .feat_drop(o.feat_drop())
                         .attn_drop(o.attn_drop())
                         .negative_slope(o.negative_slope())
                         .residual(o.residual())
                         .fused_attention(o.fused_attention())
                         .norm(o.norm())
                         .input_skip(encoding && o.input_skip())
                         .encoding(encoding));
}

torch::nn::Sequential make_projector(int64_t width, int64_t hidden) {
  return torch::nn::Sequential(torch::nn::Linear(width, hidden), layers::PReLU(layers::PReLUOptions().init(0.25)),
                               torch::nn::Linear(hidden, width));
}

// encoder(graph, x with the rows `mask_nodes` replaced by `token`), through the sparse first projection when
// the features are given sparse and the first layer allows it.
torch::Tensor encode(layers::GAT& encoder, const graph::CsrGraph& graph, const torch::Tensor& x,
                     const layers::SparseFeatures* sparse_x, const torch::Tensor& mask_nodes,
                     const torch::Tensor& token) {
  auto first = encoder->first_layer();
  if (sparse_x != nullptr && first->accepts_projected_input()) {
    TORCH_CHECK(sparse_x->num_rows() == x.size(0) && sparse_x->num_features() == x.size(1),
                "GraphMAE2: sparse features are ", sparse_x->num_rows(), " x ", sparse_x->num_features(),
                " but the dense features are ", x.sizes());
    layers::store_transposed(first->fc->weight);
    // The layer's attention logits from the same sparse input, through the folded attention vectors ([2H, F]):
    // an [N, F] x [F, 2H] product on the non-zeros instead of per-head dot products over the [N, H, D] projection.
    const auto projected =
        layers::masked_sparse_linear(*sparse_x, {first->fc->weight, first->folded_attention()}, mask_nodes, token,
                                     first->options.feat_drop(), first->is_training());
    return encoder->forward_projected(graph, projected[0], projected[1]);
  }
  return encoder->forward(graph, mask_nodes.defined() ? replace_rows(x, mask_nodes, token) : x);
}

}  // namespace

torch::Tensor replace_rows(const torch::Tensor& x, const torch::Tensor& nodes, const torch::Tensor& token) {
  TORCH_CHECK(x.dim() == 2, "replace_rows: x must be 2-D, got ", x.sizes());
  TORCH_CHECK(!token.defined() || (token.dim() == 2 && token.size(0) == 1 && token.size(1) == x.size(1)),
              "replace_rows: token has shape ", token.sizes(), ", expected [1, ", x.size(1), "]");
  // A 0/1 row indicator keeps this differentiable w.r.t. both x and the token.
  auto ind = torch::zeros({x.size(0), 1}, x.options());
  if (nodes.numel() > 0) ind.index_fill_(0, nodes, 1.0);
  auto out = x * (1 - ind);
  return token.defined() ? out + ind * token : out;
}

torch::Tensor unmasked_nodes(int64_t n, const torch::Tensor& mask_nodes) {
  TORCH_CHECK(mask_nodes.dim() == 1 && mask_nodes.size(0) <= n, "unmasked_nodes: ", mask_nodes.sizes(),
              " masked nodes of ", n);
  auto masked = torch::zeros({n}, mask_nodes.options().dtype(torch::kInt32));
  masked.index_fill_(0, mask_nodes, 1);
  // A stable sort puts the unmasked ids first, ascending; their count is known here, so nothing is read back.
  return torch::argsort(masked, /*stable=*/true).narrow(0, 0, n - mask_nodes.size(0));
}

torch::Tensor random_subset(int64_t n, double rate, const torch::Device& device) {
  TORCH_CHECK(rate >= 0.0 && rate <= 1.0, "mask rate must be in [0, 1], got ", rate);
  auto perm = torch::randperm(n, torch::TensorOptions().dtype(torch::kInt64).device(device));
  return perm.narrow(0, 0, static_cast<int64_t>(rate * static_cast<double>(n)));
}

GraphMAE2Impl::GraphMAE2Impl(GraphMAE2Options options_) : options(std::move(options_)) { reset(); }

void GraphMAE2Impl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.heads() > 0 && o.num_hidden() % o.heads() == 0, "GraphMAE2: num_hidden (", o.num_hidden(),
              ") must be divisible by num_heads (", o.heads(), ")");
  TORCH_CHECK(o.out_heads() > 0 && o.num_hidden() % o.out_heads() == 0, "GraphMAE2: num_hidden (", o.num_hidden(),
              ") must be divisible by num_out_heads (", o.out_heads(), ")");
  encoder = register_module("encoder", make_gat(o, /*encoding=*/true));
  decoder = register_module("decoder", make_gat(o, /*encoding=*/false));
  encoder_to_decoder = register_module(
      "encoder_to_decoder", torch::nn::Linear(torch::nn::LinearOptions(o.num_hidden(), o.num_hidden()).bias(false)));
  enc_mask_token = register_parameter("enc_mask_token", torch::zeros({1, o.in_dim()}));
  dec_mask_token = register_parameter("dec_mask_token", torch::zeros({1, o.num_hidden()}));
  if (!o.zero_init_tokens()) {
    layers::xavier_normal(enc_mask_token, 1.0);
    layers::xavier_normal(dec_mask_token, 1.0);
    layers::xavier_normal(encoder_to_decoder->weight, 1.414);
  }
  if (o.self_decoder()) {
    self_decoder = register_module("self_decoder", torch::nn::Linear(o.num_hidden(), o.in_dim()));
  }
  projector = register_module("projector", make_projector(o.num_hidden(), o.projector_hidden()));
  predictor = register_module("predictor", torch::nn::Sequential(layers::PReLU(layers::PReLUOptions().init(0.25)),
                                                                 torch::nn::Linear(o.num_hidden(), o.num_hidden())));
  // The target starts as an exact copy of the student (the reference's load_state_dict).
  encoder_ema = register_module("encoder_ema", std::dynamic_pointer_cast<layers::GATImpl>(encoder->clone()));
  projector_ema =
      register_module("projector_ema", std::dynamic_pointer_cast<torch::nn::SequentialImpl>(projector->clone()));
  for (auto& p : encoder_ema->parameters()) p.set_requires_grad(false);
  for (auto& p : projector_ema->parameters()) p.set_requires_grad(false);
}

std::vector<torch::Tensor> GraphMAE2Impl::student_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : parameters()) {
    if (p.requires_grad()) out.push_back(p);
  }
  return out;
}

torch::Tensor GraphMAE2Impl::embed(const graph::CsrGraph& graph, const torch::Tensor& x,
                                   const layers::SparseFeatures* sparse_x) {
  return encode(encoder, graph, x, sparse_x, torch::Tensor(), torch::Tensor());
}

torch::Tensor GraphMAE2Impl::latent_target(const graph::CsrGraph& graph, const torch::Tensor& x,
                                           const torch::Tensor& targets, const layers::SparseFeatures* sparse_x) {
  GraphMAE2Batch batch;
  batch.graph = graph;
  batch.features = x;
  batch.sparse = sparse_x;
  batch.targets = targets;
  return latent_target(batch);
}

torch::Tensor GraphMAE2Impl::latent_target(const GraphMAE2Batch& batch) {
  torch::NoGradGuard no_grad;
  auto h = encode(encoder_ema, batch.teacher(), batch.features, batch.sparse, torch::Tensor(), torch::Tensor());
  return projector_ema->forward(batch.select_targets(h));
}

namespace {

void check_batch(const GraphMAE2Batch& batch, int64_t in_dim, const LossOptions& loss) {
  const auto& x = batch.features;
  const auto& targets = batch.targets;
  TORCH_CHECK(x.dim() == 2 && x.size(1) == in_dim, "GraphMAE2: features have shape ", x.sizes(), ", expected [N, ",
              in_dim, "]");
  const int64_t n = x.size(0);
  for (const auto* g : {&batch.graph, &batch.student(), &batch.teacher()}) {
    TORCH_CHECK(g->num_rows() == n && g->num_cols == n, "GraphMAE2: a graph of the batch is ", g->num_rows(), " x ",
                g->num_cols, " but the features have ", n, " rows");
  }
  TORCH_CHECK(targets.defined() && targets.dim() == 1 && targets.scalar_type() == torch::kInt64,
              "GraphMAE2: targets must be a 1-D int64 tensor of node ids");
  // A wrong targets_lead would silently train on other rows: checked where it costs no device sync.
  TORCH_CHECK(
      !batch.targets_lead || (targets.size(0) <= n &&
                              (!targets.is_cpu() || targets.equal(torch::arange(targets.size(0), targets.options())))),
      "GraphMAE2: targets_lead is set but the ", targets.size(0), " targets are not rows 0.. of the ", n,
      "-node batch in order");
  TORCH_CHECK(loss.use_reconstruction || loss.use_latent || loss.self_reconstruction > 0.0,
              "GraphMAE2: use_reconstruction and use_latent are off and self_reconstruction is 0: nothing to train");
}

// The reconstruction loss of each remask view (one view for the fixed remask).
std::vector<torch::Tensor> reconstruction_views(GraphMAE2Impl& m, const GraphMAE2Batch& batch, const MaskPlan& plan,
                                                const LossOptions& loss, const torch::Tensor& enc_rep) {
  const auto& x = batch.features;
  const int64_t n = x.size(0);
  // The masked nodes' input rows are the target; the scaled cosine error reads them in place (no gathered copy).
  auto criterion = [&](const torch::Tensor& reconstructed) {
    return loss.loss_fn == ReconstructionLoss::sce
               ? ssl::sce_loss_gathered_rows(x, plan.mask_nodes, reconstructed, loss.alpha_l).mean()
               : ssl::mse_loss(x.index_select(0, plan.mask_nodes), reconstructed);
  };
  std::vector<torch::Tensor> views;
  if (loss.remask_method == RemaskMethod::fixed) {
    // The decoder sees zeros on the masked rows, so only the others go through encoder_to_decoder: the same
    // values as projecting every row and zeroing (the reference), at about half of that product and its backward.
    const auto keep = unmasked_nodes(n, plan.mask_nodes);
    auto rep = torch::zeros({n, m.options.num_hidden()}, enc_rep.options());
    rep.index_copy_(0, keep, m.encoder_to_decoder->forward(enc_rep.index_select(0, keep)));
    views.push_back(criterion(m.decoder->forward_rows(batch.graph, rep, plan.mask_nodes)));
    return views;
  }
  TORCH_CHECK(!plan.remask_nodes.empty(), "GraphMAE2: random remask needs at least one remask view");
  auto origin_rep = m.encoder_to_decoder->forward(enc_rep);
  for (const auto& remask : plan.remask_nodes) {
    auto rep = replace_rows(origin_rep, remask, m.dec_mask_token);
    views.push_back(criterion(m.decoder->forward_rows(batch.graph, rep, plan.mask_nodes)));
  }
  return views;
}

torch::Tensor regulariser(const GraphMAE2Batch& batch, const LossOptions& loss, const torch::Tensor& enc_rep,
                          const torch::Tensor& zero) {
  if (loss.variance_reg <= 0.0 && loss.covariance_reg <= 0.0) return zero;
  TORCH_CHECK(batch.targets.size(0) >= 2,
              "GraphMAE2: variance_reg / covariance_reg need at least 2 targets per batch, got ",
              batch.targets.size(0));
  const auto z = batch.select_targets(enc_rep);
  auto out = zero;
  if (loss.variance_reg > 0.0) out = out + loss.variance_reg * ssl::variance_loss(z);
  if (loss.covariance_reg > 0.0) out = out + loss.covariance_reg * ssl::covariance_loss(z);
  return out;
}

torch::Tensor self_reconstruction_loss(GraphMAE2Impl& m, const torch::Tensor& x, const MaskPlan& plan,
                                       const LossOptions& loss, const torch::Tensor& enc_rep) {
  TORCH_CHECK(!m.self_decoder.is_empty(), "GraphMAE2: self_reconstruction is ", loss.self_reconstruction,
              " but the model was built without a self_decoder");
  const int64_t n = x.size(0);
  const int64_t visible = n - plan.mask_nodes.size(0);
  TORCH_CHECK(visible > 0, "GraphMAE2: self_reconstruction needs unmasked nodes, but all ", n, " are masked");
  // Per-row weights instead of selecting the unmasked rows: no host sync to count them.
  auto unmasked = torch::ones({n}, x.options());
  unmasked.index_fill_(0, plan.mask_nodes, 0.0);
  return ssl::sce_loss_rows(m.self_decoder->forward(enc_rep), x, loss.alpha_l)
      .mul(unmasked)
      .sum()
      .div(static_cast<double>(visible));
}

}  // namespace

GraphMAE2Losses GraphMAE2Impl::forward(const GraphMAE2Batch& batch, const MaskPlan& plan, const LossOptions& loss) {
  check_batch(batch, options.in_dim(), loss);
  const auto& x = batch.features;
  // Masked rows of the input become the (learnable) encoder mask token.
  auto enc_rep = encode(encoder, batch.student(), x, batch.sparse, plan.mask_nodes, enc_mask_token);

  GraphMAE2Losses out;
  out.encoding = enc_rep;
  auto zero = torch::zeros({}, x.options());
  out.latent = zero;
  out.reconstruction = zero;
  if (loss.use_latent) {
    auto target = latent_target(batch);
    auto pred = predictor->forward(projector->forward(batch.select_targets(enc_rep)));
    out.latent = loss.latent_loss == LatentLoss::infonce ? ssl::info_nce_loss(pred, target, loss.infonce_tau)
                                                         : ssl::sce_loss(pred, target, 1.0);
  }
  if (loss.use_reconstruction) {
    out.per_view = reconstruction_views(*this, batch, plan, loss, enc_rep);
    out.reconstruction = out.per_view.front();
    for (size_t v = 1; v < out.per_view.size(); ++v) out.reconstruction = out.reconstruction + out.per_view[v];
  }
  out.regulariser = regulariser(batch, loss, enc_rep, zero);
  out.self_reconstruction =
      loss.self_reconstruction > 0.0 ? self_reconstruction_loss(*this, x, plan, loss, enc_rep) : zero;
  out.total =
      out.reconstruction + loss.lam * out.latent + out.regulariser + loss.self_reconstruction * out.self_reconstruction;
  return out;
}

}  // namespace graphmae2::models::graphmae2
