// OGB readers: the real partial ogbn-arxiv files, Cora exported to OGB layout and read back, a tiny
// papers100M-style binary folder, gzip-CSV and npz error paths. Every fixture file is written here.

#include "fixtures/errors.h"
#include "datasets/csv_gz.h"
#include "datasets/dataset_h5.h"
#include "datasets/feature_store.h"
#include "datasets/npz.h"
#include "datasets/ogb.h"
#include "datasets/planetoid.h"
#include "datasets/registry.h"
#include "fixtures/paths.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>

namespace graphmae2::datasets {
using graphmae2::testing::error_of;

namespace {

namespace fs = std::filesystem;
using graphmae2::testing::scratch_dir;
using graphmae2::testing::shared_datasets_dir;

void write_gz(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  gzFile f = gzopen(file.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// ---------------------------------------------------------------- the real partial ogbn-arxiv

fs::path arxiv_raw() { return shared_datasets_dir() / "ogbn-arxiv-partial" / "raw"; }

TEST(OgbArxivPartial, CountsLabelsAndTimeSplitMatchTheReadme) {
  EXPECT_EQ(read_ogb_count(arxiv_raw() / "num-node-list.csv.gz"), 169343);
  EXPECT_EQ(read_ogb_count(arxiv_raw() / "num-edge-list.csv.gz"), 1166243);
  auto labels = read_label_csv(arxiv_raw() / "node-label.csv.gz");
  ASSERT_EQ(labels.size(0), 169343);
  EXPECT_EQ(labels.min().item<int64_t>(), 0);
  EXPECT_EQ(labels.max().item<int64_t>(), 39);
  EXPECT_EQ(ogb_info("ogbn-arxiv").num_classes, 40);
  auto years = torch::tensor(read_int_csv(arxiv_raw() / "node_year.csv.gz", 1));
  ASSERT_EQ(years.size(0), 169343);
  auto split = ogb_time_split(years);
  EXPECT_EQ(split.train.sum().item<int64_t>(), 90941);
  EXPECT_EQ(split.valid.sum().item<int64_t>(), 29799);
  EXPECT_EQ(split.test.sum().item<int64_t>(), 48603);
  // Disjoint and covering, checked by a plain loop over the years.
  auto y = years.accessor<int64_t, 1>();
  auto tr = split.train.accessor<bool, 1>(), va = split.valid.accessor<bool, 1>(), te = split.test.accessor<bool, 1>();
  for (int64_t v = 0; v < years.size(0); ++v) {
    ASSERT_EQ(tr[v] + va[v] + te[v], 1) << v;
    ASSERT_EQ(tr[v], y[v] <= 2017) << v;
    ASSERT_EQ(va[v], y[v] == 2018) << v;
  }
}

TEST(OgbArxivPartial, MissingEdgeFileIsAClearError) {
  const auto dir = shared_datasets_dir() / "ogbn-arxiv-partial";
  EXPECT_TRUE(is_ogb_folder(dir));
  const auto msg = error_of([&] { read_ogb_node_dataset(dir, "ogbn-arxiv"); });
  EXPECT_NE(msg.find("edge.csv.gz: missing OGB file"), std::string::npos) << msg;
}

// ---------------------------------------------------------------- Cora in OGB csv layout

// Writes `ds` in OGB raw layout with the product's writer; with `one_direction` each undirected edge once.
void export_ogb(const NodeDataset& ds, const fs::path& dir, bool one_direction) {
  write_ogb_node_dataset(ds, dir, "public", one_direction);
}

void expect_same(const NodeDataset& a, const NodeDataset& b) {
  EXPECT_TRUE(a.graph == b.graph) << a.graph.summary() << " vs " << b.graph.summary();
  EXPECT_TRUE(torch::equal(a.features, b.features));
  EXPECT_TRUE(torch::equal(a.labels, b.labels));
  EXPECT_TRUE(torch::equal(a.train_mask, b.train_mask));
  EXPECT_TRUE(torch::equal(a.val_mask, b.val_mask));
  EXPECT_TRUE(torch::equal(a.test_mask, b.test_mask));
  EXPECT_EQ(a.num_classes, b.num_classes);
}

TEST(OgbCsv, CoraExportedToOgbLayoutReadsBackEqual) {
  auto cora = read_planetoid(shared_datasets_dir() / "planetoid", "cora", /*row_normalize_features=*/true);
  const auto dir = scratch_dir("ogb_cora") / "cora_ogb";
  export_ogb(cora, dir, /*one_direction=*/false);
  auto back = read_ogb_node_dataset(dir);
  EXPECT_EQ(back.name, "cora-ogb");
  expect_same(back, cora);
  // The registry accepts the folder path.
  expect_same(load_node_dataset(dir.string(), "unused"), cora);
}

TEST(OgbCsv, InverseEdgesAreAddedWhenAsked) {
  auto cora = read_planetoid(shared_datasets_dir() / "planetoid", "cora");
  const auto dir = scratch_dir("ogb_cora_half") / "cora_half";
  export_ogb(cora, dir, /*one_direction=*/true);
  auto directed = read_ogb_node_dataset(dir);
  EXPECT_EQ(directed.graph.num_edges(), cora.graph.num_edges() / 2);
  auto both = read_ogb_node_dataset(dir, "", OgbOptions{.add_inverse_edge = true});
  expect_same(both, cora);
  auto sym = read_ogb_node_dataset(dir, "", OgbOptions{.symmetrize = true});
  expect_same(sym, cora);
  auto via_registry = load_node_dataset(dir.string(), "unused", LoadOptions{.symmetrize = true});
  EXPECT_TRUE(via_registry.graph == cora.graph);
}

// A 4-node OGB folder to break one file at a time.
fs::path tiny_ogb(const std::string& scratch) {
  const auto dir = scratch_dir(scratch) / "tiny";
  write_gz(dir / "raw" / "edge.csv.gz", "0,1\n1,2\n2,3\n3,0\n");
  write_gz(dir / "raw" / "num-node-list.csv.gz", "4\n");
  write_gz(dir / "raw" / "num-edge-list.csv.gz", "4\n");
  write_gz(dir / "raw" / "node-feat.csv.gz", "0.5,1\n1,2\n-3,4e-2\n0,0\n");
  write_gz(dir / "raw" / "node-label.csv.gz", "0\n1\n1\n2\n");
  write_gz(dir / "split" / "s" / "train.csv.gz", "0\n1\n");
  write_gz(dir / "split" / "s" / "valid.csv.gz", "2\n");
  write_gz(dir / "split" / "s" / "test.csv.gz", "3\n");
  return dir;
}

TEST(OgbCsv, TinyFolderReadsAsWritten) {
  auto ds = read_ogb_node_dataset(tiny_ogb("ogb_tiny"));
  EXPECT_EQ(ds.num_nodes(), 4);
  EXPECT_EQ(ds.num_classes, 3);
  EXPECT_TRUE(torch::equal(ds.graph.indptr, torch::tensor({0, 1, 2, 3, 4}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(ds.graph.indices, torch::tensor({3, 0, 1, 2}, torch::kInt64)));  // row v: source of v
  EXPECT_TRUE(torch::equal(ds.features, torch::tensor({0.5f, 1.f, 1.f, 2.f, -3.f, 4e-2f, 0.f, 0.f}).view({4, 2})));
  EXPECT_EQ(ds.train_mask.sum().item<int64_t>(), 2);
}

TEST(OgbCsv, SeveralSplitFoldersAreChosenWithSplit) {
  const auto dir = tiny_ogb("ogb_tiny_splits");
  write_gz(dir / "split" / "other" / "train.csv.gz", "3\n");
  write_gz(dir / "split" / "other" / "valid.csv.gz", "0\n");
  write_gz(dir / "split" / "other" / "test.csv.gz", "1\n2\n");
  auto msg = error_of([&] { load_node_dataset(dir.string(), "unused"); });
  EXPECT_NE(msg.find("has 2 split folders (other, s); choose one with --split NAME"), std::string::npos) << msg;
  const auto other = load_node_dataset(dir.string(), "unused", LoadOptions{.split = "other"});
  EXPECT_TRUE(torch::equal(other.train_mask, torch::tensor({false, false, false, true})));
  EXPECT_EQ(load_node_dataset(dir.string(), "unused", LoadOptions{.split = "s"}).train_mask.sum().item<int64_t>(), 2);
  msg = error_of([&] { load_node_dataset(dir.string(), "unused", LoadOptions{.split = "time"}); });
  EXPECT_NE(msg.find((dir / "split" / "time").string() + ": missing"), std::string::npos) << msg;
  EXPECT_NE(msg.find("there are: other, s"), std::string::npos) << msg;
  msg = error_of([&] { load_node_dataset("cora", shared_datasets_dir(), LoadOptions{.split = "s"}); });
  EXPECT_NE(msg.find("is not one"), std::string::npos) << msg;
}

TEST(OgbCsv, BadLinesNameFileAndLine) {
  auto dir = tiny_ogb("ogb_bad_edge");
  write_gz(dir / "raw" / "edge.csv.gz", "0,1\n1,2\n2,x3\n3,0\n");
  auto msg = error_of([&] { read_ogb_node_dataset(dir); });
  EXPECT_NE(msg.find("edge.csv.gz: line 3: field 2 is 'x3'"), std::string::npos) << msg;

  dir = tiny_ogb("ogb_bad_fields");
  write_gz(dir / "raw" / "edge.csv.gz", "0,1\n1,2,5\n2,3\n3,0\n");
  msg = error_of([&] { read_ogb_node_dataset(dir); });
  EXPECT_NE(msg.find("edge.csv.gz: line 2: has 3 fields, expected 2"), std::string::npos) << msg;

  dir = tiny_ogb("ogb_bad_feat");
  write_gz(dir / "raw" / "node-feat.csv.gz", "0.5,1\n1,2\n-3,nan\n0,0\n");
  msg = error_of([&] { read_ogb_node_dataset(dir); });
  EXPECT_NE(msg.find("node-feat.csv.gz: line 3: field 2 is 'nan', expected a finite number"), std::string::npos) << msg;

  dir = tiny_ogb("ogb_short_feat");
  write_gz(dir / "raw" / "node-feat.csv.gz", "0.5,1\n1,2\n-3,4\n");
  msg = error_of([&] { read_ogb_node_dataset(dir); });
  EXPECT_NE(msg.find("node-feat.csv.gz: line 3: the file ends after 3 lines, expected 4"), std::string::npos) << msg;

  dir = tiny_ogb("ogb_edge_range");
  write_gz(dir / "raw" / "edge.csv.gz", "0,1\n1,2\n2,7\n3,0\n");
  msg = error_of([&] { read_ogb_node_dataset(dir); });
  EXPECT_NE(msg.find("edge.csv.gz: edge 2 (2 -> 7)"), std::string::npos) << msg;

  dir = tiny_ogb("ogb_split_range");
  write_gz(dir / "split" / "s" / "test.csv.gz", "3\n4\n");
  msg = error_of([&] { read_ogb_node_dataset(dir); });
  EXPECT_NE(msg.find("test.csv.gz: line 2: node id 4 outside [0, 4)"), std::string::npos) << msg;

  dir = tiny_ogb("ogb_edge_count");
  write_gz(dir / "raw" / "num-edge-list.csv.gz", "5\n");
  msg = error_of([&] { read_ogb_node_dataset(dir); });
  EXPECT_NE(msg.find("has 4 edges, num-edge-list.csv.gz says 5"), std::string::npos) << msg;

  dir = tiny_ogb("ogb_no_feat");
  fs::remove(dir / "raw" / "node-feat.csv.gz");
  msg = error_of([&] { read_ogb_node_dataset(dir); });
  EXPECT_NE(msg.find("node-feat.csv.gz: missing OGB file"), std::string::npos) << msg;
}

TEST(OgbCsv, DamagedGzipIsAnError) {
  auto dir = tiny_ogb("ogb_bad_gzip");
  // A long edge file cut in the middle of its deflate stream.
  std::string edges;
  for (int k = 0; k < 20000; ++k) edges += std::to_string(k % 4) + "," + std::to_string((k + 1) % 4) + "\n";
  const auto file = dir / "raw" / "edge.csv.gz";
  write_gz(file, edges);
  fs::resize_file(file, fs::file_size(file) / 2);
  const auto msg = error_of([&] { read_int_csv(file, 2); });
  EXPECT_NE(msg.find(file.string() + ": gzip error"), std::string::npos) << msg;
}

TEST(CsvParse, AcceptsCrLfNoFinalNewlineAndPlus) {
  auto v = parse_int_csv("1,2\r\n+3,-4\n5,6", 2, "mem");
  EXPECT_EQ(v, (std::vector<int64_t>{1, 2, 3, -4, 5, 6}));
  auto f = parse_float_csv("1.5,2\n3,4e1\n", -1, "mem");
  EXPECT_TRUE(torch::equal(f, torch::tensor({1.5f, 2.f, 3.f, 40.f}).view({2, 2})));
  auto l = parse_label_csv("3\nnan\n2.0\n", "mem");
  EXPECT_TRUE(torch::equal(l, torch::tensor({3, -1, 2}, torch::kInt64)));
  EXPECT_NE(error_of([&] { parse_int_csv("1,2\n\n3,4\n", 2, "mem"); }).find("mem: line 2"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_label_csv("1\n2.5\n", "mem"); }).find("mem: line 2"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_float_csv("1,2\n", 1000000000, "mem"); }).find("cannot fit"), std::string::npos);
}

// ---------------------------------------------------------------- npz

std::string npy(const std::string& descr, const std::vector<int64_t>& shape, const void* data, size_t nbytes,
                bool fortran = false) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': (";
  for (size_t k = 0; k < shape.size(); ++k)
    dict += std::to_string(shape[k]) + (shape.size() == 1 ? "," : k + 1 < shape.size() ? ", " : "");
  dict += "), }";
  while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  out += dict;
  out.append(static_cast<const char*>(data), nbytes);
  return out;
}

void put(std::string& s, uint64_t v, int n) {
  for (int k = 0; k < n; ++k) s += static_cast<char>((v >> (8 * k)) & 0xff);
}

// A zip archive of the entries; deflated (raw deflate) when `deflate`, else stored.
std::string zip(const std::vector<std::pair<std::string, std::string>>& entries, bool use_deflate = false) {
  std::string out, dir;
  for (const auto& [name, raw] : entries) {
    std::string body = raw;
    if (use_deflate) {
      z_stream z{};
      deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
      body.assign(deflateBound(&z, raw.size()), '\0');
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
      z.avail_in = static_cast<uInt>(raw.size());
      z.next_out = reinterpret_cast<Bytef*>(body.data());
      z.avail_out = static_cast<uInt>(body.size());
      EXPECT_EQ(::deflate(&z, Z_FINISH), Z_STREAM_END);
      body.resize(z.total_out);
      deflateEnd(&z);
    }
    const uint32_t crc =
        static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uInt>(raw.size())));
    const uint64_t offset = out.size();
    const int method = use_deflate ? 8 : 0;
    out += "PK\x03\x04";
    put(out, 20, 2);
    put(out, 0, 2);
    put(out, method, 2);
    put(out, 0, 4);
    put(out, crc, 4);
    put(out, body.size(), 4);
    put(out, raw.size(), 4);
    put(out, name.size(), 2);
    put(out, 0, 2);
    out += name + body;
    dir += "PK\x01\x02";
    put(dir, 20, 2);
    put(dir, 20, 2);
    put(dir, 0, 2);
    put(dir, method, 2);
    put(dir, 0, 4);
    put(dir, crc, 4);
    put(dir, body.size(), 4);
    put(dir, raw.size(), 4);
    put(dir, name.size(), 2);
    put(dir, 0, 2);
    put(dir, 0, 2);
    put(dir, 0, 2);
    put(dir, 0, 2);
    put(dir, 0, 4);
    put(dir, offset, 4);
    dir += name;
  }
  const uint64_t dir_off = out.size();
  out += dir;
  out += "PK\x05\x06";
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, entries.size(), 2);
  put(out, entries.size(), 2);
  put(out, dir.size(), 4);
  put(out, dir_off, 4);
  put(out, 0, 2);
  return out;
}

TEST(Npz, ReadsStoredAndDeflatedArrays) {
  const int64_t i64[6] = {1, -2, 3, 1LL << 40, 5, 6};
  const float f32[4] = {0.5f, -1.f, 3.25f, 1e-3f};
  const uint16_t f16[4] = {0x3c00, 0xc000, 0x3800, 0x0000};  // 1, -2, 0.5, 0
  const uint8_t b1[3] = {1, 0, 1};
  const int32_t fort[6] = {1, 4, 2, 5, 3, 6};  // Fortran order of [[1,2,3],[4,5,6]]
  const std::vector<std::pair<std::string, std::string>> entries = {
      {"edge_index.npy", npy("<i8", {2, 3}, i64, sizeof i64)},
      {"x.npy", npy("<f4", {4}, f32, sizeof f32)},
      {"h.npy", npy("<f2", {2, 2}, f16, sizeof f16)},
      {"mask.npy", npy("|b1", {3}, b1, sizeof b1)},
      {"fort.npy", npy("<i4", {2, 3}, fort, sizeof fort, /*fortran=*/true)},
      {"empty.npy", npy("<f8", {0, 7}, nullptr, 0)}};
  for (bool deflate : {false, true}) {
    const auto bytes = zip(entries, deflate);
    EXPECT_EQ(npz::parse_npz_names(bytes, "mem"),
              (std::vector<std::string>{"edge_index", "x", "h", "mask", "fort", "empty"}));
    auto ei = npz::parse_npz_array(bytes, "edge_index", "mem");
    EXPECT_TRUE(torch::equal(ei, torch::tensor(std::vector<int64_t>{1, -2, 3, int64_t{1} << 40, 5, 6}).view({2, 3})));
    EXPECT_TRUE(torch::equal(npz::parse_npz_array(bytes, "x", "mem"), torch::tensor({0.5f, -1.f, 3.25f, 1e-3f})));
    auto h = npz::parse_npz_array(bytes, "h", "mem");
    EXPECT_EQ(h.scalar_type(), torch::kFloat16);
    EXPECT_TRUE(torch::equal(h.to(torch::kFloat32), torch::tensor({1.f, -2.f, 0.5f, 0.f}).view({2, 2})));
    EXPECT_TRUE(torch::equal(npz::parse_npz_array(bytes, "mask", "mem"), torch::tensor({true, false, true})));
    EXPECT_TRUE(torch::equal(npz::parse_npz_array(bytes, "fort", "mem"),
                             torch::tensor({1, 2, 3, 4, 5, 6}, torch::kInt32).view({2, 3})));
    EXPECT_EQ(npz::parse_npz_array(bytes, "empty", "mem").sizes(), (std::vector<int64_t>{0, 7}));
  }
  // The same from a file.
  const auto file = scratch_dir("npz_file") / "a.npz";
  std::ofstream(file, std::ios::binary) << zip(entries, true);
  EXPECT_EQ(npz::list_npz(file).size(), 6u);
  EXPECT_TRUE(torch::equal(npz::read_npz_array(file, "x"), torch::tensor({0.5f, -1.f, 3.25f, 1e-3f})));
}

TEST(Npz, BadInputIsNamed) {
  const double c[2] = {1, 2};
  auto msg = error_of([&] { npz::parse_npz_array(zip({{"c.npy", npy("<c8", {1}, c, 8)}}), "c", "z.npz"); });
  EXPECT_NE(msg.find("unsupported npy dtype '<c8'"), std::string::npos) << msg;
  msg = error_of([&] { npz::parse_npz_array(zip({{"b.npy", npy(">f4", {2}, c, 8)}}), "b", "z.npz"); });
  EXPECT_NE(msg.find("'>f4' (big-endian)"), std::string::npos) << msg;
  msg = error_of([&] { npz::parse_npz_array(zip({{"s.npy", npy("<f4", {3}, c, 8)}}), "s", "z.npz"); });
  EXPECT_NE(msg.find("need 3 x 4"), std::string::npos) << msg;
  // Issue 14 class 3: a zero dimension beside huge ones holds no element but overflows torch's strides.
  msg = error_of([&] {
    npz::parse_npz_array(zip({{"z.npy", npy("<f8", {0, int64_t{1} << 62, int64_t{1} << 62}, c, 0)}}), "z", "z.npz");
  });
  EXPECT_NE(msg.find("z.npz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dimension 1 (4611686018427387904) makes the shape (0, 4611686018427387904, "
                     "4611686018427387904) overflow 64-bit sizes"),
            std::string::npos)
      << msg;
  msg = error_of([&] { npz::parse_npz_array(zip({{"a.npy", npy("<f8", {2}, c, 16)}}), "nope", "z.npz"); });
  EXPECT_NE(msg.find("z.npz: no array 'nope' (has: a)"), std::string::npos) << msg;
  // A flipped data byte fails the CRC; a cut archive has no directory.
  auto bytes = zip({{"a.npy", npy("<f8", {2}, c, 16)}});
  auto flipped = bytes;
  flipped[flipped.find("NUMPY") + 66] ^= 1;  // a byte of the array data
  msg = error_of([&] { npz::parse_npz_array(flipped, "a", "z.npz"); });
  EXPECT_NE(msg.find("CRC-32 mismatch"), std::string::npos) << msg;
  for (size_t n = 0; n < bytes.size(); n += 7) {
    msg = error_of([&] { npz::parse_npz_array(std::string_view(bytes).substr(0, n), "a", "cut.npz"); });
    ASSERT_NE(msg.find("cut.npz"), std::string::npos) << n << ": " << msg;
  }
}

// A papers100M-style binary folder: 3 nodes, float16 features, one unlabelled node.
fs::path write_papers_folder(const std::string& scratch) {
  const auto dir = scratch_dir(scratch) / "ogbn_papers100M";
  fs::create_directories(dir / "raw");
  const int64_t edges[2][3] = {{0, 1, 2}, {1, 2, 0}};
  const uint16_t feat[3][2] = {{0x3c00, 0x0000}, {0x4000, 0x3800}, {0xbc00, 0x3c00}};  // 1,0 / 2,.5 / -1,1
  const int64_t nn[1] = {3}, ne[1] = {3};
  const double lab[3][1] = {{5}, {NAN}, {171}};
  std::ofstream(dir / "raw" / "data.npz", std::ios::binary)
      << zip({{"edge_index.npy", npy("<i8", {2, 3}, edges, sizeof edges)},
              {"node_feat.npy", npy("<f2", {3, 2}, feat, sizeof feat)},
              {"num_nodes_list.npy", npy("<i8", {1}, nn, 8)},
              {"num_edges_list.npy", npy("<i8", {1}, ne, 8)}},
             true);
  std::ofstream(dir / "raw" / "node-label.npz", std::ios::binary)
      << zip({{"node_label.npy", npy("<f8", {3, 1}, lab, sizeof lab)}});
  write_gz(dir / "split" / "time" / "train.csv.gz", "0\n");
  write_gz(dir / "split" / "time" / "valid.csv.gz", "");
  write_gz(dir / "split" / "time" / "test.csv.gz", "2\n");
  return dir;
}

TEST(OgbNpz, Papers100MStyleFolderReads) {
  const auto dir = write_papers_folder("ogb_papers");
  auto ds = load_node_dataset("ogbn-papers100M", dir.parent_path());
  EXPECT_EQ(ds.num_nodes(), 3);
  EXPECT_EQ(ds.num_classes, 172);
  EXPECT_TRUE(torch::equal(ds.labels, torch::tensor({5, 0, 171}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(ds.features, torch::tensor({1.f, 0.f, 2.f, .5f, -1.f, 1.f}).view({3, 2})));
  EXPECT_TRUE(torch::equal(ds.graph.indices, torch::tensor({2, 0, 1}, torch::kInt64)));
  // An unlabelled node inside a split is an error.
  write_gz(dir / "split" / "time" / "valid.csv.gz", "1\n");
  const auto msg = error_of([&] { load_node_dataset("ogbn-papers100M", dir.parent_path()); });
  EXPECT_NE(msg.find("node-label.npz: node 1 is in split 'time' but has no label"), std::string::npos) << msg;
}

TEST(OgbNpz, FloatEdgeIndexIsReadOnlyWhenIntegral) {
  // Issue 14 class 8: a float edge_index (or node count) is not truncated to integers silently.
  const auto dir = write_papers_folder("ogb_float_edges");
  const uint16_t feat[3][2] = {{0x3c00, 0x0000}, {0x4000, 0x3800}, {0xbc00, 0x3c00}};
  const int64_t ne[1] = {3};
  const auto write_data = [&](const double(&edges)[2][3], double nodes) {
    const double nn[1] = {nodes};
    std::ofstream(dir / "raw" / "data.npz", std::ios::binary | std::ios::trunc)
        << zip({{"edge_index.npy", npy("<f8", {2, 3}, edges, sizeof edges)},
                {"node_feat.npy", npy("<f2", {3, 2}, feat, sizeof feat)},
                {"num_nodes_list.npy", npy("<f8", {1}, nn, 8)},
                {"num_edges_list.npy", npy("<i8", {1}, ne, 8)}},
               true);
  };
  const double integral[2][3] = {{0, 1, 2}, {1, 2, 0}};
  write_data(integral, 3);
  EXPECT_TRUE(torch::equal(load_node_dataset("ogbn-papers100M", dir.parent_path()).graph.indices,
                           torch::tensor({2, 0, 1}, torch::kInt64)));
  const double fractional[2][3] = {{0, 1.5, 2}, {1, 2, 0}};
  write_data(fractional, 3);
  auto msg = error_of([&] { load_node_dataset("ogbn-papers100M", dir.parent_path()); });
  EXPECT_NE(msg.find("data.npz: edge_index must hold integers, but entry 1 is 1.5"), std::string::npos) << msg;
  write_data(integral, 3.25);
  msg = error_of([&] { load_node_dataset("ogbn-papers100M", dir.parent_path()); });
  EXPECT_NE(msg.find("num_nodes_list must hold integers, but entry 0 is 3.25"), std::string::npos) << msg;
}

TEST(Npz, RowsInChunksEqualTheWholeArray) {
  const auto dir = scratch_dir("npz_rows");
  const auto x = torch::arange(7 * 3, torch::kFloat32).view({7, 3}) / 4;
  for (const bool deflated : {false, true}) {
    const auto file = dir / (deflated ? "d.npz" : "s.npz");
    std::ofstream(file, std::ios::binary) << zip(
        {{"other.npy", npy("<i8", {1}, "\0\0\0\0\0\0\0\0", 8)}, {"x.npy", npy("<f4", {7, 3}, x.data_ptr(), 7 * 3 * 4)}},
        deflated);
    EXPECT_EQ(npz::npz_array_shape(file, "x"), (std::vector<int64_t>{7, 3}));
    std::vector<torch::Tensor> parts;
    std::vector<int64_t> firsts;
    npz::read_npz_rows(file, "x", 3, [&](int64_t first, const torch::Tensor& rows) {
      firsts.push_back(first);
      parts.push_back(rows.clone());
    });
    EXPECT_EQ(firsts, (std::vector<int64_t>{0, 3, 6}));
    EXPECT_EQ(parts.back().size(0), 1);
    EXPECT_TRUE(torch::equal(torch::cat(parts), x)) << "deflated " << deflated;
  }
  // A damaged entry is reported (after its rows were passed on: the CRC covers the whole entry).
  auto bytes = zip({{"x.npy", npy("<f4", {7, 3}, x.data_ptr(), 7 * 3 * 4)}});
  bytes[bytes.find("\x93NUMPY") + 130] ^= 0x01;
  std::ofstream(dir / "bad.npz", std::ios::binary) << bytes;
  const auto msg = error_of([&] { npz::read_npz_rows(dir / "bad.npz", "x", 2, [](int64_t, const torch::Tensor&) {}); });
  EXPECT_NE(msg.find("CRC-32 mismatch"), std::string::npos) << msg;
}

TEST(OgbNpz, FeaturesStreamedToTheCacheEqualTheWholeLoad) {
  const auto dir = write_papers_folder("ogb_papers_stream");
  write_gz(dir / "split" / "time" / "valid.csv.gz", "");
  const auto whole = load_node_dataset("ogbn-papers100M", dir.parent_path());
  EXPECT_EQ(ogb_feature_shape(dir), (std::vector<int64_t>{3, 2}));
  OgbOptions no_features;
  no_features.features = false;
  const auto graph_only = read_ogb_node_dataset(dir, "", no_features);
  EXPECT_EQ(graph_only.features.sizes(), (std::vector<int64_t>{3, 0}));
  EXPECT_TRUE(torch::equal(graph_only.graph.indices, whole.graph.indices));
  const auto cache = scratch_dir("ogb_papers_stream_out") / "papers.h5";
  std::vector<int64_t> firsts;
  save_dataset_h5_streamed(graph_only, 2, cache, torch::kFloat16, [&](const FeatureRowsWriter& write) {
    read_ogb_features(dir, 2, [&](int64_t first, const torch::Tensor& rows) {
      firsts.push_back(first);
      write(first, rows);
    });
  });
  EXPECT_EQ(firsts, (std::vector<int64_t>{0, 2}));
  const auto back = load_dataset_h5(cache);
  EXPECT_TRUE(torch::equal(back.features, whole.features));
  EXPECT_TRUE(torch::equal(back.labels, whole.labels));
  EXPECT_TRUE(torch::equal(back.test_mask, whole.test_mask));
  EXPECT_TRUE(torch::equal(FeatureStore::open_h5(cache, "features").gather(torch::tensor(std::vector<int64_t>{2, 0})),
                           whole.features.index_select(0, torch::tensor(std::vector<int64_t>{2, 0}))));
}

TEST(OgbRegistry, FeaturesLargerThanMemoryAreRefusedWithTheWayOut) {
  const auto dir = write_papers_folder("ogb_papers_memory");
  const auto root = dir.parent_path();
  // 3 x 2 float32 and a working copy: 48 bytes.
  EXPECT_NO_THROW(check_features_fit_memory("ogbn-papers100M", root, 48));
  const auto msg = error_of([&] { check_features_fit_memory("ogbn-papers100M", root, 47); });
  EXPECT_NE(msg.find("3 x 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("graphmae2-data convert ogbn-papers100M FILE.h5 --feature-dtype float16"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("--feature_storage disk"), std::string::npos) << msg;
  const auto cache = scratch_dir("ogb_papers_memory_h5") / "p.h5";
  save_dataset_h5(load_node_dataset("ogbn-papers100M", root), cache);
  EXPECT_NE(error_of([&] { check_features_fit_memory(cache.string(), root, 10); }).find("3 x 2"), std::string::npos);
  EXPECT_NO_THROW(check_features_fit_memory("cora", root, 1)) << "datasets of unknown size pass";
}

TEST(OgbRegistry, MissingSplitFolderIsNamed) {
  const auto dir = write_papers_folder("ogb_papers_nosplit");
  fs::remove_all(dir / "split" / "time");
  const auto msg = error_of([&] { load_node_dataset("ogbn-papers100M", dir.parent_path()); });
  EXPECT_NE(msg.find((dir / "split" / "time").string()), std::string::npos) << msg;
}

TEST(OgbRegistry, UnknownAndMissingOgbNames) {
  auto root = scratch_dir("ogb_registry");
  auto msg = error_of([&] { load_node_dataset("ogbn-products", root); });
  EXPECT_NE(msg.find((root / "ogbn_products" / "raw").string()), std::string::npos) << msg;
  msg = error_of([&] { load_node_dataset("ogbn-mag", root); });
  EXPECT_NE(msg.find("not supported"), std::string::npos) << msg;
  EXPECT_TRUE(ogb_info("ogbn-products").add_inverse_edge);
  EXPECT_FALSE(ogb_info("ogbn_arxiv").add_inverse_edge);
}

}  // namespace
}  // namespace graphmae2::datasets
