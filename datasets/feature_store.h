#pragma once
// Where a node feature matrix lives and how mini-batches read it: resident in memory, or left in an HDF5 file
// and read a batch's rows at a time, so a graph whose features exceed memory can still train.

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>

namespace graphmae2::datasets {

/// @brief Normalisation a store applies to the rows it returns (the order of the reference's preprocessing:
/// row-normalise first, then standardise with column statistics of the whole matrix).
struct FeatureNormalization {
  bool row_normalize = false;  ///< each row divided by its sum (rows summing to 0 left as they are)
  bool standardize = false;    ///< columns to zero mean, unit population std (constant columns to 0)
};

/// @brief A node feature matrix [N, D] (float32 or float16) and the rows a batch reads from it.
///
/// Resident: the tensor in memory. On disk (open_h5): only the file's byte offset is held; every gather reads
/// its rows with positional reads, so resident memory is the gathered rows plus the OS page cache, which the
/// kernel reclaims. Copies are safe to share between loader threads (gathers are const and thread-safe).
class FeatureStore {
 public:
  FeatureStore() = default;
  /// Resident features, float32 or float16 [N, D], on the CPU; normalised as `norm` says at gather time.
  explicit FeatureStore(torch::Tensor features, FeatureNormalization norm = {});

  /// The float32 or float16 dataset `name` [N, D] of `file`, stored contiguously (as save_dataset_h5 writes it).
  /// Reads the whole matrix once, in chunks of rows, to check every value is finite and, with
  /// norm.standardize, to compute the column statistics (in double). Throws std::runtime_error naming the file
  /// and dataset if it is missing, chunked or compressed (rewrite it with graphmae2-data convert), shorter than
  /// its shape says, or holds a NaN or infinity (with the row and column of the first).
  static FeatureStore open_h5(const std::filesystem::path& file, const std::string& name,
                              FeatureNormalization norm = {});

  int64_t num_rows() const { return rows_; }
  int64_t dim() const { return cols_; }
  bool defined() const { return rows_ >= 0; }
  bool on_disk() const { return disk_ != nullptr; }
  /// The stored element type (float32 or float16).
  torch::ScalarType stored_dtype() const { return dtype_; }
  /// Bytes of the stored matrix.
  int64_t stored_bytes() const { return rows_ * cols_ * static_cast<int64_t>(c10::elementSize(dtype_)); }

  /// The rows `ids` (int64, any shape flattened, each in [0, N)), normalised, as float32 [ids.numel(), D] on the
  /// CPU. Throws c10::Error naming the first out-of-range id; std::runtime_error naming the file on a failed read.
  torch::Tensor gather(const torch::Tensor& ids) const;
  /// Rows begin..end-1, normalised, float32 on the CPU (a chunk of a pass over the whole matrix).
  torch::Tensor rows(int64_t begin, int64_t end) const;
  /// Resident features as given (not normalised); undefined when on disk.
  const torch::Tensor& resident() const { return resident_; }

 private:
  struct DiskFile;
  torch::Tensor read(const torch::Tensor& ids) const;  // stored dtype, not normalised
  torch::Tensor normalize(torch::Tensor rows) const;

  int64_t rows_ = -1, cols_ = 0;
  torch::ScalarType dtype_ = torch::kFloat32;
  torch::Tensor resident_;
  std::shared_ptr<const DiskFile> disk_;
  FeatureNormalization norm_;
  torch::Tensor mean_, std_;  // float32 [1, D] when standardising (std 1 for constant columns)
};

}  // namespace graphmae2::datasets
