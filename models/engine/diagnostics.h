#pragma once
// Collapse and instability diagnostics shared by every trainer: loss terms, embedding geometry, EMA teacher
// distance and gradient norms in; plainly named figures and flags with concrete advice out.

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/engine/grad_monitor.h"

namespace graphmae2::models::engine {

/// Thrown by a run whose diagnostics flagged a collapse when its config makes that an error (on_collapse stop,
/// --fail-on-collapse); the metrics are written first. Tools exit 4.
struct CollapseDetected : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// `max_rows` rows of emb [N, D] drawn without replacement by a generator seeded with `seed` (all rows, in
/// order, when N <= max_rows). Same (N, max_rows, seed) -> same rows. Returns [min(N, max_rows), D].
torch::Tensor sample_rows(const torch::Tensor& emb, int64_t max_rows, uint64_t seed);

/// RankMe effective rank (Garrido et al. 2023) of emb [N, D] (floating, finite, N >= 1), on sample_rows:
/// singular values s of the (uncentred) matrix, p = s / sum(s) + 1e-7, returns exp(-sum p log p), in
/// [1, min(N, D)] up to the 1e-7; an n x n identity gives n, a rank-1 matrix 1. An all-zero matrix gives 1.
/// Computed in float64 on the CPU.
double effective_rank(const torch::Tensor& emb, int64_t max_rows = 2048, uint64_t seed = 0);

/// Mean over the D dimensions of the standard deviation (population, over rows) of the L2-normalised rows
/// of emb [N, D] (N >= 2), on sample_rows. Spread-out unit vectors give ~1/sqrt(D); a constant embedding 0.
double per_dim_std(const torch::Tensor& emb, int64_t max_rows = 2048, uint64_t seed = 0);

/// Mean cosine similarity over all pairs i != j of the rows of emb [N, D] (N >= 2), on sample_rows.
/// Exact over the sample in O(N D): (||sum z||^2 - sum ||z||^2) / (N (N - 1)) with z the normalised rows;
/// zero rows count as cosine 0 with everything. 1 for identical rows, ~0 for random Gaussian rows.
double mean_pairwise_cosine(const torch::Tensor& emb, int64_t max_rows = 2048, uint64_t seed = 0);

/// @brief Thresholds of Diagnostics. Every default is chosen so that a healthy GraphMAE2 / MoCo v3 run stays
/// silent while the failure it names is caught; each is a flag-overridable knob.
struct DiagnosticsOptions {
  /// Rows sampled for the embedding figures. Their SVD in float64 costs far more than a training step, so trainers
  /// observe embeddings every few epochs, not every step.
  TORCH_ARG(int64_t, sample_rows) = 2048;
  TORCH_ARG(uint64_t, seed) = 0;

  /// Loss collapse is only looked for in the first `loss_early_epochs` epochs after the first observation
  /// (none when that observation comes later than this epoch: a resumed run, whose start was seen before):
  /// a loss that is tiny after hundreds of epochs has converged; one that is tiny after a handful has found
  /// a shortcut (the GraphMAE2 report: "falls to ~0 within a few epochs").
  TORCH_ARG(int64_t, loss_early_epochs) = 20;
  /// A term below this is collapsed. SCE with alpha >= 1 is 1e-3 only when (1 - cos) ~ 1e-3 (alpha 1) or ~0.03
  /// (alpha 2) on every masked node, which a non-trivial reconstruction does not reach early in training.
  TORCH_ARG(double, loss_floor) = 1e-3;
  /// ... or when it has lost more than this fraction of its first value (99%: a drop of two orders of magnitude).
  TORCH_ARG(double, loss_drop_fraction) = 0.99;

  /// Representation collapse when embedding_std < std_factor / sqrt(D). Unit vectors spread over all D
  /// dimensions have per-dimension std ~1/sqrt(D); 0.1 of that means the total variance is ~1% of the
  /// spread case, i.e. the rows agree to ~0.99 cosine. A healthy Cora GraphMAE2 run (D = 1024) measured 0.0067
  /// at epoch 10 against a threshold of 0.0031.
  TORCH_ARG(double, std_factor) = 0.1;
  /// ... or effective_rank < max(rank_floor, rank_fraction * min(rows, D)): RankMe reports collapsed SSL
  /// encoders at ranks of 1 to a few per cent of the width; 1% with a floor of 2 only catches the extreme end
  /// (the healthy Cora run: 211 at epoch 10, threshold 10.2).
  TORCH_ARG(double, rank_fraction) = 0.01;
  TORCH_ARG(double, rank_floor) = 2.0;
  /// ... or mean_cosine > this: all embeddings pointing the same way. The figure is uncentred, and encoders
  /// ending in PReLU share a large positive component: a healthy Cora GraphMAE2 run measured 0.94 at epoch 10.
  /// 0.99 matches std_factor (rows agreeing to ~0.99 cosine).
  TORCH_ARG(double, mean_cosine_max) = 0.99;
  /// What a representation collapse flag advises after its figures: the trainer's measured remedies
  /// (GraphMAE2: docs/diagnostics.md).
  TORCH_ARG(std::string, representation_advice) =
      "Check that the encoder output is not constant (dead activations, zero weights, a detached input).";
  /// Embedding checks start at this epoch (0: from the first observation, untrained encoders included).
  TORCH_ARG(int64_t, embedding_start_epoch) = 0;

  /// Trivial teacher-student agreement: the latent term (named below) under latent_floor at an epoch where the
  /// EMA distance is under teacher_distance_floor, within loss_early_epochs of the start: the teacher is the
  /// student and the target is trivial. (Later, momentum 0 with lr decayed to ~0 looks the same and is harmless.)
  TORCH_ARG(std::string, latent_term) = "loss_latent";
  /// The latent target comes from a teacher that never moves (EMA momentum 1: the reference's CiteSeer config).
  /// The student then learns to match a fixed random function, and the latent term falling to ~0 is that match,
  /// not a shortcut: measured on CiteSeer, effective rank 81 of 1024, mean cosine 0.55 and the paper's accuracy.
  /// The latent term is not judged for loss collapse; the embedding checks still run.
  TORCH_ARG(bool, latent_target_fixed) = false;
  TORCH_ARG(double, latent_floor) = 1e-3;
  /// EmaUpdater::distance is an absolute L2 over all parameters; one Adam step of lr 1e-4 on a 1e5-parameter
  /// model already moves it by ~3e-2, so 1e-6 means no learning between teacher and student at all.
  TORCH_ARG(double, teacher_distance_floor) = 1e-6;

  /// Spike / exploding / vanishing detection of the gradient norms given to observe_grads.
  TORCH_ARG(GradMonitorOptions, grad) = {};
};

/// @brief Kinds of flags; the first three are collapse (has_collapse, --fail-on-collapse).
enum class FlagKind {
  kLossCollapse,
  kRepresentationCollapse,
  kTrivialAgreement,
  kExplodingGradients,
  kVanishingGradients,
  kGradientSpike,
  kNonFinite,
  kTinyLossScale,  ///< a term is below loss_floor from its first value on: its scale, not a collapse
};

/// "loss collapse", "representation collapse", ... (the words used in warnings).
const char* to_string(FlagKind kind);
/// True for loss collapse, representation collapse and trivial agreement.
bool is_collapse(FlagKind kind);

/// @brief One detected problem: what was measured, its value, the threshold it crossed and what to do.
struct Flag {
  FlagKind kind = FlagKind::kLossCollapse;
  std::string measurement;  ///< plain name: "loss_rec", "effective_rank", "grad_norm[encoder]", ...
  double value = 0.0;
  double threshold = 0.0;
  bool above = false;  ///< true when the problem is value > threshold, false when value < threshold
  int64_t epoch = 0;
  std::string advice;  ///< concrete next step, with the context that makes it concrete
};

/// One line: "WARNING: representation collapse at epoch 3: embedding_std = 1.2e-05 < 0.0031. <advice>".
std::string format(const Flag& flag);

/// @brief Watches a training run and raises flags for collapse and instability.
///
/// Each (kind, measurement) is flagged once, at its first occurrence; later occurrences only update the
/// figures. Call the observe_* functions whenever the trainer has the figure (every epoch or every N steps).
class Diagnostics {
 public:
  explicit Diagnostics(DiagnosticsOptions options = {});

  /// Loss terms of one epoch, e.g. {"loss": 0.8, "loss_rec": 0.6, "loss_latent": 0.2}. Report only terms
  /// that are active: a disabled branch reported as 0 would read as a collapsed one.
  void observe_losses(int64_t epoch, const std::map<std::string, double>& terms);
  /// Embeddings [N, D] (e.g. the encoder on the unmasked graph, or the MoCo backbone on a batch), N >= 2.
  /// Sets effective_rank, embedding_std and mean_cosine; non-finite entries raise a kNonFinite flag instead.
  void observe_embeddings(int64_t epoch, const torch::Tensor& emb);
  /// Student-teacher distance of the EMA (EmaUpdater::distance()), after the update of this epoch.
  void observe_teacher(int64_t epoch, double distance);
  /// Gradient norms of one step ({"total": ..., "<group>": ...}, e.g. from GradMonitor::record).
  void observe_grads(int64_t epoch, int64_t step, const std::map<std::string, double>& norms);

  /// Latest figures with plain names for the metrics file: effective_rank, embedding_std, mean_cosine,
  /// teacher_distance, grad_norm (the "total" norm, else the largest group), grad_spikes (count so far),
  /// diag_flags (flags so far). A figure that was never observed is absent.
  std::map<std::string, double> metrics() const;
  /// Flags raised since the previous call, oldest first.
  std::vector<Flag> take_new_flags();
  /// Every flag raised so far.
  const std::vector<Flag>& flags() const { return flags_; }
  /// True when a collapse flag (is_collapse) has been raised.
  bool has_collapse() const;

  const DiagnosticsOptions& options() const { return options_; }

 private:
  void raise(FlagKind kind, const std::string& measurement, double value, double threshold, bool above, int64_t epoch,
             std::string advice);
  void check_agreement(int64_t epoch);

  DiagnosticsOptions options_;
  GradMonitor grads_;
  std::map<std::string, std::pair<int64_t, double>> first_loss_;  // term -> (epoch, value) of its first observation
  std::optional<std::pair<int64_t, double>> latent_;              // latest (epoch, latent term)
  std::optional<std::pair<int64_t, double>> teacher_;             // latest (epoch, teacher distance)
  std::map<std::string, double> figures_;
  std::set<std::pair<int, std::string>> raised_;
  std::vector<Flag> flags_;
  size_t taken_ = 0;
};

}  // namespace graphmae2::models::engine
