#pragma once
// The on_collapse retry policy: a seed whose diagnostics flag a representation collapse is stopped at that
// epoch, its folder kept as seed<k>-collapsed (with collapse.json), and trained again from the start with the
// remedy docs/diagnostics.md measured best (GraphMAE2Config::with_collapse_remedy), once.

#include "datasets/dataset.h"
#include "models/graphmae2/config.h"
#include "models/graphmae2/results.h"

#include <filesystem>
#include <string>

namespace graphmae2::models::graphmae2 {

/// What the representation-collapse flags advise (docs/diagnostics.md has the measurements behind it).
extern const char* const kRepresentationCollapseAdvice;

/// Thrown by a seed's first attempt at its collapse flag when on_collapse is retry; carries what it measured.
struct CollapseRetry {
  CollapsedAttempt attempt;
};

/// "input_skip=true feature_norm=standard self_reconstruction=1": the remedy keys whose values `remedied`
/// changed from `cfg`'s.
std::string remedy_text(const GraphMAE2Config& cfg, const GraphMAE2Config& remedied);

/// Returns: true when the features cannot be normalised another way by a retry (a cache written normalised, or
/// features read from disk as the tool opened them).
bool features_fixed(const datasets::NodeDataset& data, bool features_on_disk);

/// OUT/seed<k>-collapsed: where a stopped first attempt of `seed` is kept.
std::filesystem::path collapsed_dir(const std::filesystem::path& out_dir, int64_t seed);

/// Keeps the stopped attempt: writes its record (collapse.json) into `seed_dir`, then renames the folder to
/// `attempt.dir`, so that a folder named -collapsed always holds a record.
void keep_collapsed_attempt(const std::filesystem::path& seed_dir, const CollapsedAttempt& attempt);

/// The record a kept attempt left in `dir` (read back by --resume). Throws std::runtime_error naming the file.
CollapsedAttempt read_collapsed_attempt(const std::filesystem::path& dir);

}  // namespace graphmae2::models::graphmae2
