#include "util/atomic_file.h"

#include <unistd.h>

#include <fstream>
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

void atomic_write_text(const std::filesystem::path& path, const std::string& text) {
  atomic_write(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot open " + tmp.string() + " for writing");
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + path.string() + " (" + std::to_string(text.size()) + " bytes)");
  });
}

}  // namespace graphmae2::util
