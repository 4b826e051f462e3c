// IDX reader: round trips, byte order, gzip, and clear errors on damaged files.

#include "datasets/idx.h"
#include "fixtures/paths.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using graphmae2::datasets::load_idx_image_dataset;
using graphmae2::datasets::read_idx;
using graphmae2::datasets::write_idx;

namespace {

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  os.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const fs::path& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream is(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(is), {});
}

/// The error message of read_idx(path), or "" if it did not throw.
std::string read_error(const fs::path& path) {
  try {
    read_idx(path);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// A 2 x 3 uint8 tensor in IDX: magic 00 00 08 02, sizes 2 and 3, then 6 bytes.
std::vector<uint8_t> small_u8() { return {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 250}; }

}  // namespace

TEST(Idx, ReadsHandWrittenUint8) {
  const auto dir = graphmae2::testing::scratch_dir("idx_u8");
  write_bytes(dir / "a.idx", small_u8());
  const auto t = read_idx(dir / "a.idx");
  EXPECT_EQ(t.scalar_type(), torch::kUInt8);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 3}));
  const std::vector<int> expect = {1, 2, 3, 4, 5, 250};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.view(-1)[i].item<int>(), expect[i]);
}

TEST(Idx, ReadsBigEndianInt32AndFloat) {
  const auto dir = graphmae2::testing::scratch_dir("idx_be");
  // int32 [2]: 0x01020304 = 16909060 and 0xFFFFFFFE = -2.
  write_bytes(dir / "i.idx", {0, 0, 0x0C, 1, 0, 0, 0, 2, 1, 2, 3, 4, 0xFF, 0xFF, 0xFF, 0xFE});
  const auto i = read_idx(dir / "i.idx");
  EXPECT_EQ(i.scalar_type(), torch::kInt32);
  EXPECT_EQ(i[0].item<int32_t>(), 16909060);
  EXPECT_EQ(i[1].item<int32_t>(), -2);
  // float32 [1]: 0x3FC00000 = 1.5.
  write_bytes(dir / "f.idx", {0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3F, 0xC0, 0, 0});
  EXPECT_EQ(read_idx(dir / "f.idx")[0].item<float>(), 1.5f);
}

TEST(Idx, WriteReadRoundTripEveryType) {
  const auto dir = graphmae2::testing::scratch_dir("idx_round");
  torch::manual_seed(0);
  const std::vector<torch::Tensor> tensors = {torch::randint(0, 256, {3, 4, 5}).to(torch::kUInt8),
                                              torch::randint(-128, 128, {7}).to(torch::kInt8),
                                              torch::randint(-30000, 30000, {4, 2}).to(torch::kInt16),
                                              torch::randint(-100000, 100000, {9}).to(torch::kInt32),
                                              torch::randn({2, 3}),
                                              torch::randn({5}, torch::kFloat64)};
  for (size_t k = 0; k < tensors.size(); ++k) {
    const auto path = dir / ("t" + std::to_string(k) + ".idx");
    write_idx(path, tensors[k]);
    const auto back = read_idx(path);
    EXPECT_EQ(back.scalar_type(), tensors[k].scalar_type()) << k;
    EXPECT_TRUE(torch::equal(back, tensors[k])) << k;
  }
}

TEST(Idx, GzipAndPlainGiveTheSameTensor) {
  const auto dir = graphmae2::testing::scratch_dir("idx_gz");
  write_bytes(dir / "a.idx", small_u8());
  write_gzip(dir / "a.idx.gz", small_u8());
  ASSERT_EQ(read_bytes(dir / "a.idx.gz")[0], 0x1f);  // really compressed
  EXPECT_TRUE(torch::equal(read_idx(dir / "a.idx"), read_idx(dir / "a.idx.gz")));
}

TEST(Idx, WrongMagicNamesFileAndOffset) {
  const auto dir = graphmae2::testing::scratch_dir("idx_magic");
  auto bytes = small_u8();
  bytes[0] = 0x01;
  write_bytes(dir / "bad.idx", bytes);
  const auto msg = read_error(dir / "bad.idx");
  EXPECT_NE(msg.find("bad.idx"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("wrong magic"), std::string::npos) << msg;
  // A file that is not IDX at all (text) fails the same way.
  write_bytes(dir / "text.idx", {'h', 'e', 'l', 'l', 'o', '\n'});
  EXPECT_NE(read_error(dir / "text.idx").find("wrong magic"), std::string::npos);
}

TEST(Idx, UnknownTypeAndZeroRank) {
  const auto dir = graphmae2::testing::scratch_dir("idx_type");
  write_bytes(dir / "t.idx", {0, 0, 0x0A, 1, 0, 0, 0, 1, 0});
  auto msg = read_error(dir / "t.idx");
  EXPECT_NE(msg.find("unknown element type 0x0a"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte 2"), std::string::npos) << msg;
  write_bytes(dir / "r.idx", {0, 0, 0x08, 0});
  msg = read_error(dir / "r.idx");
  EXPECT_NE(msg.find("rank is 0"), std::string::npos) << msg;
}

TEST(Idx, TruncatedDataNamesOffset) {
  const auto dir = graphmae2::testing::scratch_dir("idx_trunc");
  auto bytes = small_u8();
  bytes.resize(bytes.size() - 2);  // 4 of 6 data bytes: the data starts at 12 and ends at 16
  write_bytes(dir / "short.idx", bytes);
  const auto msg = read_error(dir / "short.idx");
  EXPECT_NE(msg.find("short.idx"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated data"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte 16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected 6 bytes at offset 12"), std::string::npos) << msg;
}

TEST(Idx, TruncatedHeaderAndEmptyFile) {
  const auto dir = graphmae2::testing::scratch_dir("idx_header");
  write_bytes(dir / "h.idx", {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0});  // second size cut after 2 bytes
  auto msg = read_error(dir / "h.idx");
  EXPECT_NE(msg.find("truncated header (size of dimension 1)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte 10"), std::string::npos) << msg;
  write_bytes(dir / "empty.idx", {});
  msg = read_error(dir / "empty.idx");
  EXPECT_NE(msg.find("truncated header (magic)"), std::string::npos) << msg;
}

TEST(Idx, TrailingBytesAreAnError) {
  const auto dir = graphmae2::testing::scratch_dir("idx_trail");
  auto bytes = small_u8();
  bytes.push_back(7);
  write_bytes(dir / "long.idx", bytes);
  const auto msg = read_error(dir / "long.idx");
  EXPECT_NE(msg.find("trailing bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte 18"), std::string::npos) << msg;
}

TEST(Idx, TruncatedGzipIsAnError) {
  const auto dir = graphmae2::testing::scratch_dir("idx_gztrunc");
  torch::manual_seed(1);
  write_idx(dir / "big.idx", torch::randint(0, 256, {50, 28, 28}).to(torch::kUInt8));
  const auto plain = read_bytes(dir / "big.idx");
  write_gzip(dir / "big.idx.gz", plain);
  auto gz = read_bytes(dir / "big.idx.gz");
  gz.resize(gz.size() / 2);
  write_bytes(dir / "cut.idx.gz", gz);
  const auto msg = read_error(dir / "cut.idx.gz");
  EXPECT_NE(msg.find("cut.idx.gz"), std::string::npos) << msg;
  EXPECT_FALSE(msg.empty());
}

TEST(Idx, MissingFileListsPathsTried) {
  const auto dir = graphmae2::testing::scratch_dir("idx_missing");
  try {
    load_idx_image_dataset(dir, "train");
    FAIL() << "no error for an empty folder";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("train-images-idx3-ubyte.gz"), std::string::npos) << msg;
    EXPECT_NE(msg.find((dir / "train-images-idx3-ubyte").string() + " "), std::string::npos) << msg;
  }
}

TEST(Idx, ImageDatasetFromPlainFilesAndCountMismatch) {
  const auto dir = graphmae2::testing::scratch_dir("idx_ds");
  write_idx(dir / "train-images-idx3-ubyte", torch::arange(4 * 2 * 3).reshape({4, 2, 3}).to(torch::kUInt8));
  write_idx(dir / "train-labels-idx1-ubyte", torch::tensor({2, 0, 1, 2}, torch::kUInt8));
  const auto ds = load_idx_image_dataset(dir, "train", "tiny");
  EXPECT_EQ(ds.name, "tiny");
  EXPECT_EQ(ds.images.sizes(), (std::vector<int64_t>{4, 1, 2, 3}));
  EXPECT_EQ(ds.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(ds.num_classes, 3);
  EXPECT_EQ(ds.images[3][0][1][2].item<int>(), 23);
  write_idx(dir / "t10k-images-idx3-ubyte", torch::zeros({3, 2, 2}, torch::kUInt8));
  write_idx(dir / "t10k-labels-idx1-ubyte", torch::zeros({2}, torch::kUInt8));
  EXPECT_THROW(load_idx_image_dataset(dir, "t10k"), std::runtime_error);
}

// Facts of Fashion-MNIST (Xiao et al. 2017): 60000 train / 10000 test images of 28 x 28, 10 balanced classes.
TEST(Idx, FashionMnistFromTheDebianPackage) {
  const fs::path root = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(root / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto test = load_idx_image_dataset(root, "t10k", "fashion-mnist");
  EXPECT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(test.num_classes, 10);
  const auto counts = torch::bincount(test.labels);
  for (int c = 0; c < 10; ++c) EXPECT_EQ(counts[c].item<int64_t>(), 1000) << c;
  const auto train = load_idx_image_dataset(root, "train", "fashion-mnist");
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(torch::bincount(train.labels).min().item<int64_t>(), 6000);
}
