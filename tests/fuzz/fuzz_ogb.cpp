// libFuzzer: an OGB dataset folder built from the input (CSV or binary layout) must be read or refused with a
// std::runtime_error naming a file, never crash, hang or allocate what a file merely declares.
// The input is split into the folder's files; each CSV file is gzip'd here, so the mutations reach the parsers
// and the cross-file checks (counts, label and split ranges) rather than the gzip layer (fuzz_csv covers that).

#include "datasets/ogb.h"
#include "fuzz_input.h"

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace {

namespace fs = std::filesystem;

const fs::path& scratch_dir() {
  static const fs::path dir = [] {
    const char* shm = fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    fs::path d = fs::path(shm) / ("graphmae2-fuzz-ogb-" + std::to_string(getpid()));
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

void write_file(const fs::path& file, const std::string& bytes, bool gzip) {
  fs::create_directories(file.parent_path());
  if (!gzip) {
    std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return;
  }
  gzFile gz = gzopen(file.c_str(), "wb1");
  if (gz == nullptr) std::abort();
  if (!bytes.empty()) gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(gz);
}

}  // namespace

void graphmae2::fuzz::ogb_input(const uint8_t* data, size_t size) {
  namespace ds = graphmae2::datasets;
  InputBytes in(data, size);
  const fs::path dir = scratch_dir() / "ogbn_fuzz";
  std::error_code ec;
  fs::remove_all(dir, ec);
  const bool binary_layout = in.flag();
  ds::OgbOptions opts;
  opts.symmetrize = in.flag();
  opts.drop_self_loops = in.flag();
  if (in.flag()) opts.add_inverse_edge = in.flag();
  opts.features = in.flag();
  // Every file is optional: a missing one must be named as missing.
  auto maybe_write = [&](const char* relative, bool gzip) {
    if (in.in_range(0, 15) == 0) return;
    write_file(dir / relative, in.text(4096), gzip);
  };
  if (binary_layout) {
    maybe_write("raw/data.npz", false);
    maybe_write("raw/node-label.npz", false);
  } else {
    maybe_write("raw/num-node-list.csv.gz", true);
    maybe_write("raw/num-edge-list.csv.gz", true);
    maybe_write("raw/edge.csv.gz", true);
    maybe_write("raw/node-feat.csv.gz", true);
    maybe_write("raw/node-label.csv.gz", true);
  }
  maybe_write("split/fuzz/train.csv.gz", true);
  maybe_write("split/fuzz/valid.csv.gz", true);
  maybe_write("split/fuzz/test.csv.gz", true);
  if (in.flag()) maybe_write("split/other/train.csv.gz", true);
  try {
    (void)ds::read_ogb_node_dataset(dir, "", opts);
  } catch (const std::runtime_error&) {
  }
  try {
    (void)ds::ogb_feature_shape(dir);
    ds::read_ogb_features(dir, 3, [](int64_t, const torch::Tensor&) {});
  } catch (const std::runtime_error&) {
  }
}
