#include "models/engine/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <numeric>
#include <random>
#include <sstream>

namespace graphmae2::models::engine {
namespace {

void check_embedding(const torch::Tensor& emb, int64_t min_rows, const char* fn) {
  TORCH_CHECK(emb.defined(), fn, ": embedding tensor is undefined");
  TORCH_CHECK(emb.dim() == 2, fn, ": embeddings should be a 2d tensor [N, D], got ", emb.dim(), "D of shape ",
              emb.sizes());
  TORCH_CHECK(emb.is_floating_point(), fn, ": embeddings should be floating point, got ", emb.scalar_type());
  TORCH_CHECK(emb.size(0) >= min_rows, fn, ": needs at least ", min_rows, " rows, got ", emb.size(0));
  TORCH_CHECK(emb.size(1) >= 1, fn, ": needs at least one column, got shape ", emb.sizes());
}

// The sample as a float64 CPU matrix with finite entries (every figure is computed in double).
torch::Tensor sample_double(const torch::Tensor& emb, int64_t max_rows, uint64_t seed, const char* fn) {
  auto x = sample_rows(emb.detach(), max_rows, seed).to(torch::kCPU, torch::kDouble);
  TORCH_CHECK(torch::isfinite(x).all().item<bool>(), fn, ": embeddings contain NaN or inf");
  return x;
}

std::string num(double v) {
  std::ostringstream os;
  os << std::setprecision(4) << v;
  return os.str();
}

}  // namespace

torch::Tensor sample_rows(const torch::Tensor& emb, int64_t max_rows, uint64_t seed) {
  TORCH_CHECK(emb.defined() && emb.dim() == 2, "sample_rows: expected a 2d tensor [N, D], got ",
              emb.defined() ? emb.dim() : 0, "D");
  TORCH_CHECK(max_rows >= 1, "sample_rows: max_rows must be >= 1, got ", max_rows);
  const int64_t n = emb.size(0);
  if (n <= max_rows) return emb;
  // Partial Fisher-Yates with mt19937_64 (whose output the standard fixes) and a modulo draw, so the rows
  // chosen do not depend on the standard library's distribution implementation.
  std::mt19937_64 rng(seed);
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  for (int64_t i = 0; i < max_rows; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng() % static_cast<uint64_t>(n - i));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(max_rows);
  std::sort(idx.begin(), idx.end());
  auto index = torch::tensor(idx, torch::kLong).to(emb.device());
  return emb.index_select(0, index);
}

double effective_rank(const torch::Tensor& emb, int64_t max_rows, uint64_t seed) {
  check_embedding(emb, 1, "effective_rank");
  const auto x = sample_double(emb, max_rows, seed, "effective_rank");
  const auto s = torch::linalg_svdvals(x);
  const double total = s.sum().item<double>();
  if (total <= 0.0) return 1.0;     // all-zero matrix: no direction at all; 1 keeps the figure in [1, min(N, D)]
  const auto p = s / total + 1e-7;  // RankMe's epsilon
  return std::exp(-(p * p.log()).sum().item<double>());
}

double per_dim_std(const torch::Tensor& emb, int64_t max_rows, uint64_t seed) {
  check_embedding(emb, 2, "per_dim_std");
  const auto z = torch::nn::functional::normalize(sample_double(emb, max_rows, seed, "per_dim_std"),
                                                  torch::nn::functional::NormalizeFuncOptions().dim(1));
  return torch::std(z, /*dim=*/{0}, /*correction=*/0, /*keepdim=*/false).mean().item<double>();
}

double mean_pairwise_cosine(const torch::Tensor& emb, int64_t max_rows, uint64_t seed) {
  check_embedding(emb, 2, "mean_pairwise_cosine");
  const auto z = torch::nn::functional::normalize(sample_double(emb, max_rows, seed, "mean_pairwise_cosine"),
                                                  torch::nn::functional::NormalizeFuncOptions().dim(1));
  const double n = static_cast<double>(z.size(0));
  const auto col = z.sum(0);
  const double all_pairs = col.dot(col).item<double>();  // sum over i, j of cos(z_i, z_j), diagonal included
  const double diagonal = z.pow(2).sum().item<double>();
  return (all_pairs - diagonal) / (n * (n - 1.0));
}

const char* to_string(FlagKind kind) {
  switch (kind) {
    case FlagKind::kLossCollapse:
      return "loss collapse";
    case FlagKind::kRepresentationCollapse:
      return "representation collapse";
    case FlagKind::kTrivialAgreement:
      return "trivial teacher-student agreement";
    case FlagKind::kExplodingGradients:
      return "exploding gradients";
    case FlagKind::kVanishingGradients:
      return "vanishing gradients";
    case FlagKind::kGradientSpike:
      return "gradient spike";
    case FlagKind::kNonFinite:
      return "non-finite values";
    case FlagKind::kTinyLossScale:
      return "tiny loss scale";
  }
  return "unknown";
}

bool is_collapse(FlagKind kind) {
  return kind == FlagKind::kLossCollapse || kind == FlagKind::kRepresentationCollapse ||
         kind == FlagKind::kTrivialAgreement;
}

std::string format(const Flag& flag) {
  std::ostringstream os;
  os << "WARNING: " << to_string(flag.kind) << " at epoch " << flag.epoch << ": " << flag.measurement;
  if (!std::isfinite(flag.value)) {
    os << " = " << flag.value << " (not finite)";
  } else {
    os << " = " << num(flag.value) << (flag.above ? " > " : " < ") << num(flag.threshold);
  }
  os << ". " << flag.advice;
  return os.str();
}

Diagnostics::Diagnostics(DiagnosticsOptions options) : options_(std::move(options)), grads_({}, options_.grad()) {
  TORCH_CHECK(options_.sample_rows() >= 2, "Diagnostics: sample_rows must be >= 2, got ", options_.sample_rows());
  TORCH_CHECK(options_.loss_early_epochs() >= 1, "Diagnostics: loss_early_epochs must be >= 1, got ",
              options_.loss_early_epochs());
  TORCH_CHECK(options_.loss_drop_fraction() > 0.0 && options_.loss_drop_fraction() < 1.0,
              "Diagnostics: loss_drop_fraction must be in (0, 1), got ", options_.loss_drop_fraction());
  TORCH_CHECK(options_.std_factor() > 0.0, "Diagnostics: std_factor must be > 0, got ", options_.std_factor());
  TORCH_CHECK(options_.rank_fraction() >= 0.0 && options_.rank_fraction() <= 1.0,
              "Diagnostics: rank_fraction must be in [0, 1], got ", options_.rank_fraction());
  TORCH_CHECK(options_.mean_cosine_max() > 0.0 && options_.mean_cosine_max() <= 1.0,
              "Diagnostics: mean_cosine_max must be in (0, 1], got ", options_.mean_cosine_max());
}

void Diagnostics::raise(FlagKind kind, const std::string& measurement, double value, double threshold, bool above,
                        int64_t epoch, std::string advice) {
  if (!raised_.insert({static_cast<int>(kind), measurement}).second) return;  // flagged once per measurement
  flags_.push_back(Flag{kind, measurement, value, threshold, above, epoch, std::move(advice)});
}

void Diagnostics::observe_losses(int64_t epoch, const std::map<std::string, double>& terms) {
  for (const auto& [term, value] : terms) {
    if (!std::isfinite(value)) {
      raise(FlagKind::kNonFinite, term, value, 0.0, false, epoch,
            "The loss diverged: lower lr (e.g. 10x), enable gradient clipping, and check the inputs for NaN/inf.");
      continue;
    }
    const auto [first_epoch, first_value] = first_loss_.emplace(term, std::make_pair(epoch, value)).first->second;
    const bool latent = term == options_.latent_term();
    const std::string fix =
        latent ? " Keep the reconstruction branch on (use_reconstruction true, lam well below 1): on Cora the "
                 "latent branch alone collapses this way and a slower EMA teacher (momentum 0.99 or 0.996) only "
                 "delays it, from epoch 19 to 39, probe 59-60% either way; with reconstruction no run collapsed "
                 "(docs/ablations.md). With an EMA momentum below 1 the teacher's target is close to the student's "
                 "own output."
               : " Raise mask_rate / remask_rate (or num_remasking) so reconstruction needs the graph, and check "
                 "that masked inputs are really replaced by the mask token (no leak of the target).";
    // A run resumed from a checkpoint is first seen mid-run: its first value here is not the run's first.
    const bool resumed = first_epoch >= options_.loss_early_epochs();
    const bool tiny_scale = first_value > 0.0 && first_value < options_.loss_floor();
    if (tiny_scale && !resumed) {
      // Small (but not zero) from the start: the target's scale (MSE on row-normalised bag-of-words features, entries
      // ~1/20), not a solved task. Only a fall relative to the first value (below) says collapse then.
      raise(FlagKind::kTinyLossScale, term, first_value, options_.loss_floor(), false, first_epoch,
            term +
                " is already ~0 at its first value, so its size says nothing about collapse: the targets are "
                "tiny (e.g. MSE on row-normalised features) and so are its gradients. Judge collapse by "
                "effective_rank / embedding_std and the probe; for a useful signal use loss_fn sce (scale-free) "
                "or standardised features.");
    }
    if (!resumed && epoch - first_epoch < options_.loss_early_epochs() && !(latent && options_.latent_target_fixed())) {
      if (!tiny_scale && value < options_.loss_floor()) {
        raise(FlagKind::kLossCollapse, term, value, options_.loss_floor(), false, epoch,
              term + " fell to ~0 within " + std::to_string(epoch - first_epoch + 1) + " epochs (first value " +
                  num(first_value) + "): the pretext task has become trivial." + fix);
      } else if (first_value > 0.0 && value < (1.0 - options_.loss_drop_fraction()) * first_value) {
        raise(FlagKind::kLossCollapse, term, value, (1.0 - options_.loss_drop_fraction()) * first_value, false, epoch,
              term + " lost more than " + num(100.0 * options_.loss_drop_fraction()) + "% of its first value " +
                  num(first_value) + " within " + std::to_string(epoch - first_epoch + 1) +
                  " epochs: the pretext task has become trivial." + fix);
      }
    }
    if (latent) {
      latent_ = std::make_pair(epoch, value);
      check_agreement(epoch);
    }
  }
}

void Diagnostics::observe_embeddings(int64_t epoch, const torch::Tensor& emb) {
  check_embedding(emb, 2, "Diagnostics::observe_embeddings");
  if (!torch::isfinite(emb.detach()).all().item<bool>()) {
    raise(FlagKind::kNonFinite, "embeddings", std::nan(""), 0.0, false, epoch,
          "The encoder output contains NaN/inf: lower lr, enable gradient clipping, check the inputs.");
    return;
  }
  const int64_t rows = std::min(emb.size(0), options_.sample_rows());
  const int64_t dim = emb.size(1);
  const double rank = effective_rank(emb, options_.sample_rows(), options_.seed());
  const double spread = per_dim_std(emb, options_.sample_rows(), options_.seed());
  const double cosine = mean_pairwise_cosine(emb, options_.sample_rows(), options_.seed());
  figures_["effective_rank"] = rank;
  figures_["embedding_std"] = spread;
  figures_["mean_cosine"] = cosine;
  if (epoch < options_.embedding_start_epoch()) return;

  const std::string fix = " " + options_.representation_advice();
  const double std_threshold = options_.std_factor() / std::sqrt(static_cast<double>(dim));
  if (spread < std_threshold) {
    raise(FlagKind::kRepresentationCollapse, "embedding_std", spread, std_threshold, false, epoch,
          "The normalised embeddings barely vary across nodes (spread-out ones give ~" +
              num(1.0 / std::sqrt(static_cast<double>(dim))) + ")." + fix);
  }
  // Capped at half the largest possible rank, so that very narrow embeddings (D = 2, 3) are never flagged by
  // the floor alone; embedding_std covers them.
  const double max_rank = static_cast<double>(std::min(rows, dim));
  const double rank_threshold =
      std::min(std::max(options_.rank_floor(), options_.rank_fraction() * max_rank), 0.5 * max_rank);
  if (rank < rank_threshold) {
    raise(FlagKind::kRepresentationCollapse, "effective_rank", rank, rank_threshold, false, epoch,
          "The embeddings of " + std::to_string(rows) + " sampled nodes span only ~" + num(rank) + " of " +
              num(max_rank) + " possible directions (dimensional collapse)." + fix);
  }
  if (cosine > options_.mean_cosine_max()) {
    raise(FlagKind::kRepresentationCollapse, "mean_cosine", cosine, options_.mean_cosine_max(), true, epoch,
          "All embeddings point the same way." + fix);
  }
}

void Diagnostics::observe_teacher(int64_t epoch, double distance) {
  figures_["teacher_distance"] = distance;
  if (!std::isfinite(distance)) {
    raise(FlagKind::kNonFinite, "teacher_distance", distance, 0.0, false, epoch,
          "The EMA teacher or the student holds NaN/inf weights: lower lr and enable gradient clipping.");
    return;
  }
  teacher_ = std::make_pair(epoch, distance);
  check_agreement(epoch);
}

void Diagnostics::check_agreement(int64_t epoch) {
  if (!latent_ || !teacher_ || latent_->first != epoch || teacher_->first != epoch) return;
  const double loss = latent_->second, distance = teacher_->second;
  // Like loss collapse, only an early agreement is a shortcut: with momentum 0 the teacher-student distance is the
  // last step, ~0 at the end of a cosine schedule that takes lr to ~0 (Cora's shipped config, whose latent term
  // is ~1e-6 from the start).
  const auto first = first_loss_.find(options_.latent_term());
  if (first == first_loss_.end() || first->second.first >= options_.loss_early_epochs() ||
      epoch - first->second.first >= options_.loss_early_epochs()) {
    return;
  }
  if (loss < options_.latent_floor() && distance < options_.teacher_distance_floor()) {
    raise(FlagKind::kTrivialAgreement, options_.latent_term(), loss, options_.latent_floor(), false, epoch,
          "The teacher equals the student (teacher_distance = " + num(distance) + " < " +
              num(options_.teacher_distance_floor()) +
              "), so the latent target is the prediction itself. Raise the EMA momentum (0.99-0.996) or delay "
              "the EMA so the teacher lags, and give the student the masked graph and the teacher the unmasked one.");
  }
}

void Diagnostics::observe_grads(int64_t epoch, int64_t step, const std::map<std::string, double>& norms) {
  if (!norms.empty()) {
    auto it = norms.find("total");
    double norm = 0.0;
    if (it != norms.end()) {
      norm = it->second;
    } else {
      for (const auto& kv : norms) norm = std::isfinite(norm) ? std::max(norm, kv.second) : norm;
    }
    figures_["grad_norm"] = norm;
  }
  for (const auto& e : grads_.observe(step, norms)) {
    const std::string what = "grad_norm[" + e.group + "]";
    const std::string at = " at step " + std::to_string(e.step);
    switch (e.kind) {
      case GradEvent::Kind::kExploding:
        raise(FlagKind::kExplodingGradients, what, e.value, e.threshold, true, epoch,
              "The gradient of " + e.group + at +
                  " is out of range: lower lr (e.g. 10x), enable gradient clipping (max norm 1-3), or add lr warm-up.");
        break;
      case GradEvent::Kind::kVanishing:
        raise(FlagKind::kVanishingGradients, what, e.value, e.threshold, false, epoch,
              "The gradient of " + e.group + " stayed below the threshold for " +
                  std::to_string(options_.grad().vanish_patience()) + " steps up to" + at +
                  ": that part has stopped learning. Raise lr, check that it is in the graph (not detached or "
                  "frozen by mistake) and that its activations are not dead; lower weight decay.");
        break;
      case GradEvent::Kind::kSpike:
        raise(FlagKind::kGradientSpike, what, e.value, e.threshold, true, epoch,
              "The gradient of " + e.group + at + " is " + num(e.value / e.median) + "x its running median " +
                  num(e.median) + ": enable gradient clipping, lower lr or lengthen the warm-up.");
        break;
    }
  }
}

std::map<std::string, double> Diagnostics::metrics() const {
  auto out = figures_;
  int64_t spikes = 0;
  for (const auto& kv : grads_.spike_counts()) spikes += kv.second;
  if (figures_.count("grad_norm")) out["grad_spikes"] = static_cast<double>(spikes);
  out["diag_flags"] = static_cast<double>(flags_.size());
  return out;
}

std::vector<Flag> Diagnostics::take_new_flags() {
  std::vector<Flag> out(flags_.begin() + static_cast<std::ptrdiff_t>(taken_), flags_.end());
  taken_ = flags_.size();
  return out;
}

bool Diagnostics::has_collapse() const {
  return std::any_of(flags_.begin(), flags_.end(), [](const Flag& f) { return is_collapse(f.kind); });
}

}  // namespace graphmae2::models::engine
