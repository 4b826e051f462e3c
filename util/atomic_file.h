#pragma once
// The one atomic file write of graphmae2: every checkpoint, metrics snapshot, HDF5 file, IDX file and result
// goes through it, so a reader or an interrupted run sees the old file or the new one, never half of one.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>

namespace graphmae2::util {

/// Writes `path` atomically: `write` fills a temporary file in the same folder (".NAME.tmp.PID"), which then
/// replaces `path` by rename. Creates missing parent folders. On any exception the temporary file is removed
/// and the exception propagates; `path` is untouched.
void atomic_write(const std::filesystem::path& path, const std::function<void(const std::filesystem::path&)>& write);

/// Removes the temporary files atomic_write left under `dir` (recursively) when its process was killed during a
/// save: ".NAME.tmp.PID" whose PID is no running process. A live process's temporary is kept. Returns the
/// files removed and their bytes.
std::pair<int64_t, int64_t> remove_stale_temporaries(const std::filesystem::path& dir);

/// Writes `size` bytes to `file` (a temporary of `target`), checked: a failed open or short write (full disk,
/// file size limit) throws std::runtime_error naming `target`, the system's reason, the bytes needed and the free
/// space of its folder.
void write_bytes_checked(const std::filesystem::path& file, const std::filesystem::path& target, const char* data,
                         size_t size);

/// atomic_write of a text; a failed or short write throws std::runtime_error naming the file.
void atomic_write_text(const std::filesystem::path& path, const std::string& text);

}  // namespace graphmae2::util
