#pragma once
// The one atomic file write of graphmae2: every checkpoint, metrics snapshot, HDF5 file, IDX file and result
// goes through it, so a reader or an interrupted run sees the old file or the new one, never half of one.

#include <filesystem>
#include <functional>
#include <string>

namespace graphmae2::util {

/// Writes `path` atomically: `write` fills a temporary file in the same folder (".NAME.tmp.PID"), which then
/// replaces `path` by rename. Creates missing parent folders. On any exception the temporary file is removed
/// and the exception propagates; `path` is untouched.
void atomic_write(const std::filesystem::path& path, const std::function<void(const std::filesystem::path&)>& write);

/// atomic_write of a text; a failed or short write throws std::runtime_error naming the file.
void atomic_write_text(const std::filesystem::path& path, const std::string& text);

}  // namespace graphmae2::util
