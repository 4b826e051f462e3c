#pragma once
// Strict readers for the gzip CSV files of OGB (no header; numbers separated by commas, one record a line).

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace graphmae2::datasets {

/// Reads integers, exactly `columns` per line, from a gzip (or plain) text file.
/// Returns: the values row-major (lines x columns). Throws std::runtime_error "<file>: line <n>: ..." on a
/// line with another field count, a field that is not an integer, or a damaged gzip stream.
std::vector<int64_t> read_int_csv(const std::filesystem::path& file, int64_t columns);
/// Reads a float matrix (same field count on every line; finite values only) of exactly `rows` lines
/// (rows < 0: any). Returns: float32 [lines, fields]. Errors as read_int_csv, naming file and line.
torch::Tensor read_float_csv(const std::filesystem::path& file, int64_t rows = -1);
/// Reads one label per line: an integer >= 0, or "nan"/empty for an unlabelled node (returned as -1).
/// Returns: int64 [lines]. Errors name file and line.
torch::Tensor read_label_csv(const std::filesystem::path& file);

/// The same three parsers over text in memory (tests, fuzzing); `source` names it in error messages.
std::vector<int64_t> parse_int_csv(std::string_view text, int64_t columns, const std::string& source);
torch::Tensor parse_float_csv(std::string_view text, int64_t rows, const std::string& source);
torch::Tensor parse_label_csv(std::string_view text, const std::string& source);

}  // namespace graphmae2::datasets
