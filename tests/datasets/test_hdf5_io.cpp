// HDF5 helpers and the NodeDataset cache: round trips, atomic writes, errors that name file and dataset.

#include "fixtures/errors.h"
#include "datasets/dataset_h5.h"
#include "datasets/hdf5_io.h"
#include "datasets/planetoid.h"
#include "datasets/registry.h"
#include "datasets/synthetic.h"
#include "fixtures/paths.h"

#include <H5Cpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <limits>

namespace graphmae2::datasets {
using graphmae2::testing::error_of;

namespace {

namespace fs = std::filesystem;
using graphmae2::testing::scratch_dir;
using graphmae2::testing::shared_datasets_dir;

TEST(Hdf5Io, RoundTripsEveryDtypeAndRank) {
  const auto file = scratch_dir("h5_roundtrip") / "t.h5";
  torch::manual_seed(0);
  std::vector<std::pair<std::string, torch::Tensor>> in = {
      {"f32", torch::randn({3, 4})},
      {"f64", torch::randn({2, 3, 2}, torch::kFloat64)},
      {"i64", torch::randint(-1000000000000LL, 1000000000000LL, {7}, torch::kInt64)},
      {"i32", torch::randint(-100000, 100000, {5}, torch::kInt32)},
      {"u8", torch::randint(0, 256, {4}, torch::kUInt8)},
      {"mask", torch::rand({9}) > 0.5},
      {"scalar", torch::tensor(3.5)},
      {"empty", torch::empty({0, 5})},
      {"group/sub/deep", torch::arange(6, torch::kInt64).view({2, 3})},
      {"group/other", torch::ones({1})},
  };
  write_h5(file, in, {{"name", "cora"}, {"note", "a b c"}});
  for (const auto& [name, t] : in) {
    auto back = read_h5_tensor(file, name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  auto attrs = read_h5_attrs(file);
  EXPECT_EQ(attrs.size(), 2u);
  EXPECT_EQ(attrs["name"], "cora");
  EXPECT_EQ(attrs["note"], "a b c");
  EXPECT_TRUE(h5_has(file, "group/sub/deep"));
  EXPECT_FALSE(h5_has(file, "group/missing"));
}

TEST(Hdf5Io, MissingDatasetNamesFileAndDataset) {
  const auto file = scratch_dir("h5_missing") / "t.h5";
  write_h5(file, {{"a", torch::ones({2})}});
  auto msg = error_of([&] { read_h5_tensor(file, "grp/b"); });
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("'grp/b'"), std::string::npos) << msg;
  msg = error_of([&] { read_h5_tensor(file.parent_path() / "nope.h5", "a"); });
  EXPECT_NE(msg.find("nope.h5: no such file"), std::string::npos) << msg;
}

TEST(Hdf5Io, NotAnHdf5FileIsAnError) {
  const auto file = scratch_dir("h5_garbage") / "t.h5";
  std::ofstream(file) << "this is not hdf5";
  const auto msg = error_of([&] { read_h5_tensor(file, "a"); });
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;
}

TEST(Hdf5Io, FailedWriteLeavesOldFileAndNoTemporary) {
  const auto dir = scratch_dir("h5_atomic");
  const auto file = dir / "t.h5";
  write_h5(file, {{"a", torch::arange(3, torch::kInt64)}});
  // The second write fails half way (a name used twice, an unsupported dtype): the old file must survive.
  auto msg = error_of([&] { write_h5(file, {{"b", torch::ones({2})}, {"b", torch::ones({2})}}); });
  EXPECT_NE(msg.find("dataset b"), std::string::npos) << msg;
  msg = error_of([&] { write_h5(file, {{"c", torch::ones({2}, torch::kInt16)}}); });
  EXPECT_NE(msg.find("unsupported dtype"), std::string::npos) << msg;
  EXPECT_TRUE(torch::equal(read_h5_tensor(file, "a"), torch::arange(3, torch::kInt64)));
  EXPECT_FALSE(h5_has(file, "b"));
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(DatasetCache, CoraRoundTripsExactly) {
  auto ds = read_planetoid(shared_datasets_dir() / "planetoid", "cora", /*row_normalize_features=*/true);
  const auto file = scratch_dir("cache_cora") / "cora.h5";
  save_dataset_h5(ds, file);
  auto back = load_dataset_h5(file);
  EXPECT_EQ(back.name, ds.name);
  EXPECT_EQ(back.num_classes, ds.num_classes);
  EXPECT_TRUE(back.graph == ds.graph);
  EXPECT_TRUE(torch::equal(back.features, ds.features));
  EXPECT_TRUE(torch::equal(back.labels, ds.labels));
  EXPECT_TRUE(torch::equal(back.train_mask, ds.train_mask));
  EXPECT_TRUE(torch::equal(back.val_mask, ds.val_mask));
  EXPECT_TRUE(torch::equal(back.test_mask, ds.test_mask));
  // The registry opens a cache by path.
  auto via_registry = load_node_dataset(file.string(), "unused-root");
  EXPECT_TRUE(via_registry.graph == ds.graph);
}

TEST(DatasetCache, NonFiniteFeaturesAndDegenerateGraphsAreRefusedAtLoad) {
  // Issue 14 class 7: NaN/Inf features and graphs of fewer than 2 nodes are refused when loaded, naming the file
  // and the first bad entry, instead of surfacing as a divergence after the training started.
  auto ds = make_synthetic(parse_synthetic_spec("synthetic:nodes=50,degree=4,classes=3,dim=6,homophily=0.5,seed=1"));
  const auto dir = scratch_dir("cache_nonfinite");
  ds.features[7][4] = std::numeric_limits<float>::quiet_NaN();
  ds.features[9][1] = std::numeric_limits<float>::infinity();
  save_dataset_h5(ds, dir / "nan.h5");
  const auto msg = error_of([&] { load_node_dataset((dir / "nan.h5").string(), "unused-root"); });
  EXPECT_NE(msg.find("nan.h5: feature [7, 4] (node 7) is nan; every feature must be finite (2 are not)"),
            std::string::npos)
      << msg;
  auto one = make_synthetic(parse_synthetic_spec("synthetic:nodes=1,degree=0,classes=1,dim=3,homophily=0.5,seed=1"));
  save_dataset_h5(one, dir / "one.h5");
  const auto msg1 = error_of([&] { load_node_dataset((dir / "one.h5").string(), "unused-root"); });
  EXPECT_NE(msg1.find("one.h5: the graph has 1 node(s); self-supervised training needs at least 2"), std::string::npos)
      << msg1;
  // Issue 14 class 4: a declared class count the nodes cannot back is refused at load, not in the probe.
  auto many = make_synthetic(parse_synthetic_spec("synthetic:nodes=20,degree=3,classes=2,dim=3,homophily=0.5,seed=1"));
  many.num_classes = 1000000000;
  save_dataset_h5(many, dir / "classes.h5");
  const auto msg2 = error_of([&] { load_node_dataset((dir / "classes.h5").string(), "unused-root"); });
  EXPECT_NE(msg2.find("classes.h5: 1000000000 classes declared for 20 nodes whose labels span 2"), std::string::npos)
      << msg2;
}

TEST(DatasetCache, RecordsTheNormalisationAppliedBeforeWriting) {
  const auto dir = scratch_dir("cache_normalisation");
  const std::string spec = "synthetic:nodes=30,degree=4,classes=3,dim=5,homophily=0.5,seed=2";
  auto plain = load_node_dataset(spec, "unused-root");
  EXPECT_EQ(plain.feature_normalization, "");
  auto both = load_node_dataset(spec, "unused-root", LoadOptions{.row_normalize = true, .standardize = true});
  EXPECT_EQ(both.feature_normalization, "row+standard");
  save_dataset_h5(both, dir / "both.h5");
  EXPECT_EQ(read_h5_attrs(dir / "both.h5").at("feature_normalization"), "row+standard");
  EXPECT_EQ(load_node_dataset((dir / "both.h5").string(), "unused-root").feature_normalization, "row+standard");
}

TEST(DatasetCache, MissingOrInconsistentPartsAreNamed) {
  const auto dir = scratch_dir("cache_bad");
  const std::map<std::string, std::string> attrs = {
      {"format", "graphmae2-node-dataset"}, {"version", "1"}, {"name", "tiny"}, {"num_classes", "2"}};
  auto indptr = torch::tensor({0, 1, 2}, torch::kInt64);
  auto indices = torch::tensor({1, 0}, torch::kInt64);
  auto mask = torch::zeros({2}, torch::kBool);
  write_h5(dir / "no_labels.h5",
           {{"graph/indptr", indptr},
            {"graph/indices", indices},
            {"features", torch::ones({2, 3})},
            {"train_mask", mask},
            {"val_mask", mask},
            {"test_mask", mask}},
           attrs);
  auto msg = error_of([&] { load_dataset_h5(dir / "no_labels.h5"); });
  EXPECT_NE(msg.find("no_labels.h5: has no dataset 'labels'"), std::string::npos) << msg;
  write_h5(dir / "bad_label.h5",
           {{"graph/indptr", indptr},
            {"graph/indices", indices},
            {"features", torch::ones({2, 3})},
            {"labels", torch::tensor({0, 5}, torch::kInt64)},
            {"train_mask", mask},
            {"val_mask", mask},
            {"test_mask", mask}},
           attrs);
  msg = error_of([&] { load_dataset_h5(dir / "bad_label.h5"); });
  EXPECT_NE(msg.find("bad_label.h5: inconsistent dataset"), std::string::npos) << msg;
  EXPECT_NE(msg.find("num_classes is 2"), std::string::npos) << msg;
  write_h5(dir / "other.h5", {{"a", torch::ones({1})}}, {{"format", "something-else"}, {"version", "1"}});
  msg = error_of([&] { load_dataset_h5(dir / "other.h5"); });
  EXPECT_NE(msg.find("format 'something-else'"), std::string::npos) << msg;
}

}  // namespace
TEST(Hdf5Io, NumpyBoolMasksAsH5pyWritesThemAreRead) {
  // h5py stores a numpy bool array as an enum {FALSE = 0, TRUE = 1} over int8.
  const auto file = scratch_dir("h5_enum_bool") / "mask.h5";
  {
    H5::H5File f(file.string(), H5F_ACC_TRUNC);
    H5::EnumType type(H5::PredType::NATIVE_INT8);
    int8_t no = 0, yes = 1;
    type.insert("FALSE", &no);
    type.insert("TRUE", &yes);
    const hsize_t dims[1] = {4};
    const int8_t values[4] = {1, 0, 0, 1};
    f.createDataSet("train_mask", type, H5::DataSpace(1, dims)).write(values, type);
    H5::EnumType other(H5::PredType::NATIVE_INT8);
    int8_t red = 0, green = 1, blue = 2;
    other.insert("RED", &red);
    other.insert("GREEN", &green);
    other.insert("BLUE", &blue);
    f.createDataSet("colour", other, H5::DataSpace(1, dims)).write(values, other);
  }
  EXPECT_TRUE(torch::equal(read_h5_tensor(file, "train_mask"), torch::tensor({true, false, false, true})));
  const auto msg = graphmae2::testing::error_of([&] { read_h5_tensor(file, "colour"); });
  EXPECT_NE(msg.find("an enum other than numpy's bool"), std::string::npos) << msg;
}

}  // namespace graphmae2::datasets
