#include "datasets/synthetic.h"

#include "datasets/edge_list.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace graphmae2::datasets {
namespace {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// One independent stream per (seed, purpose, block): results do not depend on how blocks meet threads.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t purpose, uint64_t block) {
    uint64_t s = seed;
    s = splitmix(s) ^ (purpose * 0xD1B54A32D192ED03ULL);
    s = splitmix(s) ^ (block * 0x8CB92BA72F3D8DD7ULL);
    state_ = splitmix(s);
  }
  uint64_t next() { return splitmix(state_); }
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  float normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(2 * M_PI * u2));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(2 * M_PI * u2));
  }

 private:
  uint64_t state_;
  float spare_ = 0;
  bool has_spare_ = false;
};

enum Purpose : uint64_t { kLabels = 1, kEdges, kMeans, kFeatures, kSplit };

template <class T>
void shuffle(std::vector<T>& v, Rng& r) {
  for (size_t k = v.size(); k > 1; --k) std::swap(v[k - 1], v[r.below(k)]);
}

template <class T>
T number(const std::string& key, const std::string& text) {
  T v{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    throw std::invalid_argument("synthetic spec: " + key + "=" + text + " is not a valid number");
  }
  return v;
}

template <class T>
std::string text(T v) {
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest form that reads back the same
  return std::string(buf, ptr);
}

void check(const SyntheticOptions& o) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("synthetic dataset: " + what); };
  if (o.num_nodes < 1) bad("nodes must be >= 1, got " + std::to_string(o.num_nodes));
  if (o.num_classes < 1 || o.num_classes > o.num_nodes) {
    bad("classes must be in [1, nodes], got " + std::to_string(o.num_classes));
  }
  if (o.feature_dim < 1) bad("dim must be >= 1, got " + std::to_string(o.feature_dim));
  if (!(o.avg_degree >= 0) || o.avg_degree * static_cast<double>(o.num_nodes) > 4e10) {
    bad("degree must be >= 0 with degree * nodes <= 4e10, got " + text(o.avg_degree));
  }
  if (!(o.homophily >= 0 && o.homophily <= 1)) bad("homophily must be in [0, 1], got " + text(o.homophily));
  if (!(o.feature_noise >= 0) || !std::isfinite(o.feature_noise))
    bad("noise must be >= 0, got " + text(o.feature_noise));
  if (!(o.powerlaw == 0 || (o.powerlaw > 2 && std::isfinite(o.powerlaw)))) {
    bad("powerlaw must be 0 (off) or an exponent > 2, got " + text(o.powerlaw));
  }
  if (!(o.max_degree >= 0) || !std::isfinite(o.max_degree)) bad("maxdegree must be >= 0, got " + text(o.max_degree));
  if (o.words < 0 || o.words > o.feature_dim) bad("words must be in [0, dim], got " + std::to_string(o.words));
  if (o.words > 0 && o.feature_dim < o.num_classes) bad("words needs dim >= classes (one topic block per class)");
  if (!(o.informative >= 0 && o.informative <= 1)) bad("informative must be in [0, 1], got " + text(o.informative));
  if (!(o.train_fraction >= 0 && o.val_fraction >= 0 && o.train_fraction + o.val_fraction <= 1)) {
    bad("train and val fractions must be >= 0 and sum to <= 1");
  }
}

/// Chung-Lu weights (v + v0)^(-1 / (gamma - 1)), v0 chosen by bisection so the largest expected degree,
/// degree * n * w_0 / sum(w), is the target (a larger v0 flattens the head of the distribution).
std::vector<double> powerlaw_weights(const SyntheticOptions& o) {
  const int64_t n = o.num_nodes;
  const double exponent = -1.0 / (o.powerlaw - 1.0);
  const double target = o.max_degree > 0 ? o.max_degree : std::sqrt(static_cast<double>(n) * o.avg_degree);
  std::vector<double> w(static_cast<size_t>(n));
  const auto fill = [&](double v0) {
    double total = 0;
    for (int64_t v = 0; v < n; ++v) total += (w[v] = std::pow(static_cast<double>(v) + v0, exponent));
    return o.avg_degree * static_cast<double>(n) * w[0] / total;
  };
  double lo = 1.0, hi = static_cast<double>(n) + 1.0;
  if (fill(lo) > target) {
    for (int it = 0; it < 60; ++it) {
      const double mid = std::sqrt(lo * hi);
      (fill(mid) > target ? lo : hi) = mid;
    }
    fill(hi);
  }
  return w;
}

/// Draws from a cumulative weight array by binary search.
int64_t draw(const double* cumulative, int64_t count, Rng& r) {
  const double u = r.uniform() * cumulative[count - 1];
  const auto it = std::upper_bound(cumulative, cumulative + count, u);
  return std::min<int64_t>(it - cumulative, count - 1);
}

// Balanced classes in random order, and each class's members (offset[k] .. offset[k + 1] in `members`).
struct Classes {
  std::vector<int64_t> label, offset, members;
};

Classes balanced_classes(const SyntheticOptions& o) {
  const int64_t n = o.num_nodes, c = o.num_classes;
  Classes k;
  k.label.resize(static_cast<size_t>(n));
  for (int64_t v = 0; v < n; ++v) k.label[v] = v % c;
  {
    Rng r(o.seed, kLabels, 0);
    shuffle(k.label, r);
  }
  k.offset.assign(static_cast<size_t>(c) + 1, 0);
  k.members.resize(static_cast<size_t>(n));
  for (int64_t v = 0; v < n; ++v) ++k.offset[k.label[v] + 1];
  std::partial_sum(k.offset.begin(), k.offset.end(), k.offset.begin());
  std::vector<int64_t> fill(k.offset.begin(), k.offset.end() - 1);
  for (int64_t v = 0; v < n; ++v) k.members[fill[k.label[v]]++] = v;
  return k;
}

// Degree-corrected draws: cumulative weights over all nodes and over each class's members (empty: uniform).
struct DegreeCdfs {
  std::vector<double> all, per_class;
};

DegreeCdfs degree_cdfs(const SyntheticOptions& o, const Classes& k) {
  DegreeCdfs cdf;
  if (o.powerlaw <= 0) return cdf;
  const int64_t n = o.num_nodes;
  const auto w = powerlaw_weights(o);
  cdf.all.resize(static_cast<size_t>(n));
  std::partial_sum(w.begin(), w.end(), cdf.all.begin());
  cdf.per_class.resize(static_cast<size_t>(n));
  for (int64_t c = 0; c < o.num_classes; ++c) {
    double run = 0;
    for (int64_t i = k.offset[c]; i < k.offset[c + 1]; ++i) cdf.per_class[i] = (run += w[k.members[i]]);
  }
  return cdf;
}

// Edges in fixed-size blocks, one random stream per block: a source, then a target of its class with
// probability `homophily`, else of another class.
void draw_edges(const SyntheticOptions& o, const Classes& k, const DegreeCdfs& cdf, std::vector<int64_t>& src,
                std::vector<int64_t>& dst) {
  const int64_t n = o.num_nodes, c = o.num_classes;
  const bool degree_corrected = o.powerlaw > 0;
  const auto m = static_cast<int64_t>(std::llround(o.avg_degree * static_cast<double>(n) / 2));
  src.resize(static_cast<size_t>(m));
  dst.resize(static_cast<size_t>(m));
  constexpr int64_t kEdgeBlock = 1 << 16;
  at::parallel_for(0, (m + kEdgeBlock - 1) / kEdgeBlock, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      Rng r(o.seed, kEdges, static_cast<uint64_t>(b));
      for (int64_t e = b * kEdgeBlock; e < std::min(m, (b + 1) * kEdgeBlock); ++e) {
        const int64_t u =
            degree_corrected ? draw(cdf.all.data(), n, r) : static_cast<int64_t>(r.below(static_cast<uint64_t>(n)));
        const int64_t cu = k.label[u];
        const bool same = c == 1 || r.uniform() < o.homophily;
        const int64_t cv = same ? cu : (cu + 1 + static_cast<int64_t>(r.below(static_cast<uint64_t>(c - 1)))) % c;
        const int64_t size = k.offset[cv + 1] - k.offset[cv];
        src[e] = u;
        dst[e] =
            k.members[k.offset[cv] + (degree_corrected ? draw(cdf.per_class.data() + k.offset[cv], size, r)
                                                       : static_cast<int64_t>(r.below(static_cast<uint64_t>(size))))];
      }
    }
  });
}

// Features: class mean (N(0, 1) per entry) plus Gaussian noise, or `words` bag-of-words entries, rows in fixed
// blocks with one random stream each.
torch::Tensor draw_features(const SyntheticOptions& o, const std::vector<int64_t>& label) {
  const int64_t n = o.num_nodes, c = o.num_classes, d = o.feature_dim;
  std::vector<float> means(static_cast<size_t>(c * d));
  {
    Rng r(o.seed, kMeans, 0);
    for (auto& x : means) x = r.normal();
  }
  auto features = o.words > 0 ? torch::zeros({n, d}, torch::kFloat32) : torch::empty({n, d}, torch::kFloat32);
  float* f = features.data_ptr<float>();
  constexpr int64_t kRowBlock = 1024;
  const auto noise = static_cast<float>(o.feature_noise);
  const int64_t topic = d / c;  // class k's topic: words [k * topic, (k + 1) * topic)
  at::parallel_for(0, (n + kRowBlock - 1) / kRowBlock, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      Rng r(o.seed, kFeatures, static_cast<uint64_t>(b));
      for (int64_t v = b * kRowBlock; v < std::min(n, (b + 1) * kRowBlock); ++v) {
        float* row = f + v * d;
        if (o.words > 0) {
          for (int64_t w = 0; w < o.words; ++w) {
            const bool on_topic = r.uniform() < o.informative;
            const int64_t word = on_topic
                                     ? label[v] * topic + static_cast<int64_t>(r.below(static_cast<uint64_t>(topic)))
                                     : static_cast<int64_t>(r.below(static_cast<uint64_t>(d)));
            row[word] = 1.0f;
          }
          continue;
        }
        const float* mu = means.data() + label[v] * d;
        for (int64_t k = 0; k < d; ++k) row[k] = mu[k] + noise * r.normal();
      }
    }
  });
  return features;
}

// Random split: the first train_fraction of a random order is train, the next val_fraction val.
void random_split(const SyntheticOptions& o, NodeDataset& ds) {
  const int64_t n = o.num_nodes;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  {
    Rng r(o.seed, kSplit, 0);
    shuffle(order, r);
  }
  const auto n_train = static_cast<int64_t>(std::llround(o.train_fraction * static_cast<double>(n)));
  const auto n_val = std::min(n - n_train, static_cast<int64_t>(std::llround(o.val_fraction * static_cast<double>(n))));
  ds.train_mask = torch::zeros({n}, torch::kBool);
  ds.val_mask = torch::zeros({n}, torch::kBool);
  ds.test_mask = torch::zeros({n}, torch::kBool);
  bool* tr = ds.train_mask.data_ptr<bool>();
  bool* va = ds.val_mask.data_ptr<bool>();
  bool* te = ds.test_mask.data_ptr<bool>();
  for (int64_t k = 0; k < n; ++k) {
    (k < n_train ? tr : k < n_train + n_val ? va : te)[order[k]] = true;
  }
}

}  // namespace

NodeDataset make_synthetic(const SyntheticOptions& o) {
  check(o);
  const int64_t n = o.num_nodes;
  const auto classes = balanced_classes(o);
  NodeDataset ds;
  ds.name = synthetic_spec(o);
  ds.num_classes = o.num_classes;
  {
    std::vector<int64_t> src, dst;
    draw_edges(o, classes, degree_cdfs(o, classes), src, dst);
    ds.graph = build_graph(src, dst, n,
                           EdgeListOptions{.symmetrize = true, .drop_self_loops = true, .deduplicate = true}, ds.name);
  }
  ds.labels = torch::empty({n}, torch::kInt64);
  std::copy(classes.label.begin(), classes.label.end(), ds.labels.data_ptr<int64_t>());
  ds.features = draw_features(o, classes.label);
  random_split(o, ds);
  ds.validate();
  return ds;
}

SyntheticOptions parse_synthetic_spec(const std::string& spec_in) {
  std::string spec = spec_in;
  for (const char* prefix : {"synthetic:", "synthetic"}) {
    if (spec.rfind(prefix, 0) == 0) {
      spec = spec.substr(std::string(prefix).size());
      break;
    }
  }
  SyntheticOptions o;
  size_t start = 0;
  while (start < spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = spec.substr(start, comma - start);
    start = comma + 1;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("synthetic spec: '" + item + "' is not key=value");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "nodes") {
      o.num_nodes = number<int64_t>(key, value);
    } else if (key == "degree") {
      o.avg_degree = number<double>(key, value);
    } else if (key == "classes") {
      o.num_classes = number<int64_t>(key, value);
    } else if (key == "dim") {
      o.feature_dim = number<int64_t>(key, value);
    } else if (key == "homophily") {
      o.homophily = number<double>(key, value);
    } else if (key == "seed") {
      o.seed = number<uint64_t>(key, value);
    } else if (key == "noise") {
      o.feature_noise = number<double>(key, value);
    } else if (key == "train") {
      o.train_fraction = number<double>(key, value);
    } else if (key == "val") {
      o.val_fraction = number<double>(key, value);
    } else if (key == "powerlaw") {
      o.powerlaw = number<double>(key, value);
    } else if (key == "maxdegree") {
      o.max_degree = number<double>(key, value);
    } else if (key == "words") {
      o.words = number<int64_t>(key, value);
    } else if (key == "informative") {
      o.informative = number<double>(key, value);
    } else {
      throw std::invalid_argument("synthetic spec: unknown key '" + key +
                                  "' (nodes, degree, classes, dim, homophily, seed, noise, train, val, powerlaw, "
                                  "maxdegree, words, informative)");
    }
  }
  check(o);
  return o;
}

std::string synthetic_spec(const SyntheticOptions& o) {
  return "synthetic:nodes=" + std::to_string(o.num_nodes) + ",degree=" + text(o.avg_degree) +
         ",classes=" + std::to_string(o.num_classes) + ",dim=" + std::to_string(o.feature_dim) +
         ",homophily=" + text(o.homophily) + ",seed=" + std::to_string(o.seed) + ",noise=" + text(o.feature_noise) +
         ",train=" + text(o.train_fraction) + ",val=" + text(o.val_fraction) +
         (o.powerlaw > 0 ? ",powerlaw=" + text(o.powerlaw) + ",maxdegree=" + text(o.max_degree) : "") +
         (o.words > 0 ? ",words=" + std::to_string(o.words) + ",informative=" + text(o.informative) : "");
}

}  // namespace graphmae2::datasets
