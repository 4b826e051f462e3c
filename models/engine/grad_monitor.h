#pragma once
// Per-group gradient norms with spike, exploding and vanishing detection, shared by every trainer.

#include <torch/torch.h>

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace graphmae2::models::engine {

/// @brief Thresholds of GradMonitor. Defaults suit Adam-trained GNNs and ViTs whose healthy norms lie in 1e-3..1e2.
struct GradMonitorOptions {
  /// Number of past norms per group whose median is the reference for spikes.
  TORCH_ARG(int64_t, window) = 100;
  /// A norm above spike_factor x the running median is a spike (10x: an order of magnitude, far above the
  /// step-to-step jitter of Adam training, which stays within ~2-3x of the median).
  TORCH_ARG(double, spike_factor) = 10.0;
  /// No spike is flagged until this many norms were seen: the median of a handful of early steps is noise.
  TORCH_ARG(int64_t, min_history) = 10;
  /// A norm above this for explode_patience consecutive steps is exploding (NaN/inf: at once). Clipping
  /// thresholds in use are 1-5 (the GraphMAE2 large-graph path clips at 3), so 1e3 means an update hundreds of
  /// times larger than anything the recipes allow.
  TORCH_ARG(double, explode_threshold) = 1e3;
  /// Runaway training stays above the threshold; a single huge first step does not. Normalised losses (SCE)
  /// have gradients ~1/||x||, so the first step from an initialisation with near-zero rows can be huge (Cora
  /// GraphMAE2: 1.6e11 at step 0, 5.4 at step 1); Adam rescales it. Isolated later outliers are spikes.
  TORCH_ARG(int64_t, explode_patience) = 3;
  /// A norm below this for vanish_patience consecutive steps is vanishing: float32 updates from such gradients
  /// are below the rounding of the weights, so the group has stopped learning.
  TORCH_ARG(double, vanish_threshold) = 1e-8;
  TORCH_ARG(int64_t, vanish_patience) = 10;
  /// At most this many events are stored (counts go on); bounds memory on long unstable runs.
  TORCH_ARG(int64_t, max_events) = 10000;
};

/// @brief One detected anomaly of one group at one step.
struct GradEvent {
  enum class Kind { kSpike, kExploding, kVanishing };
  Kind kind = Kind::kSpike;
  int64_t step = 0;
  std::string group;
  double value = 0.0;      ///< the norm that triggered the event
  double median = 0.0;     ///< running median of the group before this step (NaN when no history yet)
  double threshold = 0.0;  ///< what was crossed: spike_factor x median, explode_threshold or vanish_threshold
};

/// "spike", "exploding" or "vanishing".
const char* to_string(GradEvent::Kind kind);

/// @brief A named set of parameters whose gradients are measured together (e.g. "patch_embed", "block_last").
struct GradGroup {
  GradGroup(std::string name, std::vector<torch::Tensor> params);
  /// All parameters of `module`, recursively.
  GradGroup(std::string name, const torch::nn::Module& module);
  std::string name;
  std::vector<torch::Tensor> params;
};

/// @brief Measures the L2 gradient norm of each group after backward and flags spikes, explosions and vanishing.
///
/// Usage: loss.backward(); auto norms = monitor.record(step); optimizer.step();
/// Norms of precomputed values (from another process, or synthetic in tests) go through observe().
class GradMonitor {
 public:
  /// groups may be empty (then only observe() is useful). Names must be unique and not "total".
  explicit GradMonitor(std::vector<GradGroup> groups, GradMonitorOptions options = {});

  /// Reads .grad() of every group's parameters: returns {group: L2 norm over the group's gradients} plus
  /// "total" (over the union of all groups, each parameter counted once), and runs detection on them.
  /// Parameters without a gradient count as zero; a group where none has one reports 0 and is not checked
  /// (frozen is not vanishing). One device-to-host copy per call.
  std::map<std::string, double> record(int64_t step);

  /// Runs detection on given norms (any names; "total" is treated like a group). Returns the events it raised.
  std::vector<GradEvent> observe(int64_t step, const std::map<std::string, double>& norms);

  /// Spike events so far, oldest first.
  std::vector<GradEvent> spikes() const;
  /// All events so far (spikes, exploding, vanishing), oldest first, at most max_events.
  const std::vector<GradEvent>& events() const { return events_; }
  /// Number of spikes per group (groups with none are absent).
  const std::map<std::string, int64_t>& spike_counts() const { return spike_counts_; }
  int64_t spike_count(const std::string& group) const;
  /// Running median of a group's last `window` finite norms; NaN if the group has none.
  double median(const std::string& group) const;

  const std::vector<GradGroup>& groups() const { return groups_; }
  const GradMonitorOptions& options() const { return options_; }

 private:
  struct Track {
    std::deque<double> window;
    int64_t small_run = 0;  // consecutive steps below vanish_threshold
    int64_t big_run = 0;    // consecutive steps above explode_threshold
    int64_t seen = 0;
  };
  void push_event(GradEvent event);

  std::vector<GradGroup> groups_;
  GradMonitorOptions options_;
  std::map<std::string, Track> tracks_;
  std::vector<GradEvent> events_;
  std::map<std::string, int64_t> spike_counts_;
};

}  // namespace graphmae2::models::engine
