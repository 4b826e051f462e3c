#include "models/engine/grad_monitor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>

namespace graphmae2::models::engine {

const char* to_string(GradEvent::Kind kind) {
  switch (kind) {
    case GradEvent::Kind::kSpike:
      return "spike";
    case GradEvent::Kind::kExploding:
      return "exploding";
    case GradEvent::Kind::kVanishing:
      return "vanishing";
  }
  return "unknown";
}

GradGroup::GradGroup(std::string name_, std::vector<torch::Tensor> params_)
    : name(std::move(name_)), params(std::move(params_)) {
  for (size_t i = 0; i < params.size(); ++i) {
    TORCH_CHECK(params[i].defined(), "GradGroup '", name, "': parameter ", i, " is undefined");
  }
}

GradGroup::GradGroup(std::string name_, const torch::nn::Module& module)
    : GradGroup(std::move(name_), module.parameters(/*recurse=*/true)) {}

GradMonitor::GradMonitor(std::vector<GradGroup> groups, GradMonitorOptions options)
    : groups_(std::move(groups)), options_(options) {
  TORCH_CHECK(options_.window() >= 1, "GradMonitor: window must be >= 1, got ", options_.window());
  TORCH_CHECK(options_.spike_factor() > 1.0, "GradMonitor: spike_factor must be > 1, got ", options_.spike_factor());
  TORCH_CHECK(options_.min_history() >= 1 && options_.min_history() <= options_.window(),
              "GradMonitor: min_history must be in [1, window=", options_.window(), "], got ", options_.min_history());
  TORCH_CHECK(options_.explode_threshold() > 0.0, "GradMonitor: explode_threshold must be > 0, got ",
              options_.explode_threshold());
  TORCH_CHECK(options_.explode_patience() >= 1, "GradMonitor: explode_patience must be >= 1, got ",
              options_.explode_patience());
  TORCH_CHECK(options_.vanish_threshold() >= 0.0, "GradMonitor: vanish_threshold must be >= 0, got ",
              options_.vanish_threshold());
  TORCH_CHECK(options_.vanish_patience() >= 1, "GradMonitor: vanish_patience must be >= 1, got ",
              options_.vanish_patience());
  TORCH_CHECK(options_.max_events() >= 0, "GradMonitor: max_events must be >= 0, got ", options_.max_events());
  std::set<std::string> names;
  for (const auto& g : groups_) {
    TORCH_CHECK(!g.name.empty(), "GradMonitor: a group has an empty name");
    TORCH_CHECK(g.name != "total", "GradMonitor: 'total' is reserved for the norm over all groups");
    TORCH_CHECK(names.insert(g.name).second, "GradMonitor: group name '", g.name, "' is used twice");
  }
}

std::map<std::string, double> GradMonitor::record(int64_t step) {
  torch::NoGradGuard no_grad;
  // One norm per distinct parameter with a gradient; groups may share parameters.
  std::unordered_map<const void*, size_t> slot;
  std::vector<torch::Tensor> norms;
  std::vector<std::vector<size_t>> members(groups_.size());
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    for (const auto& p : groups_[gi].params) {
      const auto& g = p.grad();
      if (!g.defined()) continue;
      const void* key = p.unsafeGetTensorImpl();
      auto it = slot.find(key);
      if (it == slot.end()) {
        const auto dense = g.is_sparse() ? g.coalesce().values() : g;
        it = slot.emplace(key, norms.size()).first;
        norms.push_back(dense.detach().norm().to(torch::kDouble).reshape({1}));
      }
      members[gi].push_back(it->second);
    }
  }
  std::vector<double> host(norms.size());
  if (!norms.empty()) {
    const auto device = norms.front().device();
    const bool same_device =
        std::all_of(norms.begin(), norms.end(), [&](const torch::Tensor& t) { return t.device() == device; });
    torch::Tensor all;
    if (same_device) {
      all = torch::cat(norms).cpu();  // the only sync of this call
    } else {
      std::vector<torch::Tensor> cpu;
      for (const auto& t : norms) cpu.push_back(t.cpu());
      all = torch::cat(cpu);
    }
    const auto acc = all.accessor<double, 1>();
    for (size_t i = 0; i < host.size(); ++i) host[i] = acc[i];
  }

  std::map<std::string, double> result;
  std::map<std::string, double> checked;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    double sq = 0.0;
    for (size_t i : members[gi]) sq += host[i] * host[i];
    const double norm = std::sqrt(sq);
    result[groups_[gi].name] = norm;
    if (!members[gi].empty()) checked[groups_[gi].name] = norm;
  }
  double total_sq = 0.0;
  for (double v : host) total_sq += v * v;
  result["total"] = std::sqrt(total_sq);
  if (!host.empty()) checked["total"] = result["total"];
  observe(step, checked);
  return result;
}

std::vector<GradEvent> GradMonitor::observe(int64_t step, const std::map<std::string, double>& norms) {
  std::vector<GradEvent> raised;
  auto raise = [&](GradEvent::Kind kind, const std::string& group, double value, double median, double threshold) {
    GradEvent e{kind, step, group, value, median, threshold};
    if (kind == GradEvent::Kind::kSpike) ++spike_counts_[group];
    raised.push_back(e);
    push_event(std::move(e));
  };
  for (const auto& [group, value] : norms) {
    Track& track = tracks_[group];
    const double med = median(group);
    ++track.seen;
    if (!std::isfinite(value)) {
      // Not pushed into the window: one NaN would poison every later median.
      raise(GradEvent::Kind::kExploding, group, value, med, options_.explode_threshold());
      track.small_run = 0;
      continue;
    }
    TORCH_CHECK(value >= 0.0, "GradMonitor: norm of group '", group, "' at step ", step, " is negative: ", value);
    if (value > options_.explode_threshold()) {
      // Raised when the run reaches the patience; a run that goes on raises again every `patience` steps.
      if (++track.big_run % options_.explode_patience() == 0) {
        raise(GradEvent::Kind::kExploding, group, value, med, options_.explode_threshold());
      }
    } else {
      track.big_run = 0;
    }
    if (static_cast<int64_t>(track.window.size()) >= options_.min_history() && med > 0.0 &&
        value > options_.spike_factor() * med) {
      raise(GradEvent::Kind::kSpike, group, value, med, options_.spike_factor() * med);
    }
    if (value < options_.vanish_threshold()) {
      // Raised once when the run reaches the patience, not on every later step of the same run.
      if (++track.small_run == options_.vanish_patience()) {
        raise(GradEvent::Kind::kVanishing, group, value, med, options_.vanish_threshold());
      }
    } else {
      track.small_run = 0;
    }
    track.window.push_back(value);
    if (static_cast<int64_t>(track.window.size()) > options_.window()) track.window.pop_front();
  }
  return raised;
}

void GradMonitor::push_event(GradEvent event) {
  if (static_cast<int64_t>(events_.size()) < options_.max_events()) events_.push_back(std::move(event));
}

std::vector<GradEvent> GradMonitor::spikes() const {
  std::vector<GradEvent> out;
  for (const auto& e : events_) {
    if (e.kind == GradEvent::Kind::kSpike) out.push_back(e);
  }
  return out;
}

int64_t GradMonitor::spike_count(const std::string& group) const {
  auto it = spike_counts_.find(group);
  return it == spike_counts_.end() ? 0 : it->second;
}

double GradMonitor::median(const std::string& group) const {
  auto it = tracks_.find(group);
  if (it == tracks_.end() || it->second.window.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> v(it->second.window.begin(), it->second.window.end());
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + mid, v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double upper = v[mid];
  const double lower = *std::max_element(v.begin(), v.begin() + mid);
  return 0.5 * (lower + upper);
}

}  // namespace graphmae2::models::engine
