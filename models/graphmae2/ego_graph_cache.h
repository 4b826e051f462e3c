#pragma once
// The lc sampler's ego-graphs: read from a file when one exists for this graph and ego size, else computed
// once (with a progress bar) and cached, so later runs and graphmae2-eval read them back.

#include "datasets/dataset.h"
#include "graph/sampling/local_clustering.h"
#include "models/engine/log.h"
#include "models/graphmae2/config.h"

#include <filesystem>

namespace graphmae2::models::graphmae2 {

/// The pre-training seeds of the lc sampler, as the reference: train, valid, then test nodes.
torch::Tensor split_seeds(const datasets::NodeDataset& data);

/// The ego-graphs of an lc run of `cfg`: read from cfg.lc_file (or OUT/lc-ego<size>.h5) when it exists, checked
/// against this graph and ego size; computed on the bidirected graph with self-loops (`prepared` when
/// cfg.symmetrize, so a large graph is not copied) and cached there when it does not. Throws
/// std::runtime_error for a file of another graph or ego size.
graph::sampling::EgoGraphs lc_ego_graphs(const GraphMAE2Config& cfg, const datasets::NodeDataset& data,
                                         const graph::CsrGraph& prepared, const std::filesystem::path& out_dir,
                                         bool progress, const engine::LogSink& log);

}  // namespace graphmae2::models::graphmae2
