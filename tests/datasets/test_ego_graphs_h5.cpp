// The LC ego-graph file: round trip, h5-readable layout, refusal of another graph's file, and a damaged file
// named with the seed and position at fault.

#include "datasets/ego_graphs_h5.h"
#include "datasets/hdf5_io.h"
#include "graph/transforms.h"

#include "fixtures/graphs.h"
#include "fixtures/paths.h"

#include <gtest/gtest.h>

namespace graphmae2::datasets {
namespace {

std::string error_of_load(const std::filesystem::path& file, const graph::CsrGraph* g = nullptr) {
  try {
    if (g != nullptr)
      load_ego_graphs_h5(file, *g);
    else
      load_ego_graphs_h5(file);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

graph::CsrGraph lc_graph(uint64_t seed) {
  return graph::bidirected_with_self_loops(testing::random_edges(300, 300, 1200, seed).graph());
}

TEST(EgoGraphsH5, RoundTripAndGraphCheck) {
  const auto g = lc_graph(1);
  graph::sampling::LocalClusteringOptions o;
  o.ego_size = 20;
  const auto egos = graph::sampling::local_clustering(g, torch::arange(0, 300, 3, torch::kLong), o);
  const auto file = testing::scratch_dir("ego_h5") / "ego.h5";
  save_ego_graphs_h5(egos, g, o, "random", file);
  const auto back = load_ego_graphs_h5(file, g);
  EXPECT_TRUE(torch::equal(back.egos.seeds, egos.seeds));
  EXPECT_TRUE(torch::equal(back.egos.indptr, egos.indptr));
  EXPECT_TRUE(torch::equal(back.egos.indices, egos.indices));
  EXPECT_EQ(back.options.ego_size, 20);
  EXPECT_EQ(back.options.rho, o.rho);
  EXPECT_EQ(back.options.alpha, o.alpha);
  EXPECT_EQ(back.dataset, "random");
  EXPECT_TRUE(back.graph == fingerprint(g));
  // The layout h5py users read: seeds, indptr, indices at the root; node lists as int32 (half of int64's bytes).
  EXPECT_TRUE(h5_has(file, "seeds") && h5_has(file, "indptr") && h5_has(file, "indices"));
  EXPECT_EQ(egos.indices.scalar_type(), torch::kInt);
  EXPECT_EQ(read_h5_tensor(file, "indices").scalar_type(), torch::kInt);
  EXPECT_EQ(back.egos.indices.scalar_type(), torch::kInt);
  // A file with int64 node lists (written before they were int32) reads back compact, to the same ids.
  const auto wide = file.parent_path() / "ego64.h5";
  write_h5(wide, {{"seeds", egos.seeds}, {"indptr", egos.indptr}, {"indices", egos.indices.to(torch::kLong)}},
           read_h5_attrs(file));
  const auto wide_back = load_ego_graphs_h5(wide, g);
  EXPECT_EQ(wide_back.egos.indices.scalar_type(), torch::kInt);
  EXPECT_TRUE(torch::equal(wide_back.egos.indices, egos.indices));

  const auto other = lc_graph(2);
  const auto msg = error_of_load(file, &other);
  EXPECT_NE(msg.find("computed on another graph"), std::string::npos) << msg;
  EXPECT_NE(msg.find(fingerprint(g).to_string()), std::string::npos) << msg;
  EXPECT_NE(msg.find(fingerprint(other).to_string()), std::string::npos) << msg;
}

TEST(EgoGraphsH5, DamagedFilesAreNamed) {
  const auto g = lc_graph(3);
  graph::sampling::LocalClusteringOptions o;
  o.ego_size = 8;
  const auto egos = graph::sampling::local_clustering(g, torch::arange(5, torch::kLong), o);
  const auto dir = testing::scratch_dir("ego_h5_bad");
  const auto attrs = [&] {
    save_ego_graphs_h5(egos, g, o, "x", dir / "good.h5");
    return read_h5_attrs(dir / "good.h5");
  }();
  const auto write = [&](const std::string& name, torch::Tensor seeds, torch::Tensor indptr, torch::Tensor indices,
                         std::map<std::string, std::string> a) {
    write_h5(dir / name, {{"seeds", seeds}, {"indptr", indptr}, {"indices", indices}}, a);
    return error_of_load(dir / name);
  };
  // Each damage in both widths the reader takes: int32 (what it writes) and int64 (older files, other tools).
  std::string msg;
  for (const auto dtype : {torch::kInt, torch::kLong}) {
    auto swapped = egos.indices.to(torch::kLong);
    std::swap(swapped.data_ptr<int64_t>()[egos.indptr[2].item<int64_t>()],
              swapped.data_ptr<int64_t>()[egos.indptr[2].item<int64_t>() + 1]);
    msg = write("seed_not_first.h5", egos.seeds, egos.indptr, swapped.to(dtype), attrs);
    EXPECT_NE(msg.find("seed number 2 (node 2): its ego-graph starts with node"), std::string::npos) << msg;
    auto out_of_range = egos.indices.to(torch::kLong);
    out_of_range.data_ptr<int64_t>()[egos.indptr[1].item<int64_t>() + 1] = 300;
    msg = write("range.h5", egos.seeds, egos.indptr, out_of_range.to(dtype), attrs);
    EXPECT_NE(msg.find("seed number 1 (node 1): ego node 300 at position 1 is out of range"), std::string::npos) << msg;
  }
  msg = write("float.h5", egos.seeds, egos.indptr, egos.indices.to(torch::kFloat), attrs);
  EXPECT_NE(msg.find("'indices' should be 1-D int32 or int64, got 1-D Float"), std::string::npos) << msg;
  msg = write("short_indptr.h5", egos.seeds, egos.indptr.narrow(0, 0, 5), egos.indices, attrs);
  EXPECT_NE(msg.find("indptr has 5 entries for 5 seeds"), std::string::npos) << msg;
  auto bad_attrs = attrs;
  bad_attrs["format"] = "graphmae2-node-dataset";
  msg = write("format.h5", egos.seeds, egos.indptr, egos.indices, bad_attrs);
  EXPECT_NE(msg.find("not an ego-graph file"), std::string::npos) << msg;
  bad_attrs = attrs;
  bad_attrs["ego_size"] = "4";
  msg = write("ego_size.h5", egos.seeds, egos.indptr, egos.indices, bad_attrs);
  EXPECT_NE(msg.find("ego nodes, expected 1 to 4"), std::string::npos) << msg;
}

}  // namespace
}  // namespace graphmae2::datasets
