#pragma once
// Node-classification accuracy of a pre-trained GraphMAE2, from its checkpoint or from saved embeddings, over
// several probe seeds (what graphmae2-eval runs).

#include "models/engine/log.h"
#include "models/graphmae2/results.h"

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace graphmae2::models::graphmae2 {

struct EvaluationOptions {
  std::string dataset;  ///< the dataset the checkpoint or embeddings must be of
  std::filesystem::path data_root;
  std::string split;                 ///< an OGB split folder, or empty
  std::filesystem::path checkpoint;  ///< a graphmae2-train checkpoint (OUT/seed<k>/checkpoint.pt), or
  std::filesystem::path embeddings;  ///< an .h5 with "embeddings" (and "node_ids"): exactly one of the two
  std::optional<bool> linear;        ///< linear probe (true) or fine-tune (false); unset: the run's own
  /// Probe keys (lr_f, weight_decay_f, max_epoch_f) over the run's stored config.
  std::vector<std::pair<std::string, std::string>> overrides;
  std::vector<int64_t> seeds{0};
  bool progress = true;  ///< a progress bar over seeds x probe epochs, on stderr
  engine::LogSink log;
};

/// @brief Each probe seed's result and their summary.
struct Evaluation : ProbeSummary {
  std::vector<int64_t> seeds;
  std::vector<eval::ProbeResult> probes;  ///< one per seed, in order
};

/// Probes as the run did: a checkpoint is embedded the way its run embeds (whole graph, layer-wise, or each seed
/// in its LC ego-graph, read from the run's folder or lc_file, computed and cached there when missing); saved
/// embeddings get a linear probe on the rows of their node_ids. The probe settings are those of the run's stored
/// config, then `overrides`. Throws std::invalid_argument for a checkpoint or embeddings of another dataset, or a
/// fine-tune asked of embeddings.
Evaluation evaluate_pretrained(const EvaluationOptions& options);

}  // namespace graphmae2::models::graphmae2
