#include "util/atomic_file.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iomanip>
#include <sstream>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace graphmae2::util {

void atomic_write(const std::filesystem::path& path, const std::function<void(const std::filesystem::path&)>& write) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(dir);
  // (Appending piecewise: GCC 12 warns falsely on "." + std::string&&.)
  std::string tmp_name(1, '.');
  tmp_name.append(path.filename().string()).append(".tmp.").append(std::to_string(::getpid()));
  const auto tmp = dir / tmp_name;
  try {
    write(tmp);
    std::filesystem::rename(tmp, path);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

std::pair<int64_t, int64_t> remove_stale_temporaries(const std::filesystem::path& dir) {
  static const std::regex temporary(R"(\..+\.tmp\.([0-9]+))");
  int64_t files = 0, bytes = 0;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return {0, 0};
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != decltype(it)();
       it.increment(ec)) {
    std::smatch match;
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec) || !std::regex_match(name, match, temporary)) continue;
    const long pid = std::stol(match[1].str());
    // kill(pid, 0) fails with ESRCH only when no such process exists (EPERM: it exists, someone else's).
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      const auto size = static_cast<int64_t>(it->file_size(ec));
      if (std::filesystem::remove(it->path(), ec)) {
        ++files;
        bytes += size;
      }
    }
  }
  return {files, bytes};
}

namespace {

std::string mebibytes(uintmax_t bytes) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / (1024.0 * 1024.0) << " MiB";
  return text.str();
}

}  // namespace

void write_bytes_checked(const std::filesystem::path& file, const std::filesystem::path& target, const char* data,
                         size_t size) {
  errno = 0;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw std::runtime_error("cannot write " + target.string() + ": opening " + file.string() + " failed (" +
                             std::strerror(errno) + ")");
  }
  out.write(data, static_cast<std::streamsize>(size));
  out.flush();
  if (!out) {
    const int err = errno;
    std::error_code ec;
    const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    const auto space = std::filesystem::space(dir, ec);
    throw std::runtime_error("cannot write " + target.string() + " (" + mebibytes(size) +
                             "): " + (err ? std::strerror(err) : "write failed") +
                             (ec ? std::string() : "; " + mebibytes(space.available) + " free in " + dir.string()) +
                             ". The previous file, if any, is unchanged");
  }
}

void atomic_write_text(const std::filesystem::path& path, const std::string& text) {
  atomic_write(path,
               [&](const std::filesystem::path& tmp) { write_bytes_checked(tmp, path, text.data(), text.size()); });
}

}  // namespace graphmae2::util
