#pragma once
// Integrity of zip archives (LibTorch's checkpoint format). LibTorch's reader skips the CRC-32 of each record
// (its miniz is built with MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS), so a flipped bit in a stored weight loads
// silently; this check reads every record through minizip and compares its CRC-32 with the one the writer stored.

#include <filesystem>

namespace graphmae2::util {

/// Reads every record of the zip archive at `path` and checks its CRC-32. Throws std::runtime_error naming the
/// file and, for a damaged record, its name with the stored and computed CRC-32 (`what` names the file's role,
/// e.g. "checkpoint").
void verify_zip_checksums(const std::filesystem::path& path, const char* what = "archive");

}  // namespace graphmae2::util
