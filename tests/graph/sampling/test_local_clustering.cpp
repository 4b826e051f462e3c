// Local clustering (the reference's LC ego-graphs): against a plain hash-map transcription of the package's
// aclpagerank push and the reference's sort, against the real package's output on Cora and CiteSeer (a fixture
// made by benchmarks/peers/lc_reference.py), by properties, and at its boundary.

#include "graph/sampling/local_clustering.h"
#include "graph/transforms.h"

#include "datasets/hdf5_io.h"
#include "datasets/registry.h"
#include "fixtures/graphs.h"
#include "fixtures/paths.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <queue>
#include <set>
#include <unordered_map>
#include <vector>

namespace graphmae2::graph::sampling {
namespace {

using testing::expect_error;

std::vector<int64_t> vec(const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU).to(torch::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}
std::vector<double> dvec(const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU).to(torch::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

struct Ego {
  std::vector<int64_t> nodes;
  std::vector<double> ppr;
};

/// The package's pprgrow as written there (hash maps, std::queue), then the reference's two sorts with the
/// documented tie rule (node id ascending, then stable), the seed moved first.
Ego plain_reference(const std::vector<std::vector<int64_t>>& adj, int64_t seed, const LocalClusteringOptions& o) {
  std::unordered_map<int64_t, double> x, r;
  std::queue<int64_t> q;
  const auto deg = [&](int64_t v) { return static_cast<double>(adj[v].size()); };
  r[seed] = 1;
  x[seed] = 0;
  if (r[seed] >= o.rho * deg(seed)) q.push(seed);
  for (int64_t steps = 0; !q.empty() && steps < o.max_push_steps; ++steps) {
    const int64_t j = q.front();
    q.pop();
    const double rj = r.at(j);
    x[j] = (x.count(j) ? x[j] : 0.0) + o.alpha * rj;
    const double delta = ((1 - o.alpha) / 2) * (rj / deg(j));
    r[j] = ((1 - o.alpha) / 2) * rj;
    if (r[j] >= o.rho * deg(j)) q.push(j);
    for (const int64_t u : adj[j]) {
      const double old = r.count(u) ? r[u] : 0.0;
      r[u] = delta + old;
      if (r[u] > o.rho * deg(u) && old <= o.rho * deg(u)) q.push(u);
    }
  }
  std::vector<std::pair<double, int64_t>> sol;
  for (const auto& [v, xv] : x) sol.emplace_back(xv, v);
  std::sort(sol.begin(), sol.end(),
            [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  sol.resize(std::min<size_t>(sol.size(), static_cast<size_t>(o.ego_size)));
  std::stable_sort(sol.begin(), sol.end(), [&](auto& a, auto& b) {
    const auto score = [&](const std::pair<double, int64_t>& p) {
      return p.first * (deg(p.second) == 0 ? 0.0 : std::min(1.0, 1.0 / deg(p.second)));
    };
    return score(a) > score(b);
  });
  const auto at = std::find_if(sol.begin(), sol.end(), [&](auto& p) { return p.second == seed; });
  std::rotate(sol.begin(), at, at + 1);
  Ego e;
  for (const auto& [xv, v] : sol) {
    e.nodes.push_back(v);
    e.ppr.push_back(xv);
  }
  return e;
}

Ego ego_of(const EgoGraphs& egos, int64_t s) {
  const auto ip = vec(egos.indptr);
  const auto nodes = vec(egos.indices);
  const auto ppr = dvec(*egos.ppr);
  return {{nodes.begin() + ip[s], nodes.begin() + ip[s + 1]}, {ppr.begin() + ip[s], ppr.begin() + ip[s + 1]}};
}

CsrGraph random_lc_graph(int64_t n, int64_t edges, uint64_t seed) {
  return bidirected_with_self_loops(testing::random_edges(n, n, edges, seed).graph());
}

TEST(LocalClustering, BidirectedWithSelfLoopsMatchesTheComposedTransforms) {
  const auto g = testing::tiny_edges().graph();
  const auto want = deduplicate(add_self_loops(remove_self_loops(symmetrize(g))));
  EXPECT_TRUE(bidirected_with_self_loops(g) == want);
  const auto r = testing::random_edges(200, 200, 1500, 9).graph();
  EXPECT_TRUE(bidirected_with_self_loops(r) == deduplicate(add_self_loops(remove_self_loops(symmetrize(r)))));
}

TEST(LocalClustering, EqualsThePlainTranscriptionExactly) {
  const auto g = random_lc_graph(3000, 12000, 1);
  const auto adj = testing::adjacency(g);
  LocalClusteringOptions o;
  o.return_ppr = true;
  for (const int64_t ego_size : {256, 16}) {
    o.ego_size = ego_size;
    const auto seeds = torch::arange(0, 3000, 37, torch::kLong);
    const auto egos = local_clustering(g, seeds, o);
    for (int64_t s = 0; s < seeds.size(0); ++s) {
      const int64_t seed = seeds[s].item<int64_t>();
      const auto want = plain_reference(adj, seed, o);
      const auto got = ego_of(egos, s);
      EXPECT_EQ(got.nodes, want.nodes) << "seed " << seed;
      EXPECT_EQ(got.ppr, want.ppr) << "seed " << seed << ": the same pushes give bit-equal values";
    }
  }
}

TEST(LocalClustering, PropertiesAndThreadInvariance) {
  const auto g = random_lc_graph(5000, 40000, 2);
  LocalClusteringOptions o;
  o.ego_size = 64;
  o.return_ppr = true;
  const auto seeds = torch::arange(5000, torch::kLong);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = local_clustering(g, seeds, o);
  at::set_num_threads(std::max(2, threads));
  const auto many = local_clustering(
      g, seeds, o, [](int64_t) {}, 777);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.indptr, many.indptr));
  EXPECT_TRUE(torch::equal(one.indices, many.indices));
  EXPECT_TRUE(torch::equal(*one.ppr, *many.ppr));
  const auto adj = testing::adjacency(g);
  for (int64_t s = 0; s < 5000; s += 97) {
    const auto e = ego_of(one, s);
    ASSERT_FALSE(e.nodes.empty());
    EXPECT_EQ(e.nodes[0], s) << "the seed comes first";
    EXPECT_LE(static_cast<int64_t>(e.nodes.size()), 64);
    EXPECT_EQ(std::set<int64_t>(e.nodes.begin(), e.nodes.end()).size(), e.nodes.size());
    for (size_t i = 2; i < e.nodes.size(); ++i) {
      EXPECT_GE(e.ppr[i - 1] / adj[e.nodes[i - 1]].size(), e.ppr[i] / adj[e.nodes[i]].size()) << "sorted by score";
    }
  }
  EXPECT_TRUE(torch::equal(one.nodes(3), torch::tensor(ego_of(one, 3).nodes, torch::kLong)));
  // Node lists are held as int32 where ids fit; ids of 2^31 and above keep int64.
  EXPECT_EQ(one.indices.scalar_type(), torch::kInt);
  EgoGraphs huge;
  huge.seeds = torch::tensor({int64_t{1} << 31}, torch::kLong);
  huge.indptr = torch::tensor({0, 2}, torch::kLong);
  huge.indices = torch::tensor({int64_t{1} << 31, int64_t{5}}, torch::kLong);
  EXPECT_EQ(huge.compact().indices.scalar_type(), torch::kLong);
  EXPECT_EQ(huge.nodes(0)[0].item<int64_t>(), int64_t{1} << 31);
  huge.indices[0] = (int64_t{1} << 31) - 1;
  EXPECT_EQ(huge.compact().indices.scalar_type(), torch::kInt);
  EXPECT_EQ(huge.compact().nodes(0)[0].item<int64_t>(), (int64_t{1} << 31) - 1);
}

TEST(LocalClustering, BadInputIsRefusedNamingTheValue) {
  const auto g = random_lc_graph(50, 100, 3);
  LocalClusteringOptions o;
  o.ego_size = 0;
  expect_error([&] { local_clustering(g, torch::arange(3, torch::kLong), o); }, "ego size must be >= 1, got 0");
  expect_error(
      [&] {
        local_clustering(g, torch::tensor({1, 50}, torch::kLong));
      },
      "seed 50 (position 1) is out of range");
  expect_error([&] { local_clustering(g, torch::tensor({1, 2}, torch::kInt32)); }, "seeds must be int64");
  o = {};
  o.rho = 0;
  expect_error([&] { local_clustering(g, torch::arange(3, torch::kLong), o); }, "rho must be > 0");
}

/// The real package's ego-graphs (localgraphclustering 0.6.1, the reference's call), kept as a fixture: the same
/// PageRank values, the same nodes except ties at the ego-size cut, the same order except among equal scores.
void expect_matches_package(const std::string& name) {
  const auto fixture = std::filesystem::path(GRAPHMAE2_SOURCE_DIR) / "tests" / "fixtures" / ("lc_" + name + ".h5");
  ASSERT_TRUE(std::filesystem::exists(fixture)) << fixture << " is missing (benchmarks/peers/lc_reference.py fixture)";
  const auto planetoid = testing::shared_datasets_dir() / "planetoid";
  if (!std::filesystem::exists(planetoid / ("ind." + name + ".graph"))) {
    GTEST_SKIP() << "no " << name << " at " << planetoid;
  }
  const auto data = datasets::load_node_dataset(name, testing::shared_datasets_dir());
  const auto g = bidirected_with_self_loops(data.graph);
  const auto attrs = datasets::read_h5_attrs(fixture);
  ASSERT_EQ(std::stoll(attrs.at("num_nodes")), g.num_nodes());
  ASSERT_EQ(std::stoll(attrs.at("num_edges")), g.num_edges()) << "the reference's graph has the same edges";
  const auto ref_seeds = vec(datasets::read_h5_tensor(fixture, "seeds"));
  const auto ref_ip = vec(datasets::read_h5_tensor(fixture, "indptr"));
  const auto ref_nodes = vec(datasets::read_h5_tensor(fixture, "indices"));
  const auto ref_ppr = dvec(datasets::read_h5_tensor(fixture, "ppr"));
  const auto ref_cut = dvec(datasets::read_h5_tensor(fixture, "cut_ppr"));
  LocalClusteringOptions o;
  o.ego_size = std::stoll(attrs.at("ego_size"));
  o.return_ppr = true;
  const auto egos = local_clustering(g, torch::tensor(ref_seeds, torch::kLong), o);
  const auto degree = vec(in_degrees(g));
  int64_t cut_ties = 0, order_ties = 0;
  for (size_t s = 0; s < ref_seeds.size(); ++s) {
    const auto got = ego_of(egos, static_cast<int64_t>(s));
    const std::vector<int64_t> want(ref_nodes.begin() + ref_ip[s], ref_nodes.begin() + ref_ip[s + 1]);
    const std::vector<double> want_ppr(ref_ppr.begin() + ref_ip[s], ref_ppr.begin() + ref_ip[s + 1]);
    ASSERT_EQ(got.nodes.size(), want.size()) << name << " seed " << ref_seeds[s];
    ASSERT_EQ(got.nodes[0], want[0]);
    std::unordered_map<int64_t, double> want_of;
    for (size_t i = 0; i < want.size(); ++i) want_of[want[i]] = want_ppr[i];
    bool tie_at_cut = false;
    for (size_t i = 0; i < got.nodes.size(); ++i) {
      const auto it = want_of.find(got.nodes[i]);
      if (it == want_of.end()) {
        // Only a node tied with the package's last kept value may differ.
        EXPECT_NEAR(got.ppr[i], ref_cut[s], 1e-15) << name << " seed " << ref_seeds[s] << ": node " << got.nodes[i];
        tie_at_cut = true;
        continue;
      }
      EXPECT_NEAR(got.ppr[i], it->second, 1e-14 * std::max(1.0, std::abs(it->second)))
          << name << " seed " << ref_seeds[s] << " node " << got.nodes[i];
    }
    cut_ties += tie_at_cut;
    // Position by position the scores agree (equal scores may hold different nodes).
    bool tie_in_order = false;
    for (size_t i = 0; i < want.size(); ++i) {
      const double got_score = got.ppr[i] * (1.0 / static_cast<double>(degree[got.nodes[i]]));
      const double want_score = want_ppr[i] * (1.0 / static_cast<double>(degree[want[i]]));
      if (got.nodes[i] != want[i]) tie_in_order = true;
      if (!tie_at_cut) {
        EXPECT_NEAR(got_score, want_score, 1e-14) << name << " seed " << ref_seeds[s] << " position " << i;
      }
    }
    order_ties += tie_in_order;
  }
  std::cout << name << ": " << ref_seeds.size() << " seeds; " << cut_ties << " differ by a tie at the cut, "
            << order_ties << " by ties in the order\n";
}

TEST(LocalClustering, MatchesThePackageOnCora) { expect_matches_package("cora"); }
TEST(LocalClustering, MatchesThePackageOnCiteSeer) { expect_matches_package("citeseer"); }

}  // namespace
}  // namespace graphmae2::graph::sampling
