#pragma once
// NumPy .npy arrays and .npz archives (zip, stored or deflate entries; ZIP64), read without Python.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace graphmae2::datasets::npz {

/// @brief The parsed header of a .npy array.
struct NpyHeader {
  std::string descr;  ///< e.g. "<f4"
  bool fortran_order = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  ///< bytes from the start of the .npy to its data
};

/// Parses the header at the start of `bytes` (needs the whole header, not the data). Accepts versions 1-3.
/// Throws std::runtime_error "<source>: byte <offset>: ..." on a bad magic, dictionary or unsupported dtype
/// (little-endian i1/i2/i4/i8, u1, b1, f2/f4/f8 only).
NpyHeader parse_npy_header(std::string_view bytes, const std::string& source);
/// Parses a whole .npy. Returns: a CPU tensor of its shape and dtype (f2 -> float16, b1 -> bool, ...).
torch::Tensor parse_npy(std::string_view bytes, const std::string& source);

/// Returns: the array names in an .npz (entry names without ".npy"), in directory order.
/// Throws std::runtime_error naming the file and byte offset if the zip structure is damaged.
std::vector<std::string> list_npz(const std::filesystem::path& file);
/// Reads array `name` of an .npz (streamed: stored entries are read straight into the tensor, deflate
/// entries are inflated chunk by chunk; the CRC-32 is checked). Throws naming file, entry and offset.
torch::Tensor read_npz_array(const std::filesystem::path& file, const std::string& name);
/// Receives consecutive rows (along the first axis) of an array: rows first_row.. of it, as a CPU tensor.
using RowsCallback = std::function<void(int64_t first_row, const torch::Tensor& rows)>;
/// Reads array `name` of an .npz `rows_per_chunk` rows at a time (for arrays larger than memory: only one chunk
/// is held), in order; the CRC-32 is checked after the last chunk, so a damaged entry throws after `on_rows` saw
/// its rows. C-order arrays only. Throws like read_npz_array.
void read_npz_rows(const std::filesystem::path& file, const std::string& name, int64_t rows_per_chunk,
                   const RowsCallback& on_rows);
/// The shape of array `name` of an .npz, from its header (the data is not read).
std::vector<int64_t> npz_array_shape(const std::filesystem::path& file, const std::string& name);
/// The same over an archive in memory (tests, fuzzing).
torch::Tensor parse_npz_array(std::string_view zip_bytes, const std::string& name, const std::string& source);
std::vector<std::string> parse_npz_names(std::string_view zip_bytes, const std::string& source);

}  // namespace graphmae2::datasets::npz
