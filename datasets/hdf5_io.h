#pragma once
// Tensors <-> HDF5 files: the generic helpers behind the dataset cache (and anything else that stores arrays).

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace graphmae2::datasets {

/// Writes `datasets` (name -> CPU tensor of any rank; float16, float32, float64, int64, int32, uint8 or bool) and the
/// string `attrs` (on the root group) to `file`, atomically: a temporary file in the same folder, then rename.
/// A '/' in a name makes groups ("graph/indptr"). bool is stored as uint8 with attribute torch_dtype = "bool".
/// Throws std::runtime_error naming the file and dataset on failure; `file` is then left untouched.
void write_h5(const std::filesystem::path& file, const std::vector<std::pair<std::string, torch::Tensor>>& datasets,
              const std::map<std::string, std::string>& attrs = {});

/// @brief Writes the rows of one dataset of a file being written by write_h5_streamed.
class H5RowSink {
 public:
  struct Impl;
  explicit H5RowSink(std::unique_ptr<Impl> impl);
  ~H5RowSink();
  /// Writes `rows` (any device and dtype; converted to the dataset's) at rows first_row.. of the dataset. Throws
  /// std::runtime_error naming the file if they do not fit its shape or the write fails.
  void write_rows(int64_t first_row, const torch::Tensor& rows);

 private:
  std::unique_ptr<Impl> impl_;
};

/// @brief A dataset written a row range at a time (stored in chunks of about 1 MiB of rows, or contiguously).
struct StreamedDataset {
  std::string name;  ///< empty: none
  torch::ScalarType dtype = torch::kFloat32;
  std::vector<int64_t> shape;
  /// Stored contiguously (a reader can address rows by byte offset, as FeatureStore does) instead of in chunks.
  bool contiguous = false;
};

/// write_h5, plus the dataset `streamed`, whose rows `fill` writes through the sink (for arrays too large to hold
/// at once: only the rows being written are in memory). Atomic like write_h5: if `fill` throws, `file` is untouched
/// and the exception propagates (a std::runtime_error naming `file`).
void write_h5_streamed(const std::filesystem::path& file,
                       const std::vector<std::pair<std::string, torch::Tensor>>& datasets,
                       const std::map<std::string, std::string>& attrs, const StreamedDataset& streamed,
                       const std::function<void(H5RowSink&)>& fill);

/// Reads dataset `name` of `file`. Returns: a CPU tensor of the stored shape; float16/float32/float64 as stored,
/// signed 8/4-byte ints as int64/int32, uint8 (bool when written by write_h5 from bool), other ints as int64.
/// Throws std::runtime_error naming the file and dataset if either is missing or the type is not numeric.
torch::Tensor read_h5_tensor(const std::filesystem::path& file, const std::string& name);

/// Reads the attributes of `object` (default: the root group). Returns: name -> value; string attributes as
/// they are, numeric scalars formatted as decimal text. Throws std::runtime_error naming the file on failure.
std::map<std::string, std::string> read_h5_attrs(const std::filesystem::path& file, const std::string& object = "/");

/// The reason the last failed HDF5 call gave, from the innermost entry of HDF5's error stack (the C++ API's
/// exceptions say only which call failed), appended to `fallback`. Call it in the handler, before any other HDF5 call.
std::string h5_failure_reason(const std::string& fallback);

/// Returns: the shape of dataset `name` of `file`, without reading its data. Throws std::runtime_error naming
/// the file and dataset if either is missing.
std::vector<int64_t> h5_shape(const std::filesystem::path& file, const std::string& name);

/// Returns: true if `file` is an HDF5 file that has an object (group or dataset) at path `name`.
bool h5_has(const std::filesystem::path& file, const std::string& name);

}  // namespace graphmae2::datasets
