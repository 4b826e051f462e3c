#include "models/graphmae2/collapse_retry.h"

#include "models/engine/metrics_log.h"
#include "util/atomic_file.h"

#include <algorithm>
#include <fstream>

namespace graphmae2::models::graphmae2 {

namespace {

constexpr const char* kCollapseRecord = "collapse.json";

}  // namespace

const char* const kRepresentationCollapseAdvice =
    "On a graph that collapses like this (docs/diagnostics.md), raising mask_rate, the remask rate or the EMA "
    "momentum, or lowering lr, left the probe at chance. What gets it out is each node keeping and reconstructing "
    "its own centred features: input_skip true + feature_norm standard + self_reconstruction 1 "
    "(--on-collapse retry trains the seed again with it). Also check that the encoder output is not constant "
    "(dead activations, zero weights, a detached input).";

std::string remedy_text(const GraphMAE2Config& cfg, const GraphMAE2Config& remedied) {
  std::string out;
  const auto changed = cfg.differing_keys(remedied, {});
  for (const auto& [key, value] : GraphMAE2Config::collapse_remedy()) {
    if (std::find(changed.begin(), changed.end(), key) != changed.end()) {
      out += (out.empty() ? "" : " ") + key + "=" + value;
    }
  }
  return out.empty() ? "the same keys (the remedy's values were already set)" : out;
}

bool features_fixed(const datasets::NodeDataset& data, bool features_on_disk) {
  return !data.feature_normalization.empty() || features_on_disk;
}

std::filesystem::path collapsed_dir(const std::filesystem::path& out_dir, int64_t seed) {
  return out_dir / ("seed" + std::to_string(seed) + "-collapsed");
}

void keep_collapsed_attempt(const std::filesystem::path& seed_dir, const CollapsedAttempt& attempt) {
  const engine::Json record{{"epoch", attempt.epoch},
                            {"figures", attempt.figures},
                            {"warnings", attempt.warnings},
                            {"dir", attempt.dir.string()},
                            {"remedy", attempt.remedy}};
  util::atomic_write_text(seed_dir / kCollapseRecord, record.dump(2) + "\n");
  std::filesystem::remove_all(attempt.dir);
  std::filesystem::rename(seed_dir, attempt.dir);
}

CollapsedAttempt read_collapsed_attempt(const std::filesystem::path& dir) {
  const auto file = dir / kCollapseRecord;
  std::ifstream in(file);
  if (!in) {
    throw std::runtime_error("--resume: " + dir.string() + " holds a stopped attempt but no readable " +
                             kCollapseRecord);
  }
  CollapsedAttempt a;
  try {
    const auto j = engine::Json::parse(in);
    a.epoch = j.at("epoch").get<int64_t>();
    a.figures = j.at("figures").get<std::map<std::string, double>>();
    a.warnings = j.at("warnings").get<std::vector<std::string>>();
    a.remedy = j.at("remedy").get<std::string>();
  } catch (const std::exception& e) {
    throw std::runtime_error("--resume: " + file.string() + " is not a collapse record: " + e.what());
  }
  a.dir = dir;
  return a;
}

}  // namespace graphmae2::models::graphmae2
