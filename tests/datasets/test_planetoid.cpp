// Planetoid reader against the README facts and a plain-loop recomputation from the raw pickles.

#include "fixtures/errors.h"
#include "datasets/pickle.h"
#include "datasets/planetoid.h"
#include "datasets/registry.h"
#include "fixtures/paths.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <functional>
#include <set>

namespace graphmae2::datasets {
using graphmae2::testing::error_of;

namespace {

namespace fs = std::filesystem;
using graphmae2::testing::scratch_dir;
using graphmae2::testing::shared_datasets_dir;

fs::path planetoid_dir() { return shared_datasets_dir() / "planetoid"; }

// The README table, one row per dataset.
struct Facts {
  std::string name;
  int64_t nodes, dim, classes, train, val, test, edges, test_lo, test_hi, missing;
};
const Facts kCora{"cora", 2708, 1433, 7, 140, 500, 1000, 10556, 1708, 2707, 0};
const Facts kCiteSeer{"citeseer", 3327, 3703, 6, 120, 500, 1000, 9104, 2312, 3326, 15};

// Dense copy of a csr matrix by plain loops.
std::vector<std::vector<float>> dense(const pickle::CsrMatrix& m) {
  std::vector<std::vector<float>> out(m.rows, std::vector<float>(m.cols, 0.f));
  auto p = m.indptr.accessor<int64_t, 1>();
  auto c = m.indices.accessor<int64_t, 1>();
  auto data = m.data.to(torch::kFloat32).contiguous();
  auto d = data.accessor<float, 1>();
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t e = p[r]; e < p[r + 1]; ++e) out[r][c[e]] += d[e];
  }
  return out;
}

int64_t first_argmax(const torch::Tensor& row) {
  auto t = row.to(torch::kFloat64).contiguous();
  auto r = t.accessor<double, 1>();
  int64_t best = 0;
  for (int64_t c = 1; c < t.size(0); ++c) {
    if (r[c] > r[best]) best = c;
  }
  return best;
}

class PlanetoidTest : public ::testing::TestWithParam<Facts> {};

TEST_P(PlanetoidTest, MatchesReadmeFacts) {
  const Facts f = GetParam();
  auto ds = read_planetoid(planetoid_dir(), f.name);
  EXPECT_EQ(ds.name, f.name);
  EXPECT_EQ(ds.num_nodes(), f.nodes);
  EXPECT_EQ(ds.feature_dim(), f.dim);
  EXPECT_EQ(ds.num_classes, f.classes);
  EXPECT_EQ(ds.train_mask.sum().item<int64_t>(), f.train);
  EXPECT_EQ(ds.val_mask.sum().item<int64_t>(), f.val);
  EXPECT_EQ(ds.test_mask.sum().item<int64_t>(), f.test);
  EXPECT_EQ(ds.graph.num_edges(), f.edges);
  // Train = first len(y) nodes, val = the next 500, masks disjoint.
  auto train = ds.train_mask.accessor<bool, 1>();
  auto val = ds.val_mask.accessor<bool, 1>();
  auto test = ds.test_mask.accessor<bool, 1>();
  for (int64_t v = 0; v < f.nodes; ++v) {
    ASSERT_EQ(train[v], v < f.train) << v;
    ASSERT_EQ(val[v], v >= f.train && v < f.train + f.val) << v;
  }
  // Test ids: exactly the README range minus `missing` ids; the missing ones have zero features, label 0 and
  // no mask. (They keep their edges of ind.citeseer.graph: the README's 9104 edges count them.)
  int64_t missing = 0;
  for (int64_t v = 0; v < f.nodes; ++v) {
    const bool in_range = v >= f.test_lo && v <= f.test_hi;
    if (!in_range) {
      ASSERT_FALSE(test[v]) << v;
    } else if (!test[v]) {
      ++missing;
      EXPECT_EQ(ds.features[v].abs().sum().item<float>(), 0.f) << v;
      EXPECT_EQ(ds.labels[v].item<int64_t>(), 0) << v;
      EXPECT_FALSE(train[v] || val[v]) << v;
    }
  }
  EXPECT_EQ(missing, f.missing);
  // Binary features.
  EXPECT_TRUE(((ds.features == 0) | (ds.features == 1)).all().item<bool>());
  EXPECT_EQ(ds.features.scalar_type(), torch::kFloat32);
  EXPECT_GE(ds.labels.min().item<int64_t>(), 0);
  EXPECT_LT(ds.labels.max().item<int64_t>(), f.classes);
}

TEST_P(PlanetoidTest, GraphIsSymmetrisedAdjacencyWithoutLoopsOrDuplicates) {
  const Facts f = GetParam();
  auto ds = read_planetoid(planetoid_dir(), f.name);
  // Independent recomputation: the set of (u, v), (v, u) of the pickled dict, self-loops removed.
  std::set<std::pair<int64_t, int64_t>> expected;
  for (const auto& [u, nbrs] : pickle::read_adjacency(planetoid_dir() / ("ind." + f.name + ".graph"))) {
    for (int64_t v : nbrs) {
      if (u == v) continue;
      expected.insert({u, v});
      expected.insert({v, u});
    }
  }
  EXPECT_EQ(static_cast<int64_t>(expected.size()), f.edges);
  std::vector<std::pair<int64_t, int64_t>> got;
  auto p = ds.graph.indptr.accessor<int64_t, 1>();
  auto c = ds.graph.indices.accessor<int64_t, 1>();
  for (int64_t v = 0; v < ds.num_nodes(); ++v) {
    for (int64_t e = p[v]; e < p[v + 1]; ++e) {
      ASSERT_NE(c[e], v) << "self-loop at " << v;
      if (e > p[v]) ASSERT_LT(c[e - 1], c[e]) << "row " << v << " unsorted or duplicated";
      got.push_back({c[e], v});
    }
  }
  std::set<std::pair<int64_t, int64_t>> got_set(got.begin(), got.end());
  EXPECT_EQ(got_set.size(), got.size());
  EXPECT_EQ(got_set, expected);
  for (const auto& [u, v] : got_set) ASSERT_TRUE(got_set.count({v, u})) << u << " -> " << v;
}

TEST_P(PlanetoidTest, RowsFollowAllxThenTestIndexOrder) {
  const Facts f = GetParam();
  const auto dir = planetoid_dir();
  auto ds = read_planetoid(dir, f.name);
  auto x = dense(pickle::read_csr_matrix(dir / ("ind." + f.name + ".x")));
  auto allx = dense(pickle::read_csr_matrix(dir / ("ind." + f.name + ".allx")));
  auto tx = dense(pickle::read_csr_matrix(dir / ("ind." + f.name + ".tx")));
  auto ally = pickle::read_ndarray(dir / ("ind." + f.name + ".ally"));
  auto ty = pickle::read_ndarray(dir / ("ind." + f.name + ".ty"));
  auto y = pickle::read_ndarray(dir / ("ind." + f.name + ".y"));
  auto test_index = read_planetoid_test_index(dir / ("ind." + f.name + ".test.index"));
  ASSERT_EQ(test_index.size(), tx.size());
  auto feats = ds.features.accessor<float, 2>();
  auto row_equals = [&](int64_t node, const std::vector<float>& row) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (feats[node][c] != row[c]) return false;
    }
    return true;
  };
  // allx rows come first (x is the head of allx), then node test_index[i] holds tx[i] / ty[i].
  auto labels = ds.labels.accessor<int64_t, 1>();
  for (size_t r = 0; r < allx.size(); ++r) {
    ASSERT_TRUE(row_equals(static_cast<int64_t>(r), allx[r])) << r;
    ASSERT_EQ(labels[r], first_argmax(ally[r])) << r;
  }
  for (size_t r = 0; r < x.size(); ++r) {
    ASSERT_TRUE(row_equals(static_cast<int64_t>(r), x[r])) << r;
    ASSERT_EQ(labels[r], first_argmax(y[r])) << r;
  }
  for (size_t i = 0; i < test_index.size(); ++i) {
    ASSERT_TRUE(row_equals(test_index[i], tx[i])) << i;
    ASSERT_EQ(labels[test_index[i]], first_argmax(ty[i])) << i;
  }
}

TEST_P(PlanetoidTest, RowNormalisedRowsSumToOneOrZero) {
  const Facts f = GetParam();
  auto raw = read_planetoid(planetoid_dir(), f.name);
  auto ds = read_planetoid(planetoid_dir(), f.name, /*row_normalize_features=*/true);
  auto sums = ds.features.sum(1);
  auto raw_sums = raw.features.sum(1);
  for (int64_t v = 0; v < ds.num_nodes(); ++v) {
    const float expected = raw_sums[v].item<float>() == 0.f ? 0.f : 1.f;
    ASSERT_NEAR(sums[v].item<float>(), expected, 1e-5) << v;
  }
  // Same graph and labels as the raw read.
  EXPECT_TRUE(ds.graph == raw.graph);
  EXPECT_TRUE(torch::equal(ds.labels, raw.labels));
}

INSTANTIATE_TEST_SUITE_P(Planetoid, PlanetoidTest, ::testing::Values(kCora, kCiteSeer),
                         [](const auto& info) { return info.param.name; });

// ---- bad input ----

fs::path copy_planetoid(const std::string& name, const std::string& scratch) {
  auto dir = scratch_dir(scratch);
  for (const auto& e : fs::directory_iterator(planetoid_dir())) {
    if (e.path().filename().string().rfind("ind." + name + ".", 0) == 0)
      fs::copy_file(e.path(), dir / e.path().filename());
  }
  return dir;
}

TEST(PlanetoidBadInput, TruncatedPickleNamesFileAndOffset) {
  auto dir = copy_planetoid("cora", "planetoid_truncated");
  const auto file = dir / "ind.cora.allx";
  const auto size = fs::file_size(file);
  fs::resize_file(file, size / 2);
  const auto msg = error_of([&] { read_planetoid(dir, "cora"); });
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte "), std::string::npos) << msg;
}

TEST(PlanetoidBadInput, MissingFileIsNamed) {
  auto dir = copy_planetoid("cora", "planetoid_missing");
  fs::remove(dir / "ind.cora.ty");
  const auto msg = error_of([&] { read_planetoid(dir, "cora"); });
  EXPECT_NE(msg.find("ind.cora.ty"), std::string::npos) << msg;
}

TEST(PlanetoidBadInput, BadTestIndexLineIsNamed) {
  auto dir = copy_planetoid("cora", "planetoid_bad_index");
  auto ids = read_planetoid_test_index(dir / "ind.cora.test.index");
  {
    std::ofstream out(dir / "ind.cora.test.index");
    out << ids[0] << "\n" << ids[1] << "\nnot-a-number\n";
  }
  const auto msg = error_of([&] { read_planetoid(dir, "cora"); });
  EXPECT_NE(msg.find("ind.cora.test.index: line 3"), std::string::npos) << msg;
}

// Declared sizes that the files' data cannot back are refused before they are allocated (issue 14, class 4).
TEST(PlanetoidBadInput, AColumnCountFarBeyondTheUsedColumnsIsRefused) {
  if (!fs::is_regular_file(planetoid_dir() / "ind.citeseer.allx")) GTEST_SKIP() << "no CiteSeer files";
  auto dir = copy_planetoid("citeseer", "planetoid_wide");
  // _shape (rows, 3703) is pickled as BININT2 3703; declare 100,000 columns in x, tx and allx alike.
  const std::string old_cols = std::string("M") + '\x77' + '\x0e';
  const std::string new_cols = std::string("J") + '\xa0' + '\x86' + '\x01' + '\x00';
  for (const char* part : {"x", "tx", "allx"}) {
    const auto file = dir / (std::string("ind.citeseer.") + part);
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = bytes.find(old_cols);
    ASSERT_NE(at, std::string::npos) << file;
    ASSERT_EQ(bytes.find(old_cols, at + 1), std::string::npos) << file;
    bytes.replace(at, old_cols.size(), new_cols);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  }
  EXPECT_EQ(pickle::read_csr_matrix(dir / "ind.citeseer.allx").cols, 100000);
  const auto msg = error_of([&] { read_planetoid(dir, "citeseer"); });
  EXPECT_NE(msg.find("ind.citeseer.allx"), std::string::npos) << msg;
  EXPECT_NE(msg.find("declares 100000 feature columns"), std::string::npos) << msg;
  EXPECT_NE(msg.find("use only 3703"), std::string::npos) << msg;
}

TEST(PlanetoidBadInput, ATestIndexSpanFarBeyondTheTestRowsIsRefused) {
  if (!fs::is_regular_file(planetoid_dir() / "ind.citeseer.allx")) GTEST_SKIP() << "no CiteSeer files";
  auto dir = copy_planetoid("citeseer", "planetoid_span");
  auto ids = read_planetoid_test_index(dir / "ind.citeseer.test.index");
  ids.back() = 1000000000;  // CiteSeer's rows are widened to the id span: this would be 10^9 rows
  {
    std::ofstream out(dir / "ind.citeseer.test.index", std::ios::trunc);
    for (int64_t v : ids) out << v << "\n";
  }
  const auto msg = error_of([&] { read_planetoid(dir, "citeseer"); });
  EXPECT_NE(msg.find("ind.citeseer.test.index"), std::string::npos) << msg;
  EXPECT_NE(msg.find("for 1000 test rows"), std::string::npos) << msg;
}

// Hand-written protocol-2 pickles (the byte layout of the real files).
std::string pickled_int32_matrix() {
  std::string s = "\x80\x02";
  s += "cnumpy.core.multiarray\n_reconstruct\nq\x01";
  s += "cnumpy\nndarray\nq\x02";
  s += std::string(
      "K\x00\x85U\x01"
      "b\x87R(K\x01K\x02K\x03\x86",
      16);
  s += "cnumpy\ndtype\n";
  s += std::string("U\x02i4K\x00K\x01\x87R(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89", 34);
  s += std::string("U\x18", 2);  // 6 int32 = 24 bytes
  for (int32_t v : {1, -2, 3, 40000, 0, 7}) s.append(reinterpret_cast<const char*>(&v), 4);
  s += "tb.";
  return s;
}

TEST(PickleReader, DecodesAHandWrittenArray) {
  auto t = pickle::parse_ndarray(pickled_int32_matrix(), "hand");
  ASSERT_EQ(t.scalar_type(), torch::kInt32);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 3}));
  const int32_t expected[2][3] = {{1, -2, 3}, {40000, 0, 7}};
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(t[r][c].item<int32_t>(), expected[r][c]);
  }
}

TEST(PickleReader, RejectsAnotherGlobalWithOffset) {
  // The classic exploit: os.system('...') through GLOBAL + REDUCE. It must fail at the GLOBAL (byte 2).
  const std::string evil = std::string(
      "\x80\x02"
      "cos\nsystem\nU\x02lsR.",
      19);
  const auto msg = error_of([&] { pickle::parse_ndarray(evil, "evil.pkl"); });
  EXPECT_NE(msg.find("evil.pkl: byte 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("os.system"), std::string::npos) << msg;
}

TEST(PickleReader, RejectsUnknownOpcodeWithOffset) {
  // INT ('I') is a protocol-0 opcode the Planetoid files never use.
  const std::string bad = std::string("\x80\x02I1\n.", 6);
  const auto msg = error_of([&] { pickle::parse_ndarray(bad, "op.pkl"); });
  EXPECT_NE(msg.find("op.pkl: byte 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("0x49"), std::string::npos) << msg;
}

TEST(PickleReader, RejectsEveryTruncationOfAValidPickle) {
  const auto bytes = pickled_int32_matrix();
  for (size_t n = 0; n < bytes.size(); ++n) {
    const auto msg = error_of([&] { pickle::parse_ndarray(std::string_view(bytes).substr(0, n), "cut"); });
    ASSERT_NE(msg.find("cut: byte"), std::string::npos) << "prefix " << n << ": " << msg;
  }
}

TEST(PickleReader, RejectsLengthBeyondTheInput) {
  // BINSTRING claiming 2 GiB in a 12-byte input must not allocate; it fails on the length.
  const std::string big = std::string(
      "\x80\x02T\xff\xff\xff\x7f"
      "abc.",
      11);
  const auto msg = error_of([&] { pickle::parse_ndarray(big, "big"); });
  EXPECT_NE(msg.find("big: byte 2: truncated"), std::string::npos) << msg;
}

TEST(PickleReader, RejectsShapeDataMismatch) {
  auto bytes = pickled_int32_matrix();
  const auto at = bytes.find(std::string("K\x03\x86", 3));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] = '\x04';  // shape (2, 4) but 24 data bytes
  const auto msg = error_of([&] { pickle::parse_ndarray(bytes, "shape"); });
  EXPECT_NE(msg.find("need 8 x 4"), std::string::npos) << msg;
}

TEST(PickleReader, WrongTopLevelTypeIsAnError) {
  const auto msg = error_of([&] { pickle::parse_csr_matrix(pickled_int32_matrix(), "kind"); });
  EXPECT_NE(msg.find("expected a csr_matrix"), std::string::npos) << msg;
}

// ---- registry ----

TEST(Registry, FindsPlanetoidInEachLayout) {
  auto ds = load_node_dataset("Cora", shared_datasets_dir());
  EXPECT_EQ(ds.num_nodes(), kCora.nodes);
  // PyG layout: ROOT/CiteSeer/raw/ind.citeseer.*
  auto root = scratch_dir("registry_pyg");
  fs::create_directories(root / "CiteSeer" / "raw");
  for (const auto& e : fs::directory_iterator(planetoid_dir())) {
    if (e.path().filename().string().rfind("ind.citeseer.", 0) == 0) {
      fs::copy_file(e.path(), root / "CiteSeer" / "raw" / e.path().filename());
    }
  }
  auto cs = load_node_dataset("citeseer", root, LoadOptions{.row_normalize = true});
  EXPECT_EQ(cs.num_nodes(), kCiteSeer.nodes);
  EXPECT_LE((cs.features.sum(1) - 1).abs().min().item<float>(), 1e-5);
  auto standardized = load_node_dataset("citeseer", root, LoadOptions{.standardize = true});
  EXPECT_LT(standardized.features.mean(0).abs().max().item<float>(), 1e-4);
}

TEST(Registry, UnknownOrMissingDatasetListsWhatWasTried) {
  auto root = scratch_dir("registry_empty");
  auto msg = error_of([&] { load_node_dataset("pubmed", root); });
  EXPECT_NE(msg.find((root / "planetoid" / "ind.pubmed.x").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find((root / "PubMed" / "raw" / "ind.pubmed.x").string()), std::string::npos) << msg;
  msg = error_of([&] { load_node_dataset("no-such-set", root); });
  EXPECT_NE(msg.find("no-such-set"), std::string::npos) << msg;
}

TEST(Registry, ResolveDataRootPrefersFlagThenEnv) {
  EXPECT_EQ(resolve_data_root(std::string("/x/y")), fs::path("/x/y"));
  ::setenv("GRAPHMAE2_DATA", "/from/env", 1);
  EXPECT_EQ(resolve_data_root(std::nullopt), fs::path("/from/env"));
  ::unsetenv("GRAPHMAE2_DATA");
  // Even where ../shared/datasets exists (CI), the library does not look there: only ./data is the default.
  EXPECT_EQ(resolve_data_root(std::nullopt), fs::path("data"));
}

}  // namespace
}  // namespace graphmae2::datasets
