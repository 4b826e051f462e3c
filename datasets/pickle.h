#pragma once
// A strict reader for the Python-2 pickles of the Planetoid files (protocol 2, latin-1 strings).
//
// It is a tiny stack machine that knows only the opcodes those files use and only six globals
// (numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype, scipy.sparse.csr.csr_matrix,
// __builtin__.list, collections.defaultdict). It never calls anything: a "call" of an allowed global
// builds a plain C++ value. Any other opcode or global, a truncated file or an inconsistent object is an
// error naming the source and the byte offset. Every size is checked against the bytes left in the input.

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace graphmae2::datasets::pickle {

/// @brief A scipy.sparse.csr_matrix decoded from a pickle (validated: indptr monotone, indices in range).
struct CsrMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  torch::Tensor indptr;   ///< int64 [rows + 1]
  torch::Tensor indices;  ///< int64 [nnz]
  torch::Tensor data;     ///< [nnz], the stored dtype (float32 for Planetoid)
};

/// One (key, neighbour list) entry of a pickled collections.defaultdict(list) of int -> [int].
using AdjacencyList = std::vector<std::pair<int64_t, std::vector<int64_t>>>;

/// Decodes a pickled numpy.ndarray; `source` names the input in error messages.
/// Returns: a CPU tensor of the array's shape and dtype (int32, int64, float32, float64, uint8 or bool).
/// Throws std::runtime_error "<source>: byte <offset>: ..." on anything else.
torch::Tensor parse_ndarray(std::string_view bytes, const std::string& source);
/// Decodes a pickled scipy.sparse.csr_matrix. Returns: its shape, int64 indptr/indices and the data array.
/// Throws std::runtime_error naming the source and byte offset on malformed or non-csr input.
CsrMatrix parse_csr_matrix(std::string_view bytes, const std::string& source);
/// Decodes a pickled collections.defaultdict(list) of int -> list of int.
/// Returns: its entries in file order (a repeated key replaces the earlier list, as in Python).
AdjacencyList parse_adjacency(std::string_view bytes, const std::string& source);

/// Reads a whole file into memory; throws std::runtime_error naming the file if it cannot be read.
std::string read_file_bytes(const std::filesystem::path& file);

/// File versions of the parsers above: the file name is the `source` of every error.
torch::Tensor read_ndarray(const std::filesystem::path& file);
CsrMatrix read_csr_matrix(const std::filesystem::path& file);
AdjacencyList read_adjacency(const std::filesystem::path& file);

}  // namespace graphmae2::datasets::pickle
