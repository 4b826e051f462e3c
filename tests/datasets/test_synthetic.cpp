// Contextual SBM: homophily, degrees and class signal close to what was asked; same seed, same graph.

#include "fixtures/errors.h"
#include "datasets/registry.h"
#include "datasets/synthetic.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

namespace graphmae2::datasets {
using graphmae2::testing::error_of;

namespace {

// Fraction of edges joining same-class nodes, by a plain loop.
double edge_homophily(const NodeDataset& ds) {
  auto p = ds.graph.indptr.accessor<int64_t, 1>();
  auto c = ds.graph.indices.accessor<int64_t, 1>();
  auto y = ds.labels.accessor<int64_t, 1>();
  int64_t same = 0;
  for (int64_t v = 0; v < ds.num_nodes(); ++v) {
    for (int64_t e = p[v]; e < p[v + 1]; ++e) same += y[c[e]] == y[v];
  }
  return static_cast<double>(same) / static_cast<double>(ds.graph.num_edges());
}

TEST(Synthetic, HomophilyDegreeAndStructureAsAsked) {
  for (double h : {0.0, 0.3, 0.8, 1.0}) {
    SyntheticOptions o{
        .num_nodes = 3000, .avg_degree = 8, .num_classes = 4, .feature_dim = 16, .homophily = h, .seed = 7};
    auto ds = make_synthetic(o);
    EXPECT_NEAR(edge_homophily(ds), h, 0.03) << h;
    const double mean_degree = static_cast<double>(ds.graph.num_edges()) / 3000.0;
    EXPECT_NEAR(mean_degree, 8.0, 0.2) << h;  // duplicates dropped: slightly below 8
    EXPECT_LE(mean_degree, 8.0);
    // Symmetric, no self-loops, no duplicates.
    auto p = ds.graph.indptr.accessor<int64_t, 1>();
    auto c = ds.graph.indices.accessor<int64_t, 1>();
    std::set<std::pair<int64_t, int64_t>> edges;
    for (int64_t v = 0; v < ds.num_nodes(); ++v) {
      for (int64_t e = p[v]; e < p[v + 1]; ++e) {
        ASSERT_NE(c[e], v);
        ASSERT_TRUE(edges.insert({c[e], v}).second);
      }
    }
    for (const auto& [u, v] : edges) ASSERT_TRUE(edges.count({v, u}));
  }
}

TEST(Synthetic, PowerLawDegreesHaveHubsAndKeepHomophily) {
  SyntheticOptions o{.num_nodes = 20000,
                     .avg_degree = 10,
                     .num_classes = 4,
                     .feature_dim = 4,
                     .homophily = 0.7,
                     .seed = 3,
                     .powerlaw = 2.1,
                     .max_degree = 1000};
  auto ds = make_synthetic(o);
  const auto degree = ds.graph.indptr.diff();
  const double mean = degree.to(torch::kDouble).mean().item<double>();
  const int64_t max_degree = degree.max().item<int64_t>();
  EXPECT_GT(mean, 7.0) << "hub pairs repeat, so duplicates drop some edges";
  EXPECT_LE(mean, 10.0);
  EXPECT_GT(max_degree, 500) << "hubs near the asked-for maximum expected degree";
  EXPECT_LT(max_degree, 1500);
  EXPECT_GT(degree[0].item<int64_t>(), 10 * degree.narrow(0, 10000, 10000).to(torch::kDouble).mean().item<double>())
      << "low ids are the hubs";
  // A heavy tail: far more nodes above 5x the mean than a uniform SBM (Poisson) would give (~0).
  EXPECT_GT((degree > 5 * mean).sum().item<int64_t>(), 100);
  EXPECT_NEAR(edge_homophily(ds), 0.7, 0.05);
  // The spec round-trips with the new keys, and bad exponents are refused.
  EXPECT_EQ(parse_synthetic_spec(synthetic_spec(o)).powerlaw, 2.1);
  EXPECT_EQ(parse_synthetic_spec("nodes=10,powerlaw=2.5,maxdegree=4").max_degree, 4);
  EXPECT_NE(error_of([] {
              parse_synthetic_spec("nodes=10,powerlaw=1.5");
            }).find("powerlaw must be 0 (off) or an exponent > 2, got 1.5"),
            std::string::npos);
}

TEST(Synthetic, ClassesBalancedSplitAndFeatureSignal) {
  auto ds = make_synthetic({.num_nodes = 2000, .num_classes = 5, .feature_dim = 8, .seed = 1, .feature_noise = 0.5});
  auto counts = torch::bincount(ds.labels);
  EXPECT_TRUE(torch::equal(counts, torch::full({5}, 400, torch::kInt64)));
  EXPECT_EQ(ds.train_mask.sum().item<int64_t>(), 200);
  EXPECT_EQ(ds.val_mask.sum().item<int64_t>(), 200);
  EXPECT_EQ(ds.test_mask.sum().item<int64_t>(), 1600);
  EXPECT_EQ(
      (ds.train_mask.to(torch::kInt) + ds.val_mask.to(torch::kInt) + ds.test_mask.to(torch::kInt)).max().item<int>(),
      1);
  // Within a class the features scatter with std ~ noise around a common mean.
  for (int64_t k = 0; k < 5; ++k) {
    auto rows = ds.features.index({ds.labels == k});
    EXPECT_NEAR(rows.std(0).mean().item<float>(), 0.5f, 0.05f) << k;
  }
}

TEST(Synthetic, SameSeedSameDatasetOtherSeedOther) {
  SyntheticOptions o{.num_nodes = 1500, .avg_degree = 6, .num_classes = 3, .feature_dim = 4, .seed = 42};
  auto a = make_synthetic(o);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  auto b = make_synthetic(o);  // a different thread count must not matter
  at::set_num_threads(threads);
  EXPECT_TRUE(a.graph == b.graph);
  EXPECT_TRUE(torch::equal(a.features, b.features));
  EXPECT_TRUE(torch::equal(a.labels, b.labels));
  EXPECT_TRUE(torch::equal(a.train_mask, b.train_mask));
  o.seed = 43;
  auto c = make_synthetic(o);
  EXPECT_FALSE(a.graph == c.graph);
  EXPECT_FALSE(torch::equal(a.features, c.features));
}

// Bag-of-words features (issue 15's reproduction of sparse binary text features): each row is 0/1 with at most
// `words` non-zeros, and the share of a node's words inside its class's topic block is informative plus the
// uniform draws that fall there, (1 - informative) / classes, counted by a plain loop.
TEST(Synthetic, BagOfWordsFeaturesHaveTheAskedSparsityAndSignal) {
  for (const double informative : {0.0, 0.3, 0.9}) {
    SCOPED_TRACE(informative);
    SyntheticOptions o{.num_nodes = 3000, .avg_degree = 4, .num_classes = 6, .feature_dim = 1200, .seed = 5};
    o.words = 40;
    o.informative = informative;
    const auto ds = make_synthetic(o);
    const auto x = ds.features.contiguous();
    const float* f = x.data_ptr<float>();
    const auto* y = ds.labels.data_ptr<int64_t>();
    const int64_t d = o.feature_dim, topic = d / o.num_classes;
    int64_t nonzeros = 0, on_topic = 0, min_row = d, max_row = 0;
    for (int64_t v = 0; v < o.num_nodes; ++v) {
      int64_t row = 0;
      for (int64_t k = 0; k < d; ++k) {
        const float value = f[v * d + k];
        ASSERT_TRUE(value == 0.0f || value == 1.0f) << v << "," << k;
        if (value == 0.0f) continue;
        ++row;
        if (k / topic == y[v]) ++on_topic;
      }
      nonzeros += row;
      min_row = std::min(min_row, row);
      max_row = std::max(max_row, row);
    }
    EXPECT_GE(min_row, 1);
    EXPECT_LE(max_row, o.words);
    // Distinct words of 40 draws: a few collide inside a 200-word topic when informative is high.
    EXPECT_GT(static_cast<double>(nonzeros) / static_cast<double>(o.num_nodes), 0.85 * static_cast<double>(o.words));
    const double expected = informative + (1 - informative) / static_cast<double>(o.num_classes);
    EXPECT_NEAR(static_cast<double>(on_topic) / static_cast<double>(nonzeros), expected, 0.03);
  }
  // The spec carries the options and reads back; words beyond the vocabulary are refused.
  const auto o = parse_synthetic_spec("synthetic:nodes=50,classes=2,dim=30,words=7,informative=0.25");
  EXPECT_EQ(o.words, 7);
  EXPECT_EQ(o.informative, 0.25);
  EXPECT_EQ(synthetic_spec(parse_synthetic_spec(synthetic_spec(o))), synthetic_spec(o));
  EXPECT_NE(synthetic_spec(o).find("words=7,informative=0.25"), std::string::npos);
  EXPECT_NE(error_of([] { parse_synthetic_spec("synthetic:dim=10,words=11"); }).find("words"), std::string::npos);
  EXPECT_NE(error_of([] { parse_synthetic_spec("synthetic:informative=2"); }).find("informative"), std::string::npos);
}

TEST(Synthetic, SpecParsesRoundTripsAndRejectsBadInput) {
  auto o = parse_synthetic_spec("synthetic:nodes=1000000,degree=10,classes=10,dim=128,homophily=0.8,seed=3");
  EXPECT_EQ(o.num_nodes, 1000000);
  EXPECT_EQ(o.avg_degree, 10);
  EXPECT_EQ(o.num_classes, 10);
  EXPECT_EQ(o.feature_dim, 128);
  EXPECT_EQ(o.homophily, 0.8);
  EXPECT_EQ(o.seed, 3u);
  auto back = parse_synthetic_spec(synthetic_spec(o));
  EXPECT_EQ(synthetic_spec(back), synthetic_spec(o));
  EXPECT_NE(error_of([] { parse_synthetic_spec("synthetic:nodes=10,colour=3"); }).find("unknown key 'colour'"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_synthetic_spec("synthetic:nodes=abc"); }).find("nodes=abc"), std::string::npos);
  EXPECT_NE(error_of([] { parse_synthetic_spec("synthetic:homophily=1.5"); }).find("homophily"), std::string::npos);
  EXPECT_NE(error_of([] { parse_synthetic_spec("synthetic:nodes=3,classes=4"); }).find("classes"), std::string::npos);
  // Through the registry, with the canonical spec as its name.
  auto ds = load_node_dataset("synthetic:nodes=300,degree=4,classes=3,dim=5,seed=9", "unused");
  EXPECT_EQ(ds.num_nodes(), 300);
  EXPECT_EQ(ds.feature_dim(), 5);
  EXPECT_EQ(parse_synthetic_spec(ds.name).seed, 9u);
}

}  // namespace
}  // namespace graphmae2::datasets
