#include "datasets/idx.h"

#include "util/atomic_file.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace graphmae2::datasets {
namespace {

std::runtime_error idx_error(const std::filesystem::path& path, uint64_t offset, const std::string& what) {
  std::ostringstream os;
  os << path.string() << ": byte " << offset << ": " << what;
  return std::runtime_error(os.str());
}

struct GzCloser {
  void operator()(gzFile f) const {
    if (f) gzclose(f);
  }
};

/// Reads through zlib, which passes plain files through unchanged; offsets count decompressed bytes.
class ByteReader {
 public:
  explicit ByteReader(const std::filesystem::path& path) : path_(path) {
    file_.reset(gzopen(path.c_str(), "rb"));
    if (!file_) throw std::runtime_error(path.string() + ": cannot open: " + std::strerror(errno));
    gzbuffer(file_.get(), 1 << 18);
  }

  /// Reads up to n bytes; returns how many were read (fewer only at the end of the stream).
  size_t read(void* dst, size_t n) {
    size_t done = 0;
    auto* out = static_cast<char*>(dst);
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
      const int got = gzread(file_.get(), out + done, chunk);
      if (got < 0) {
        int err = 0;
        const char* msg = gzerror(file_.get(), &err);
        throw idx_error(path_, offset_ + done, std::string("read error: ") + (msg ? msg : "unknown"));
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    offset_ += done;
    return done;
  }

  void read_exact(void* dst, size_t n, const std::string& what) {
    const uint64_t start = offset_;
    const size_t got = read(dst, n);
    if (got != n) {
      throw idx_error(path_, start + got,
                      "truncated " + what + ": expected " + std::to_string(n) + " bytes at offset " +
                          std::to_string(start) + ", file ends after " + std::to_string(got));
    }
  }

  uint64_t offset() const { return offset_; }

 private:
  std::filesystem::path path_;
  std::unique_ptr<gzFile_s, GzCloser> file_;
  uint64_t offset_ = 0;
};

struct IdxType {
  torch::ScalarType dtype;
  size_t width;
};

bool idx_type(uint8_t code, IdxType* out) {
  switch (code) {
    case 0x08:
      *out = {torch::kUInt8, 1};
      return true;
    case 0x09:
      *out = {torch::kInt8, 1};
      return true;
    case 0x0B:
      *out = {torch::kInt16, 2};
      return true;
    case 0x0C:
      *out = {torch::kInt32, 4};
      return true;
    case 0x0D:
      *out = {torch::kFloat32, 4};
      return true;
    case 0x0E:
      *out = {torch::kFloat64, 8};
      return true;
    default:
      return false;
  }
}

bool host_is_little_endian() {
  const uint16_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

void swap_bytes(uint8_t* data, size_t count, size_t width) {
  for (size_t i = 0; i < count; ++i) std::reverse(data + i * width, data + (i + 1) * width);
}

std::filesystem::path find_split_file(const std::filesystem::path& root, const std::string& stem) {
  const auto gz = root / (stem + ".gz");
  const auto plain = root / stem;
  if (std::filesystem::is_regular_file(gz)) return gz;
  if (std::filesystem::is_regular_file(plain)) return plain;
  throw std::runtime_error("IDX file not found: tried " + gz.string() + " and " + plain.string() +
                           " (set --data_root to the folder holding the MNIST-layout files)");
}

}  // namespace

torch::Tensor read_idx(const std::filesystem::path& path) {
  ByteReader in(path);
  std::array<uint8_t, 4> magic{};
  in.read_exact(magic.data(), 4, "header (magic)");
  if (magic[0] != 0 || magic[1] != 0) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3]);
    throw idx_error(path, 0, std::string("wrong magic: expected 00 00 <type> <rank>, got ") + buf);
  }
  IdxType type{};
  if (!idx_type(magic[2], &type)) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%02x", magic[2]);
    throw idx_error(path, 2,
                    std::string("unknown element type ") + buf + " (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)");
  }
  const int rank = magic[3];
  if (rank == 0) throw idx_error(path, 3, "rank is 0");

  std::vector<int64_t> sizes(rank);
  // Caps a corrupt header before it turns into a huge allocation; real IDX files are far smaller.
  constexpr uint64_t kMaxElements = uint64_t{1} << 36;
  uint64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    std::array<uint8_t, 4> b{};
    const uint64_t at = in.offset();
    in.read_exact(b.data(), 4, "header (size of dimension " + std::to_string(d) + ")");
    const uint64_t size = (uint64_t{b[0]} << 24) | (uint64_t{b[1]} << 16) | (uint64_t{b[2]} << 8) | b[3];
    sizes[d] = static_cast<int64_t>(size);
    if (size != 0 && count > kMaxElements / size) {
      throw idx_error(path, at, "dimension sizes multiply to more than 2^36 elements (corrupt header?)");
    }
    count *= size;
  }

  auto out = torch::empty(sizes, torch::TensorOptions().dtype(type.dtype));
  auto* data = static_cast<uint8_t*>(out.data_ptr());
  const size_t bytes = static_cast<size_t>(count) * type.width;
  in.read_exact(data, bytes,
                "data (" + std::to_string(count) + " elements of " + std::to_string(type.width) + " bytes)");
  uint8_t extra = 0;
  const uint64_t end = in.offset();
  if (in.read(&extra, 1) != 0) {
    throw idx_error(path, end,
                    "trailing bytes after the " + std::to_string(bytes) +
                        " data bytes the header announces (wrong sizes in the header?)");
  }
  if (type.width > 1 && host_is_little_endian()) swap_bytes(data, static_cast<size_t>(count), type.width);
  return out;
}

void write_idx(const std::filesystem::path& path, const torch::Tensor& tensor) {
  uint8_t code = 0;
  switch (tensor.scalar_type()) {
    case torch::kUInt8:
      code = 0x08;
      break;
    case torch::kInt8:
      code = 0x09;
      break;
    case torch::kInt16:
      code = 0x0B;
      break;
    case torch::kInt32:
      code = 0x0C;
      break;
    case torch::kFloat32:
      code = 0x0D;
      break;
    case torch::kFloat64:
      code = 0x0E;
      break;
    default:
      TORCH_CHECK(false, "write_idx: unsupported dtype ", tensor.scalar_type());
  }
  TORCH_CHECK(tensor.dim() >= 1 && tensor.dim() <= 255, "write_idx: rank must be in [1, 255], got ", tensor.dim());
  auto t = tensor.contiguous().cpu().clone();
  const size_t width = t.element_size();
  auto* data = static_cast<uint8_t*>(t.data_ptr());
  if (width > 1 && host_is_little_endian()) swap_bytes(data, static_cast<size_t>(t.numel()), width);

  util::atomic_write(path, [&](const std::filesystem::path& tmp) {
    std::ofstream os(tmp, std::ios::binary | std::ios::trunc);
    if (!os) throw std::runtime_error(tmp.string() + ": cannot open for writing");
    const uint8_t header[4] = {0, 0, code, static_cast<uint8_t>(t.dim())};
    os.write(reinterpret_cast<const char*>(header), 4);
    for (int64_t d = 0; d < t.dim(); ++d) {
      const uint32_t s = static_cast<uint32_t>(t.size(d));
      const uint8_t b[4] = {static_cast<uint8_t>(s >> 24), static_cast<uint8_t>(s >> 16), static_cast<uint8_t>(s >> 8),
                            static_cast<uint8_t>(s)};
      os.write(reinterpret_cast<const char*>(b), 4);
    }
    os.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(t.numel() * width));
    os.flush();
    if (!os) throw std::runtime_error(path.string() + ": write failed");
  });
}

void ImageDataset::validate() const {
  TORCH_CHECK(images.defined() && images.dim() == 4 && images.scalar_type() == torch::kUInt8, "ImageDataset '", name,
              "': images must be uint8 [N, C, H, W], got ", images.defined() ? images.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(labels.defined() && labels.dim() == 1 && labels.scalar_type() == torch::kInt64, "ImageDataset '", name,
              "': labels must be int64 [N]");
  TORCH_CHECK(labels.size(0) == images.size(0), "ImageDataset '", name, "': ", images.size(0), " images but ",
              labels.size(0), " labels");
  TORCH_CHECK(num_classes >= 1, "ImageDataset '", name, "': num_classes must be >= 1, got ", num_classes);
  if (labels.numel() > 0) {
    const auto lo = labels.min().item<int64_t>();
    const auto hi = labels.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < num_classes, "ImageDataset '", name, "': labels span [", lo, ", ", hi,
                "], expected [0, ", num_classes, ")");
  }
}

ImageDataset load_idx_image_dataset(const std::filesystem::path& root, const std::string& split,
                                    const std::string& name) {
  const auto image_path = find_split_file(root, split + "-images-idx3-ubyte");
  const auto label_path = find_split_file(root, split + "-labels-idx1-ubyte");
  auto images = read_idx(image_path);
  auto labels = read_idx(label_path);
  if (images.scalar_type() != torch::kUInt8 || images.dim() != 3) {
    std::ostringstream os;
    os << image_path.string() << ": expected uint8 images of rank 3 [N, H, W], got " << images.scalar_type()
       << " of shape " << images.sizes();
    throw std::runtime_error(os.str());
  }
  if (labels.scalar_type() != torch::kUInt8 || labels.dim() != 1) {
    std::ostringstream os;
    os << label_path.string() << ": expected uint8 labels of rank 1 [N], got " << labels.scalar_type() << " of shape "
       << labels.sizes();
    throw std::runtime_error(os.str());
  }
  if (images.size(0) != labels.size(0)) {
    throw std::runtime_error(image_path.string() + " holds " + std::to_string(images.size(0)) + " images but " +
                             label_path.string() + " holds " + std::to_string(labels.size(0)) + " labels");
  }
  ImageDataset ds;
  ds.name = name.empty() ? split : name;
  ds.images = images.unsqueeze(1);
  ds.labels = labels.to(torch::kInt64);
  ds.num_classes = ds.labels.numel() > 0 ? ds.labels.max().item<int64_t>() + 1 : 0;
  ds.validate();
  return ds;
}

}  // namespace graphmae2::datasets
