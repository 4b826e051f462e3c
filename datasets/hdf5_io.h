#pragma once
// Tensors <-> HDF5 files: the generic helpers behind the dataset cache (and anything else that stores arrays).

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace graphmae2::datasets {

/// Writes `datasets` (name -> CPU tensor of any rank; float32, float64, int64, int32, uint8 or bool) and the
/// string `attrs` (on the root group) to `file`, atomically: a temporary file in the same folder, then rename.
/// A '/' in a name makes groups ("graph/indptr"). bool is stored as uint8 with attribute torch_dtype = "bool".
/// Throws std::runtime_error naming the file and dataset on failure; `file` is then left untouched.
void write_h5(const std::filesystem::path& file, const std::vector<std::pair<std::string, torch::Tensor>>& datasets,
              const std::map<std::string, std::string>& attrs = {});

/// Reads dataset `name` of `file`. Returns: a CPU tensor of the stored shape; float32/float64 as stored,
/// signed 8/4-byte ints as int64/int32, uint8 (bool when written by write_h5 from bool), other ints as int64.
/// Throws std::runtime_error naming the file and dataset if either is missing or the type is not numeric.
torch::Tensor read_h5_tensor(const std::filesystem::path& file, const std::string& name);

/// Reads the attributes of `object` (default: the root group). Returns: name -> value; string attributes as
/// they are, numeric scalars formatted as decimal text. Throws std::runtime_error naming the file on failure.
std::map<std::string, std::string> read_h5_attrs(const std::filesystem::path& file, const std::string& object = "/");

/// Returns: true if `file` is an HDF5 file that has an object (group or dataset) at path `name`.
bool h5_has(const std::filesystem::path& file, const std::string& name);

}  // namespace graphmae2::datasets
