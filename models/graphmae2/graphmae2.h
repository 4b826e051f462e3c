#pragma once
// GraphMAE2 (Hou et al., WWW'23): masked feature reconstruction with multi-view random re-masking and
// latent prediction against an EMA target encoder.

#include "models/layers/activation.h"
#include "models/layers/gat.h"
#include "models/layers/sparse_features.h"

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>

namespace graphmae2::models::graphmae2 {

struct GraphMAE2Options {
  explicit GraphMAE2Options(int64_t in_dim) : in_dim_(in_dim) {}
  TORCH_ARG(int64_t, in_dim);
  TORCH_ARG(int64_t, num_hidden) = 512;  ///< total encoder width (heads x per-head width)
  TORCH_ARG(int64_t, num_layers) = 2;
  TORCH_ARG(int64_t, num_dec_layers) = 1;
  TORCH_ARG(int64_t, heads) = 4;
  TORCH_ARG(int64_t, out_heads) = 1;
  TORCH_ARG(layers::Activation, activation) = layers::Activation::prelu;
  TORCH_ARG(double, feat_drop) = 0.2;
  TORCH_ARG(double, attn_drop) = 0.1;
  TORCH_ARG(double, negative_slope) = 0.2;
  TORCH_ARG(bool, residual) = false;
  TORCH_ARG(bool, fused_attention) = true;
  TORCH_ARG(layers::Norm, norm) = layers::Norm::none;
  /// The encoders add their layer-0 input projection to their output (layers::GATOptions::input_skip).
  TORCH_ARG(bool, input_skip) = false;
  /// Adds `self_decoder`, a linear map from a node's encoding back to its own features (no graph), which
  /// LossOptions::self_reconstruction trains on the unmasked nodes.
  TORCH_ARG(bool, self_decoder) = false;
  TORCH_ARG(int64_t, projector_hidden) = 256;
  /// Reference: Cora/CiteSeer/PubMed start mask tokens at zero and keep PyTorch's default init of
  /// encoder_to_decoder; other datasets use xavier-normal for all three.
  TORCH_ARG(bool, zero_init_tokens) = false;
};

/// What one training step masks: drawn by the trainer (its RNG), consumed by the model.
struct MaskPlan {
  torch::Tensor mask_nodes;                 ///< int64 [M], nodes whose input is replaced by the mask token
  std::vector<torch::Tensor> remask_nodes;  ///< per view, int64 nodes set to the decoder mask token (random)
};

/// What the decoder sees: the encoding with the masked rows zeroed (fixed), or with fresh random subsets set to
/// the decoder mask token, one per view (random: the multi-view random re-mask).
enum class RemaskMethod { fixed, random };
/// The reconstruction criterion: scaled cosine error (the paper) or mean squared error.
enum class ReconstructionLoss { sce, mse };
/// The latent-prediction criterion: SCE against the EMA target (the reference) or InfoNCE (MoCo v3's loss).
enum class LatentLoss { sce, infonce };

/// How the losses are computed (GraphMAE2Config::loss_options makes it from the config; the defaults are the
/// config's).
struct LossOptions {
  RemaskMethod remask_method = RemaskMethod::random;
  ReconstructionLoss loss_fn = ReconstructionLoss::sce;
  double alpha_l = 2.0;
  double lam = 1.0;
  bool use_reconstruction = true;
  bool use_latent = true;
  LatentLoss latent_loss = LatentLoss::sce;
  double infonce_tau = 0.2;
  /// Weights of VICReg's variance and covariance terms on the student's encoding of the targets (0: off).
  double variance_reg = 0.0;
  double covariance_reg = 0.0;
  /// Weight of the unmasked nodes' reconstruction of their own features from their own encoding through
  /// `self_decoder` (0: off). It keeps what a node is in its embedding where its neighbours say little of it.
  double self_reconstruction = 0.0;
};

/// @brief One training step's inputs: a square graph and its nodes' features, full graph or mini-batch.
///
/// The decoder runs on `graph`; the student encoder on `student_graph` and the EMA teacher on `teacher_graph`
/// when given (the reference's large-graph path passes two edge-dropped views), else on `graph` as well.
struct GraphMAE2Batch {
  graph::CsrGraph graph;
  std::optional<graph::CsrGraph> student_graph;
  std::optional<graph::CsrGraph> teacher_graph;
  torch::Tensor features;                          ///< float [N, in_dim]
  const layers::SparseFeatures* sparse = nullptr;  ///< the features' non-zeros, when they are sparse
  torch::Tensor targets;  ///< int64 node ids (of this batch) whose latent is predicted: every node, or the seeds
  /// Whether targets is arange(targets.size(0)), the batch's first rows in order (full graph, SAINT, neighbour
  /// seeds): select_targets is then a view, with nothing copied forward or scattered back in backward.
  bool targets_lead = false;

  /// rows.index_select(0, targets), or its view when targets_lead.
  torch::Tensor select_targets(const torch::Tensor& rows) const {
    if (!targets_lead) return rows.index_select(0, targets);
    return targets.size(0) == rows.size(0) ? rows : rows.narrow(0, 0, targets.size(0));
  }

  const graph::CsrGraph& student() const { return student_graph ? *student_graph : graph; }
  const graph::CsrGraph& teacher() const { return teacher_graph ? *teacher_graph : graph; }
};

struct GraphMAE2Losses {
  /// reconstruction + lam * latent + the regularisers + self_reconstruction weight x its loss (what backward runs on)
  torch::Tensor total;
  torch::Tensor reconstruction;         ///< summed over remask views (0 when switched off)
  torch::Tensor latent;                 ///< 0 when switched off
  torch::Tensor regulariser;            ///< variance_reg * variance + covariance_reg * covariance (0: off)
  torch::Tensor self_reconstruction;    ///< unweighted self_decoder loss on the unmasked nodes (0: off)
  std::vector<torch::Tensor> per_view;  ///< reconstruction loss of each view
  torch::Tensor encoding;               ///< student encoder output [N, num_hidden]
};

/// @brief The GraphMAE2 model: student encoder, decoder and heads, plus the EMA target encoder/projector.
///
/// The target (teacher) modules are registered so checkpoints carry them, but their parameters never
/// require gradients: give the optimizer `student_parameters()`. Masks and the EMA schedule are chosen by
/// the trainer; forward() only computes the losses.
class GraphMAE2Impl : public torch::nn::Cloneable<GraphMAE2Impl> {
 public:
  explicit GraphMAE2Impl(GraphMAE2Options options);
  void reset() override;

  /// The losses of one step on `batch` with the masks of `plan`. When `batch.sparse` is given the encoders' first
  /// projections run on the non-zeros (masked_sparse_linear): the same function at a fraction of the cost.
  GraphMAE2Losses forward(const GraphMAE2Batch& batch, const MaskPlan& plan, const LossOptions& loss);
  /// Student encoder output on the unmasked graph (call in eval mode for embeddings). Returns [N, num_hidden].
  torch::Tensor embed(const graph::CsrGraph& graph, const torch::Tensor& x,
                      const layers::SparseFeatures* sparse_x = nullptr);
  /// Latent target: EMA projector(EMA encoder(graph, x))[targets], no grad.
  torch::Tensor latent_target(const graph::CsrGraph& graph, const torch::Tensor& x, const torch::Tensor& targets,
                              const layers::SparseFeatures* sparse_x = nullptr);
  /// The same on a batch: its teacher graph, features and targets.
  torch::Tensor latent_target(const GraphMAE2Batch& batch);

  /// Parameters that train (everything except the target modules).
  std::vector<torch::Tensor> student_parameters() const;

  GraphMAE2Options options;
  layers::GAT encoder{nullptr}, decoder{nullptr}, encoder_ema{nullptr};
  torch::nn::Linear encoder_to_decoder{nullptr};
  torch::nn::Linear self_decoder{nullptr};  ///< registered only with options.self_decoder()
  torch::nn::Sequential projector{nullptr}, projector_ema{nullptr}, predictor{nullptr};
  torch::Tensor enc_mask_token, dec_mask_token;
};
TORCH_MODULE(GraphMAE2);

/// Returns x with the rows listed in `nodes` replaced by `token` ([1, D]; undefined means zeros), as the
/// reference's `x[nodes] = 0; x[nodes] += token`. Differentiable w.r.t. x and token.
torch::Tensor replace_rows(const torch::Tensor& x, const torch::Tensor& nodes, const torch::Tensor& token);

/// The ids in [0, n) not in `mask_nodes` (distinct ids), ascending, without a host read.
torch::Tensor unmasked_nodes(int64_t n, const torch::Tensor& mask_nodes);

/// Draws a random permutation and returns its first int(rate * n) entries (the reference's masking).
torch::Tensor random_subset(int64_t n, double rate, const torch::Device& device);

}  // namespace graphmae2::models::graphmae2
