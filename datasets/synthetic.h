#pragma once
// Seeded contextual stochastic block model: labelled graphs of any size for tests and benchmarks.

#include "datasets/dataset.h"

#include <cstdint>
#include <string>

namespace graphmae2::datasets {

/// @brief Parameters of the contextual SBM (defaults give a small, fast graph).
struct SyntheticOptions {
  int64_t num_nodes = 1000;
  double avg_degree = 10;  ///< mean in-degree of the symmetric graph (before the rare duplicate is dropped)
  int64_t num_classes = 5;
  int64_t feature_dim = 32;
  double homophily = 0.8;  ///< probability that an edge joins two nodes of the same class
  uint64_t seed = 0;
  double feature_noise = 1.0;  ///< std of the Gaussian noise around each class mean (means are N(0, 1))
  double train_fraction = 0.1;
  double val_fraction = 0.1;  ///< the rest is test
  /// Degree-corrected (Chung-Lu) degrees: 0 = every node the same expected degree (the plain SBM); > 2 = a
  /// power-law degree distribution with this exponent (real graphs: 2-3), node v's expected degree proportional
  /// to (v + v0)^(-1 / (powerlaw - 1)), low ids the hubs.
  double powerlaw = 0;
  /// With powerlaw: the largest expected degree (v0 is chosen to give it); 0 = sqrt(nodes * degree), the
  /// largest a Chung-Lu graph holds without saturating.
  double max_degree = 0;
  /// 0: Gaussian features (class mean + noise). > 0: binary bag-of-words features (a sparse 0/1 matrix, as
  /// Planetoid's or a social graph's text features): each node draws this many words with replacement (the
  /// distinct ones are its non-zeros), each from its class's topic (a block of dim / classes words of its own)
  /// with probability `informative`, else uniformly from the whole vocabulary. `noise` is then unused.
  int64_t words = 0;
  double informative = 0.5;
};

/// Generates the dataset in O(N * dim + E log(E / N)): balanced random classes; avg_degree * N / 2 undirected
/// edges, each from a node to a node of its own class (prob. homophily) or of another class, both drawn uniformly
/// (or, with powerlaw, in proportion to their Chung-Lu weights, so hubs arise as in real graphs);
/// symmetrised, self-loops and duplicates dropped; features = class mean + noise (or, with `words`, binary
/// bag-of-words rows); random split masks.
/// Deterministic for a seed, whatever the thread count. Throws std::invalid_argument on bad options.
NodeDataset make_synthetic(const SyntheticOptions& opts);

/// Parses "synthetic:nodes=N,degree=D,classes=C,dim=F,homophily=H,seed=S[,noise=X,train=T,val=V,powerlaw=G,
/// maxdegree=M,words=W,informative=I]"
/// (any subset of keys, defaults as SyntheticOptions). Throws std::invalid_argument naming a bad key or value.
SyntheticOptions parse_synthetic_spec(const std::string& spec);
/// Returns: the canonical spec of `opts` (what parse_synthetic_spec reads back to the same options).
std::string synthetic_spec(const SyntheticOptions& opts);

}  // namespace graphmae2::datasets
