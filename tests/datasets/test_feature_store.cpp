// FeatureStore: rows read from an .h5 cache on disk equal the resident matrix's rows (float32 exactly, float16
// as numpy's rounding); normalisation with column statistics from a chunked pass equals normalising the whole
// matrix; bad files are refused with the file, dataset and position named. Also the streamed HDF5 writer.

#include "datasets/dataset.h"
#include "datasets/dataset_h5.h"
#include "datasets/feature_store.h"
#include "datasets/hdf5_io.h"

#include "fixtures/errors.h"
#include "fixtures/paths.h"
#include "fixtures/tiny_dataset.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace ds = graphmae2::datasets;
using graphmae2::testing::error_of;

namespace {

torch::Tensor random_features(int64_t n, int64_t d, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::rand({n, d}) * 3 - 1;
}

std::filesystem::path cache_with(const std::string& name, const torch::Tensor& features, torch::ScalarType dtype) {
  auto data = graphmae2::testing::tiny_dataset(features.size(0));
  data.features = features;
  const auto file = graphmae2::testing::scratch_dir(name) / "cache.h5";
  ds::save_dataset_h5(data, file, dtype);
  return file;
}

TEST(FeatureStore, ResidentGatherIsIndexSelectWidenedToFloat32) {
  const auto x = random_features(50, 7, 1);
  const auto ids = torch::tensor(std::vector<int64_t>{3, 0, 49, 3, 17});
  EXPECT_TRUE(torch::equal(ds::FeatureStore(x).gather(ids), x.index_select(0, ids)));
  const auto half = x.to(torch::kHalf);
  const auto got = ds::FeatureStore(half).gather(ids);
  EXPECT_EQ(got.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(got, half.index_select(0, ids).to(torch::kFloat)));
  EXPECT_THROW(ds::FeatureStore(x).gather(torch::tensor({int64_t{50}})), c10::Error);
  EXPECT_THROW(ds::FeatureStore(x).gather(torch::tensor({int64_t{-1}})), c10::Error);
}

TEST(FeatureStore, RowsOnDiskEqualTheResidentRows) {
  const auto x = random_features(300, 9, 2);
  // Ids in every pattern the reader merges or not: runs of consecutive rows, repeats, reversed, the last row.
  const auto ids =
      torch::cat({torch::arange(10, 90, torch::kLong), torch::tensor(std::vector<int64_t>{299, 5, 5, 4, 3}),
                  torch::arange(200, 150, -1, torch::kLong)});
  const auto f32 = ds::FeatureStore::open_h5(cache_with("fs-f32", x, torch::kFloat32), "features");
  EXPECT_TRUE(f32.on_disk());
  EXPECT_EQ(f32.num_rows(), 300);
  EXPECT_EQ(f32.dim(), 9);
  EXPECT_EQ(f32.stored_dtype(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(f32.gather(ids), x.index_select(0, ids)));
  EXPECT_TRUE(torch::equal(f32.rows(0, 300), x));

  const auto f16 = ds::FeatureStore::open_h5(cache_with("fs-f16", x, torch::kFloat16), "features");
  EXPECT_EQ(f16.stored_dtype(), torch::kFloat16);
  EXPECT_EQ(f16.stored_bytes(), 300 * 9 * 2);
  EXPECT_TRUE(torch::equal(f16.gather(ids), x.to(torch::kHalf).to(torch::kFloat).index_select(0, ids)));
  EXPECT_THROW(f16.gather(torch::tensor({int64_t{300}})), c10::Error);
}

TEST(FeatureStore, NormalisationFromAChunkedPassEqualsNormalisingTheWholeMatrix) {
  // More rows than one pass chunk (65,536), with a constant column, which standardising leaves at zero.
  auto x = random_features(70000, 4, 3).abs() + 0.1;
  x.select(1, 2).fill_(0.5);
  const auto file = cache_with("fs-norm", x, torch::kFloat32);
  const auto ids = torch::tensor(std::vector<int64_t>{0, 65535, 65536, 69999, 123});
  for (const bool row : {false, true}) {
    ds::FeatureNormalization norm;
    norm.row_normalize = row;
    norm.standardize = true;
    const auto whole = ds::standardize(row ? ds::row_normalize(x) : x).index_select(0, ids);
    const auto disk = ds::FeatureStore::open_h5(file, "features", norm).gather(ids);
    const auto resident = ds::FeatureStore(x, norm).gather(ids);
    EXPECT_TRUE(torch::allclose(disk, whole, 1e-4, 1e-4)) << "row_normalize " << row << "\n" << disk - whole;
    EXPECT_TRUE(torch::allclose(resident, whole, 1e-4, 1e-4)) << "row_normalize " << row;
  }
  ds::FeatureNormalization rows_only;
  rows_only.row_normalize = true;
  EXPECT_TRUE(torch::allclose(ds::FeatureStore::open_h5(file, "features", rows_only).gather(ids),
                              ds::row_normalize(x).index_select(0, ids)));
}

TEST(FeatureStore, BadFilesAreRefusedNamingFileDatasetAndPosition) {
  const auto dir = graphmae2::testing::scratch_dir("fs-bad");
  EXPECT_NE(error_of([&] { ds::FeatureStore::open_h5(dir / "none.h5", "features"); }).find("no such file"),
            std::string::npos);

  auto x = random_features(20, 3, 4);
  const auto file = cache_with("fs-bad-nan", x, torch::kFloat32);
  EXPECT_NE(error_of([&] { ds::FeatureStore::open_h5(file, "missing"); }).find("has no dataset 'missing'"),
            std::string::npos);
  x[13][2] = std::numeric_limits<float>::quiet_NaN();
  ds::write_h5(dir / "nan.h5", {{"features", x}});
  const auto nan = error_of([&] { ds::FeatureStore::open_h5(dir / "nan.h5", "features"); });
  EXPECT_NE(nan.find("nan.h5"), std::string::npos) << nan;
  EXPECT_NE(nan.find("[13, 2]"), std::string::npos) << nan;

  // A chunked dataset (as write_h5_streamed stores rows) cannot be read by byte offset.
  ds::write_h5_streamed(dir / "chunked.h5", {}, {}, {"features", torch::kFloat32, {20, 3}},
                        [&](ds::H5RowSink& sink) { sink.write_rows(0, random_features(20, 3, 5)); });
  const auto chunked = error_of([&] { ds::FeatureStore::open_h5(dir / "chunked.h5", "features"); });
  EXPECT_NE(chunked.find("chunked or compressed"), std::string::npos) << chunked;

  // A file cut short: the shape promises more bytes than the file holds.
  const auto big = cache_with("fs-bad-cut", random_features(5000, 8, 6), torch::kFloat32);
  std::filesystem::resize_file(big, std::filesystem::file_size(big) - 50000);
  const auto cut = error_of([&] { ds::FeatureStore::open_h5(big, "features"); });
  EXPECT_NE(cut.find("truncated"), std::string::npos) << cut;
  EXPECT_NE(cut.find("cache.h5"), std::string::npos) << cut;

  const auto ints = dir / "ints.h5";
  ds::write_h5(ints, {{"features", torch::ones({4, 2}, torch::kLong)}});
  EXPECT_NE(error_of([&] { ds::FeatureStore::open_h5(ints, "features"); }).find("not floating point"),
            std::string::npos);
}

TEST(DatasetH5, Float16CacheHalvesTheFeaturesAndLoadsAsFloat32) {
  const auto x = random_features(40, 6, 7);
  const auto f32 = cache_with("h5-f32", x, torch::kFloat32), f16 = cache_with("h5-f16", x, torch::kFloat16);
  EXPECT_EQ(ds::read_h5_tensor(f16, "features").scalar_type(), torch::kFloat16);
  EXPECT_EQ(ds::h5_shape(f16, "features"), (std::vector<int64_t>{40, 6}));
  const auto back = ds::load_dataset_h5(f16);
  EXPECT_EQ(back.features.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(back.features, x.to(torch::kHalf).to(torch::kFloat)));
  EXPECT_LT(std::filesystem::file_size(f16), std::filesystem::file_size(f32));
  const auto no_features = ds::load_dataset_h5(f16, /*with_features=*/false);
  EXPECT_EQ(no_features.features.sizes(), (std::vector<int64_t>{40, 0}));
  EXPECT_TRUE(torch::equal(no_features.labels, back.labels));

  auto data = graphmae2::testing::tiny_dataset(10);
  data.features[4][1] = 70000.0;
  const auto out = graphmae2::testing::scratch_dir("h5-f16-overflow") / "cache.h5";
  const auto msg = error_of([&] { ds::save_dataset_h5(data, out, torch::kFloat16); });
  EXPECT_NE(msg.find("[4, 1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("overflows float16"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(out)) << "nothing written half";
}

TEST(Hdf5Io, StreamedRowsReadBackAndAFailedFillLeavesNoFile) {
  const auto dir = graphmae2::testing::scratch_dir("h5-streamed");
  const auto x = random_features(1000, 5, 8);
  ds::write_h5_streamed(dir / "rows.h5", {{"ids", torch::arange(1000, torch::kLong)}}, {{"what", "test"}},
                        {"emb/values", torch::kFloat32, {1000, 5}}, [&](ds::H5RowSink& sink) {
                          for (int64_t begin = 1000; begin > 0; begin -= 300) {  // any order, uneven chunks
                            const int64_t first = std::max<int64_t>(0, begin - 300);
                            sink.write_rows(first, x.narrow(0, first, begin - first));
                          }
                        });
  EXPECT_TRUE(torch::equal(ds::read_h5_tensor(dir / "rows.h5", "emb/values"), x));
  EXPECT_EQ(ds::read_h5_attrs(dir / "rows.h5").at("what"), "test");

  const auto wrong = error_of([&] {
    ds::write_h5_streamed(dir / "wrong.h5", {}, {}, {"values", torch::kFloat32, {10, 5}}, [&](ds::H5RowSink& sink) {
      sink.write_rows(8, torch::zeros({3, 5}));
    });
  });
  EXPECT_NE(wrong.find("do not fit at row 8"), std::string::npos) << wrong;
  EXPECT_FALSE(std::filesystem::exists(dir / "wrong.h5"));
  EXPECT_THROW(ds::write_h5_streamed(dir / "thrown.h5", {}, {}, {"values", torch::kFloat32, {10, 5}},
                                     [&](ds::H5RowSink&) { throw std::runtime_error("inference failed"); }),
               std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(dir / "thrown.h5"));
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << "temp file left: " << entry.path();
  }
}

}  // namespace
