#include "util/zip_integrity.h"

#include <unzip.h>
#include <zlib.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace graphmae2::util {

namespace {

std::string hex32(unsigned long v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08lx", v & 0xffffffffUL);
  return buf;
}

}  // namespace

void verify_zip_checksums(const std::filesystem::path& path, const char* what) {
  const std::string prefix = std::string(what) + " '" + path.string() + "'";
  const std::unique_ptr<void, int (*)(unzFile)> zip(unzOpen64(path.c_str()), unzClose);
  if (!zip)
    throw std::runtime_error(prefix + " is not a readable zip archive (its central directory is missing or damaged)");
  std::vector<char> buffer(1 << 20);
  int rc = unzGoToFirstFile(zip.get());
  while (rc == UNZ_OK) {
    unz_file_info64 info{};
    char name[1024] = {};
    if (unzGetCurrentFileInfo64(zip.get(), &info, name, sizeof name - 1, nullptr, 0, nullptr, 0) != UNZ_OK ||
        unzOpenCurrentFile(zip.get()) != UNZ_OK) {
      throw std::runtime_error(prefix + " is damaged: record '" + name + "' cannot be opened");
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    int n = 0;
    while ((n = unzReadCurrentFile(zip.get(), buffer.data(), static_cast<unsigned>(buffer.size()))) > 0) {
      crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(n));
    }
    const int close_rc = unzCloseCurrentFile(zip.get());
    if (n < 0 || close_rc == UNZ_CRCERROR || (crc & 0xffffffffUL) != (info.crc & 0xffffffffUL)) {
      throw std::runtime_error(prefix + " is damaged: record '" + name + "' fails its CRC-32 check (stored " +
                               hex32(info.crc) + ", computed " + hex32(crc) +
                               (n < 0 ? ", read error " + std::to_string(n) : std::string()) +
                               "); the file changed after it was written. Use another checkpoint or train again");
    }
    rc = unzGoToNextFile(zip.get());
  }
  if (rc != UNZ_END_OF_LIST_OF_FILE) {
    throw std::runtime_error(prefix + " is damaged: its record directory cannot be walked (minizip error " +
                             std::to_string(rc) + ")");
  }
}

}  // namespace graphmae2::util
