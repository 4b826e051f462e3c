#include "models/graphmae2/results.h"

#include "models/engine/metrics_log.h"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace graphmae2::models::graphmae2 {

std::pair<double, double> mean_std(const std::vector<double>& values) {
  if (values.empty()) return {0.0, 0.0};
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  return {mean, std::sqrt(var / static_cast<double>(values.size()))};
}

void ProbeSummary::summarise(const std::vector<eval::ProbeResult>& probes) {
  std::vector<double> best, last;
  for (const auto& p : probes) {
    best.push_back(100.0 * p.test_acc);
    last.push_back(100.0 * p.final_test_acc);
  }
  std::tie(mean, std) = mean_std(best);
  std::tie(final_mean, final_std) = mean_std(last);
  num_seeds = static_cast<int64_t>(probes.size());
}

std::string ProbeSummary::line() const {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << dataset << "  " << protocol << " " << mean << " ± " << std << " ("
     << num_seeds << (num_seeds == 1 ? " seed)" : " seeds)");
  return os.str();
}

std::string ProbeSummary::last_epoch_line() const {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << dataset << "  " << protocol << " (last epoch) " << final_mean << " ± "
     << final_std;
  return os.str();
}

std::string probe_line(int64_t seed, const eval::ProbeResult& probe) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << "seed " << seed << ": test " << 100.0 * probe.test_acc << " (best val "
     << 100.0 * probe.best_val_acc << " at probe epoch " << probe.best_epoch << "), last-epoch test "
     << 100.0 * probe.final_test_acc;
  return os.str();
}

namespace {

// " (effective_rank 1.0, mean_cosine 0.9994)" from a stopped attempt's figures ("" when it has neither).
std::string collapse_figures(const CollapsedAttempt& a) {
  std::string figures;
  for (const char* key : {"effective_rank", "mean_cosine"}) {
    const auto it = a.figures.find(key);
    if (it == a.figures.end()) continue;
    std::ostringstream v;
    v << std::setprecision(4) << std::defaultfloat << it->second;
    figures += (figures.empty() ? "" : ", ") + std::string(key) + " " + v.str();
  }
  return figures.empty() ? "" : " (" + figures + ")";
}

engine::Json attempt_json(const CollapsedAttempt& a) {
  return engine::Json{{"epoch", a.epoch},
                      {"figures", a.figures},
                      {"warnings", a.warnings},
                      {"dir", a.dir.string()},
                      {"remedy", a.remedy}};
}

}  // namespace

std::string ExperimentResult::summary_line() const {
  std::ostringstream os;
  os << line();
  for (const auto& s : seeds) {
    if (!s.collapsed_attempt) continue;
    const auto& a = *s.collapsed_attempt;
    os << "; seed " << s.seed << " retried with " << a.remedy << " after a collapse at epoch " << a.epoch
       << collapse_figures(a);
  }
  return os.str();
}

std::string ExperimentResult::to_json() const {
  engine::Json j{{"dataset", dataset}, {"protocol", protocol},     {"mean", mean},
                 {"std", std},         {"final_mean", final_mean}, {"final_std", final_std}};
  j["world_size"] = world_size;
  j["backend"] = backend;
  for (const char* list : {"seeds", "accuracies", "final_accuracies", "train_seconds", "warnings", "retries"}) {
    j[list] = engine::Json::array();
  }
  for (const auto& s : seeds) {
    j["seeds"].push_back(s.seed);
    j["accuracies"].push_back(100.0 * s.probe.test_acc);
    j["final_accuracies"].push_back(100.0 * s.probe.final_test_acc);
    j["train_seconds"].push_back(s.train_seconds);
    for (const auto& w : s.warnings) j["warnings"].push_back(w);
  }
  // on_collapse retry: per retried seed, the stopped attempt beside the retry's accuracy in "accuracies".
  for (const auto& s : seeds) {
    if (!s.collapsed_attempt) continue;
    auto a = attempt_json(*s.collapsed_attempt);
    a["seed"] = s.seed;
    a["retry_accuracy"] = 100.0 * s.probe.test_acc;
    j["retries"].push_back(a);
  }
  return j.dump(2) + "\n";
}

}  // namespace graphmae2::models::graphmae2
