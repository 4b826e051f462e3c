#include "datasets/feature_store.h"

#include "datasets/dataset.h"
#include "datasets/hdf5_io.h"

#include <ATen/Parallel.h>
#include <H5Cpp.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace graphmae2::datasets {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kPassRows = 1 << 16;  // rows per chunk of a pass over the whole matrix

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

}  // namespace

struct FeatureStore::DiskFile {
  fs::path file;
  std::string name;
  int fd = -1;
  int64_t offset = 0;  // byte offset of row 0 in the file
  int64_t row_bytes = 0;

  DiskFile() = default;
  DiskFile(const DiskFile&) = delete;
  DiskFile& operator=(const DiskFile&) = delete;
  ~DiskFile() {
    if (fd >= 0) ::close(fd);
  }

  /// Reads `bytes` at byte `at` of the matrix into `dst`, retrying short reads.
  void read_exact(char* dst, int64_t bytes, int64_t at) const {
    while (bytes > 0) {
      const ssize_t got = ::pread(fd, dst, static_cast<size_t>(bytes), static_cast<off_t>(offset + at));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        fail(file, "reading features '" + name + "' at byte " + std::to_string(offset + at) + ": " +
                       (got < 0 ? std::strerror(errno) : "unexpected end of file"));
      }
      dst += got;
      at += got;
      bytes -= got;
    }
  }
};

FeatureStore::FeatureStore(torch::Tensor features, FeatureNormalization norm) : norm_(norm) {
  TORCH_CHECK(features.defined() && features.dim() == 2, "FeatureStore: features must be [N, D], got ",
              features.defined() ? features.sizes() : c10::IntArrayRef{});
  TORCH_CHECK(features.scalar_type() == torch::kFloat32 || features.scalar_type() == torch::kFloat16,
              "FeatureStore: features must be float32 or float16, got ", features.scalar_type());
  resident_ = features.to(torch::kCPU).contiguous();
  rows_ = resident_.size(0);
  cols_ = resident_.size(1);
  dtype_ = resident_.scalar_type();
  if (norm_.standardize) {
    auto x = resident_.to(torch::kFloat);
    if (norm_.row_normalize) x = row_normalize(x);
    x = x.to(torch::kDouble);
    mean_ = x.mean(0, true).to(torch::kFloat);
    const auto std = x.std(0, /*unbiased=*/false, true).to(torch::kFloat);
    std_ = torch::where(std == 0, torch::ones_like(std), std);
  }
}

namespace {

// Where a contiguous float32/float16 [N, D] dataset lies in an HDF5 file, checked.
struct DiskLayout {
  int64_t rows = 0, cols = 0;
  torch::ScalarType dtype = torch::kFloat32;
  int64_t offset = 0, row_bytes = 0;
};

DiskLayout check_dataset(const H5::DataSet& ds, const fs::path& file, const std::string& name) {
  H5::DataSpace space = ds.getSpace();
  if (space.getSimpleExtentNdims() != 2) fail(file, "dataset '" + name + "' is not a matrix [N, D]");
  hsize_t dims[2];
  space.getSimpleExtentDims(dims);
  if (ds.getTypeClass() != H5T_FLOAT) fail(file, "dataset '" + name + "' is not floating point");
  const H5::FloatType type = ds.getFloatType();
  const size_t size = type.getSize();
  if ((size != 2 && size != 4) || type.getOrder() != H5T_ORDER_LE) {
    fail(file, "dataset '" + name + "' holds " + std::to_string(8 * size) +
                   "-bit floats; on-disk features must be little-endian float32 or float16 (graphmae2-data "
                   "convert writes them)");
  }
  const auto plist = ds.getCreatePlist();
  if (plist.getLayout() != H5D_CONTIGUOUS || plist.getNfilters() > 0) {
    fail(file, "dataset '" + name +
                   "' is chunked or compressed; features read from disk must be stored "
                   "contiguously: rewrite the file with graphmae2-data convert");
  }
  const haddr_t offset = H5Dget_offset(ds.getId());
  DiskLayout layout;
  layout.rows = static_cast<int64_t>(dims[0]);
  layout.cols = static_cast<int64_t>(dims[1]);
  layout.dtype = size == 2 ? torch::kFloat16 : torch::kFloat32;
  int64_t bytes = 0;
  if (__builtin_mul_overflow(layout.rows, layout.cols * static_cast<int64_t>(size), &bytes)) {
    fail(file, "dataset '" + name + "' has an overflowing shape");
  }
  if (bytes > 0 && offset == HADDR_UNDEF) fail(file, "dataset '" + name + "' has no data written");
  layout.offset = bytes > 0 ? static_cast<int64_t>(offset) : 0;
  layout.row_bytes = layout.cols * static_cast<int64_t>(size);
  const auto file_size = static_cast<int64_t>(fs::file_size(file));
  if (layout.offset + bytes > file_size) {
    fail(file, "dataset '" + name + "' needs bytes " + std::to_string(layout.offset) + ".." +
                   std::to_string(layout.offset + bytes) + " but the file has " + std::to_string(file_size) +
                   " (truncated?)");
  }
  return layout;
}

DiskLayout locate_dataset(const fs::path& file, const std::string& name) {
  if (!fs::is_regular_file(file)) fail(file, "no such file");
  try {
    if (!H5::H5File::isHdf5(file.string())) fail(file, "not an HDF5 file");
    H5::H5File f(file.string(), H5F_ACC_RDONLY);
    if (H5Lexists(f.getId(), name.c_str(), H5P_DEFAULT) <= 0 || f.childObjType(name) != H5O_TYPE_DATASET) {
      fail(file, "has no dataset '" + name + "'");
    }
    return check_dataset(f.openDataSet(name), file, name);
  } catch (const H5::Exception& e) {
    fail(file, "reading dataset '" + name +
                   "': " + h5_failure_reason(e.getDetailMsg().empty() ? e.getFuncName() : e.getDetailMsg()));
  }
}

}  // namespace

FeatureStore FeatureStore::open_h5(const fs::path& file, const std::string& name, FeatureNormalization norm) {
  H5::Exception::dontPrint();
  auto disk = std::make_shared<DiskFile>();
  disk->file = file;
  disk->name = name;
  FeatureStore store;
  store.norm_ = norm;
  const auto layout = locate_dataset(file, name);
  store.rows_ = layout.rows;
  store.cols_ = layout.cols;
  store.dtype_ = layout.dtype;
  disk->offset = layout.offset;
  disk->row_bytes = layout.row_bytes;
  disk->fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (disk->fd < 0) fail(file, std::string("cannot open: ") + std::strerror(errno));
  store.disk_ = std::move(disk);
  // One pass in chunks: every value finite, and the column statistics for standardising.
  torch::Tensor sum = torch::zeros({store.cols_}, torch::kDouble), sum_sq = torch::zeros({store.cols_}, torch::kDouble);
  for (int64_t begin = 0; begin < store.rows_; begin += kPassRows) {
    const int64_t end = std::min(store.rows_, begin + kPassRows);
    auto chunk = store.read(torch::arange(begin, end, torch::kLong)).to(torch::kFloat);
    const auto bad = chunk.isfinite().logical_not();
    if (bad.any().item<bool>()) {
      const auto at = bad.nonzero()[0];
      const int64_t row = begin + at[0].item<int64_t>(), col = at[1].item<int64_t>();
      fail(file, "features '" + name + "' [" + std::to_string(row) + ", " + std::to_string(col) + "] is " +
                     std::to_string(chunk[row - begin][col].item<double>()) + "; every feature must be finite");
    }
    if (norm.standardize) {
      auto x = (norm.row_normalize ? row_normalize(chunk) : chunk).to(torch::kDouble);
      sum += x.sum(0);
      sum_sq += (x * x).sum(0);
    }
  }
  if (!norm.standardize || store.rows_ == 0) return store;
  const auto n = static_cast<double>(store.rows_);
  const auto mean = sum / n;
  const auto var = (sum_sq / n - mean * mean).clamp_min(0);
  auto std = var.sqrt();
  // A column constant up to rounding of the one-pass variance is constant.
  std = torch::where(std <= 1e-12 * (mean.abs() + 1), torch::zeros_like(std), std);
  store.mean_ = mean.to(torch::kFloat).unsqueeze(0);
  const auto std_f = std.to(torch::kFloat).unsqueeze(0);
  store.std_ = torch::where(std_f == 0, torch::ones_like(std_f), std_f);
  return store;
}

torch::Tensor FeatureStore::read(const torch::Tensor& ids_in) const {
  const auto ids = ids_in.to(torch::kCPU, torch::kLong).contiguous().flatten();
  if (!disk_) return resident_.index_select(0, ids);  // which checks the range itself
  const int64_t k = ids.numel();
  if (k > 0) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < rows_, "FeatureStore: row id ", lo < 0 ? lo : hi, " is out of range [0, ", rows_, ")");
  }
  auto out = torch::empty({k, cols_}, torch::TensorOptions().dtype(dtype_));
  const int64_t* id = ids.data_ptr<int64_t>();
  char* dst = static_cast<char*>(out.data_ptr());
  const auto& disk = *disk_;
  // Consecutive ids become one read: a pass over the matrix is a few large reads, a batch many small ones.
  at::parallel_for(0, k, 256, [&](int64_t begin, int64_t end) {
    int64_t r = begin;
    while (r < end) {
      int64_t run = 1;
      while (r + run < end && id[r + run] == id[r] + run) ++run;
      disk.read_exact(dst + r * disk.row_bytes, run * disk.row_bytes, id[r] * disk.row_bytes);
      r += run;
    }
  });
  return out;
}

torch::Tensor FeatureStore::normalize(torch::Tensor rows) const {
  rows = rows.to(torch::kFloat);
  if (norm_.row_normalize) rows = row_normalize(rows);
  if (norm_.standardize) rows = (rows - mean_) / std_;
  return rows;
}

torch::Tensor FeatureStore::gather(const torch::Tensor& ids) const {
  TORCH_CHECK(defined(), "FeatureStore: gather on an empty store");
  return normalize(read(ids));
}

torch::Tensor FeatureStore::rows(int64_t begin, int64_t end) const {
  TORCH_CHECK(defined() && 0 <= begin && begin <= end && end <= rows_, "FeatureStore: rows ", begin, "..", end, " of ",
              rows_);
  if (!disk_) return normalize(resident_.narrow(0, begin, end - begin));
  return normalize(read(torch::arange(begin, end, torch::kLong)));
}

}  // namespace graphmae2::datasets
