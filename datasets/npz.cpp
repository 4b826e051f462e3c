#include "datasets/npz.h"

#include "datasets/shape_check.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace graphmae2::datasets::npz {
namespace {

static_assert(std::endian::native == std::endian::little, "npz arrays are copied as little-endian bytes");

// ---------------------------------------------------------------- random-access input

class Source {
 public:
  explicit Source(std::string name) : name_(std::move(name)) {}
  virtual ~Source() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly n bytes at off (the caller checks the range first).
  virtual void read(uint64_t off, char* dst, size_t n) = 0;
  const std::string& name() const { return name_; }
  [[noreturn]] void fail(uint64_t off, const std::string& what) const {
    throw std::runtime_error(name_ + ": byte " + std::to_string(off) + ": " + what);
  }
  void read_checked(uint64_t off, char* dst, size_t n, const char* what) {
    if (off > size() || n > size() - off) {
      fail(off, std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes, the file has " +
                    std::to_string(off > size() ? 0 : size() - off) + " left");
    }
    read(off, dst, n);
  }

 private:
  std::string name_;
};

class MemorySource : public Source {
 public:
  MemorySource(std::string_view bytes, std::string name) : Source(std::move(name)), bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  void read(uint64_t off, char* dst, size_t n) override {
    if (n > 0) std::memcpy(dst, bytes_.data() + off, n);  // dst may be null for an empty array
  }

 private:
  std::string_view bytes_;
};

class FileSource : public Source {
 public:
  explicit FileSource(const std::filesystem::path& file) : Source(file.string()) {
    if (!std::filesystem::is_regular_file(file)) throw std::runtime_error(file.string() + ": no such file");
    in_.open(file, std::ios::binary);
    if (!in_) throw std::runtime_error(file.string() + ": cannot open for reading");
    size_ = std::filesystem::file_size(file);
  }
  uint64_t size() const override { return size_; }
  void read(uint64_t off, char* dst, size_t n) override {
    in_.seekg(static_cast<std::streamoff>(off));
    in_.read(dst, static_cast<std::streamsize>(n));
    if (!in_) fail(off, "read error");
  }

 private:
  std::ifstream in_;
  uint64_t size_ = 0;
};

uint64_t le(const char* p, int n) {
  uint64_t v = 0;
  for (int k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[k])) << (8 * k);
  return v;
}

// ---------------------------------------------------------------- .npy header

struct HeaderParser {
  std::string_view s;
  size_t p = 0;
  size_t base;  // offset of s in the .npy, for messages
  const std::string& source;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(source + ": byte " + std::to_string(base + p) + ": npy header: " + what);
  }
  void ws() {
    while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n')) ++p;
  }
  bool eat(char c) {
    ws();
    if (p < s.size() && s[p] == c) {
      ++p;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  std::string str() {
    ws();
    if (p >= s.size() || (s[p] != '\'' && s[p] != '"')) fail("expected a quoted string");
    const char q = s[p++];
    const size_t end = s.find(q, p);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s.substr(p, end - p));
    p = end + 1;
    return out;
  }
  int64_t integer() {
    ws();
    int64_t v = 0;
    const size_t start = p;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      if (v > (INT64_MAX - 9) / 10) fail("dimension too large");
      v = v * 10 + (s[p++] - '0');
    }
    if (p == start) fail("expected a non-negative integer");
    if (p < s.size() && s[p] == 'L') ++p;  // Python-2 long suffix
    return v;
  }
};

int64_t itemsize_of(const std::string& descr) { return descr[2] - '0'; }

torch::ScalarType dtype_of(const std::string& descr, const std::string& source) {
  static const std::pair<const char*, torch::ScalarType> known[] = {
      {"<i8", torch::kInt64},   {"<i4", torch::kInt32},   {"<i2", torch::kInt16},
      {"|i1", torch::kInt8},    {"|u1", torch::kUInt8},   {"|b1", torch::kBool},
      {"<f2", torch::kFloat16}, {"<f4", torch::kFloat32}, {"<f8", torch::kFloat64}};
  for (const auto& [d, t] : known) {
    if (descr == d) return t;
  }
  std::string why = descr.size() == 3 && descr[0] == '>' ? " (big-endian)" : "";
  throw std::runtime_error(source + ": unsupported npy dtype '" + descr + "'" + why +
                           "; supported: <i8 <i4 <i2 |i1 |u1 |b1 <f2 <f4 <f8");
}

// ---------------------------------------------------------------- array from a byte stream

// Pulls the uncompressed bytes of one entry, checking its CRC-32 at the end.
class EntryStream {
 public:
  EntryStream(Source& src, uint64_t data_off, uint64_t comp, uint64_t uncomp, int method, uint32_t crc,
              std::string where)
      : src_(src),
        off_(data_off),
        comp_left_(comp),
        uncomp_left_(uncomp),
        method_(method),
        crc_(crc),
        where_(std::move(where)) {
    if (method_ == 8) {
      in_.resize(static_cast<size_t>(std::min<uint64_t>(comp, 1 << 20)));
      std::memset(&z_, 0, sizeof z_);
      if (inflateInit2(&z_, -MAX_WBITS) != Z_OK) throw std::runtime_error(where_ + ": inflateInit2 failed");
      z_open_ = true;
    }
  }
  ~EntryStream() {
    if (z_open_) inflateEnd(&z_);
  }
  uint64_t left() const { return uncomp_left_; }

  void read(char* dst, size_t n) {
    if (n == 0) return;
    if (n > uncomp_left_) fail("the entry ends early: needs " + std::to_string(n) + " more bytes");
    if (method_ == 0) {
      src_.read_checked(off_, dst, n, "stored entry data");
      off_ += n;
    } else {
      inflate_into(dst, n);
    }
    running_ = static_cast<uint32_t>(crc32_z(running_, reinterpret_cast<const Bytef*>(dst), n));
    uncomp_left_ -= n;
  }
  void finish() {
    if (uncomp_left_ != 0) fail(std::to_string(uncomp_left_) + " bytes after the array data");
    if (running_ != crc_) fail("CRC-32 mismatch: the entry is damaged");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(where_ + ": " + what); }
  void inflate_into(char* dst, size_t n) {
    z_.next_out = reinterpret_cast<Bytef*>(dst);
    z_.avail_out = 0;
    size_t out_left = n;
    while (out_left > 0) {
      if (z_.avail_in == 0 && comp_left_ > 0) {
        const size_t k = static_cast<size_t>(std::min<uint64_t>(comp_left_, in_.size()));
        src_.read_checked(off_, in_.data(), k, "deflate data");
        off_ += k;
        comp_left_ -= k;
        z_.next_in = reinterpret_cast<Bytef*>(in_.data());
        z_.avail_in = static_cast<uInt>(k);
      }
      const size_t step = std::min<size_t>(out_left, 1u << 30);
      z_.avail_out = static_cast<uInt>(step);
      const int rc = inflate(&z_, Z_NO_FLUSH);
      const size_t produced = step - z_.avail_out;
      out_left -= produced;
      if (rc == Z_STREAM_END && out_left > 0) fail("deflate stream ends before the declared size");
      if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && produced > 0)) {
        fail(std::string("deflate error: ") + (z_.msg ? z_.msg : std::to_string(rc)));
      }
      if (produced == 0 && z_.avail_in == 0 && comp_left_ == 0) fail("deflate data ends early");
    }
  }

  Source& src_;
  uint64_t off_;
  uint64_t comp_left_;
  uint64_t uncomp_left_;
  int method_;
  uint32_t crc_;
  uint32_t running_ = 0;
  std::string where_;
  z_stream z_{};
  bool z_open_ = false;
  std::vector<char> in_;  // compressed input chunk (deflate only)
};

// Reads the .npy header at the start of `in` and checks that the data left matches its shape and dtype.
NpyHeader read_header(EntryStream& in, const std::string& where) {
  char pre[12];
  if (in.left() < 10)
    throw std::runtime_error(where + ": byte 0: truncated npy (" + std::to_string(in.left()) + " bytes)");
  in.read(pre, 10);
  const int major = static_cast<unsigned char>(pre[6]);
  size_t header_len = 0;
  size_t prefix = 10;
  if (major == 2 || major == 3) {
    if (in.left() < 2) throw std::runtime_error(where + ": byte 10: truncated npy header length");
    in.read(pre + 10, 2);
    header_len = le(pre + 8, 4);
    prefix = 12;
  } else {
    header_len = le(pre + 8, 2);
  }
  if (header_len > (1u << 20) || header_len > in.left()) {
    throw std::runtime_error(where + ": byte 8: npy header length " + std::to_string(header_len) +
                             " exceeds the entry");
  }
  std::string head(pre, prefix);
  head.resize(prefix + header_len);
  in.read(head.data() + prefix, header_len);
  const NpyHeader h = parse_npy_header(head, where);
  if (const auto problem = shape_problem(h.shape, itemsize_of(h.descr)); !problem.empty()) {
    throw std::runtime_error(where + ": npy header: " + problem);
  }
  int64_t numel = 1;
  for (int64_t d : h.shape) {
    if (__builtin_mul_overflow(numel, d, &numel)) throw std::runtime_error(where + ": npy shape overflows");
  }
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, itemsize_of(h.descr), &nbytes) || static_cast<uint64_t>(nbytes) != in.left()) {
    throw std::runtime_error(where + ": npy data is " + std::to_string(in.left()) + " bytes, shape and dtype " +
                             h.descr + " need " + std::to_string(numel) + " x " + std::to_string(itemsize_of(h.descr)));
  }
  return h;
}

void check_bools(const torch::Tensor& t, const std::string& where) {
  if (t.scalar_type() != torch::kBool) return;
  const auto* b = static_cast<const uint8_t*>(t.data_ptr());
  for (int64_t k = 0; k < t.numel(); ++k) {
    if (b[k] > 1) throw std::runtime_error(where + ": bool array holds byte " + std::to_string(b[k]));
  }
}

torch::Tensor read_array(EntryStream& in, const std::string& where) {
  const NpyHeader h = read_header(in, where);
  const auto t = dtype_of(h.descr, where);
  const auto nbytes = static_cast<int64_t>(in.left());
  std::vector<int64_t> shape = h.shape;
  if (h.fortran_order) std::reverse(shape.begin(), shape.end());
  auto out = torch::empty(shape, torch::TensorOptions().dtype(t));
  if (nbytes > 0) in.read(static_cast<char*>(out.data_ptr()), static_cast<size_t>(nbytes));
  in.finish();
  check_bools(out, where);
  if (h.fortran_order && shape.size() > 1) {
    std::vector<int64_t> perm(shape.size());
    for (size_t k = 0; k < perm.size(); ++k) perm[k] = static_cast<int64_t>(perm.size() - 1 - k);
    out = out.permute(perm).contiguous();
  }
  return out;
}

// ---------------------------------------------------------------- zip directory

struct Entry {
  std::string name;
  uint64_t comp = 0, uncomp = 0, local_offset = 0;
  int method = 0;
  uint32_t crc = 0;
  uint16_t flags = 0;
  uint64_t dir_offset = 0;  // where its central-directory record is (for messages)
};

std::vector<Entry> read_directory(Source& src) {
  const uint64_t size = src.size();
  if (size < 22) src.fail(0, "not a zip archive: " + std::to_string(size) + " bytes");
  // The end-of-central-directory record: the last 22 bytes plus a comment of up to 65535 bytes.
  const uint64_t tail_len = std::min<uint64_t>(size, 22 + 65535);
  std::vector<char> tail(tail_len);
  src.read(size - tail_len, tail.data(), tail_len);
  int64_t eocd = -1;
  for (int64_t k = static_cast<int64_t>(tail_len) - 22; k >= 0; --k) {
    if (le(&tail[k], 4) == 0x06054b50 && k + 22 + le(&tail[k + 20], 2) == tail_len) {
      eocd = k;
      break;
    }
  }
  if (eocd < 0) src.fail(size, "not a zip archive: no end-of-central-directory record");
  const uint64_t eocd_off = size - tail_len + static_cast<uint64_t>(eocd);
  const char* e = &tail[eocd];
  uint64_t count = le(e + 10, 2), cd_size = le(e + 12, 4), cd_off = le(e + 16, 4);
  if (le(e + 4, 2) != 0 || le(e + 6, 2) != 0) src.fail(eocd_off, "multi-disk zip archives are not supported");
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) {
    if (eocd_off < 20) src.fail(eocd_off, "ZIP64 archive without its locator");
    char loc[20];
    src.read(eocd_off - 20, loc, 20);
    if (le(loc, 4) != 0x07064b50) src.fail(eocd_off - 20, "ZIP64 locator signature missing");
    const uint64_t z64 = le(loc + 8, 8);
    char rec[56];
    src.read_checked(z64, rec, 56, "ZIP64 end-of-central-directory record");
    if (le(rec, 4) != 0x06064b50) src.fail(z64, "ZIP64 end-of-central-directory signature missing");
    count = le(rec + 32, 8);
    cd_size = le(rec + 40, 8);
    cd_off = le(rec + 48, 8);
  }
  if (cd_off > size || cd_size > size - cd_off) {
    src.fail(eocd_off, "central directory at " + std::to_string(cd_off) + " (+" + std::to_string(cd_size) +
                           ") lies outside the file");
  }
  if (count > cd_size / 46) src.fail(eocd_off, std::to_string(count) + " entries cannot fit the central directory");
  std::vector<char> cd(cd_size);
  src.read(cd_off, cd.data(), cd_size);
  std::vector<Entry> out;
  uint64_t p = 0;
  for (uint64_t k = 0; k < count; ++k) {
    const uint64_t at = cd_off + p;
    if (cd_size - p < 46 || le(&cd[p], 4) != 0x02014b50)
      src.fail(at, "bad central directory record " + std::to_string(k));
    const char* r = &cd[p];
    Entry en;
    en.dir_offset = at;
    en.flags = static_cast<uint16_t>(le(r + 8, 2));
    en.method = static_cast<int>(le(r + 10, 2));
    en.crc = static_cast<uint32_t>(le(r + 16, 4));
    en.comp = le(r + 20, 4);
    en.uncomp = le(r + 24, 4);
    const uint64_t name_len = le(r + 28, 2), extra_len = le(r + 30, 2), comment_len = le(r + 32, 2);
    en.local_offset = le(r + 42, 4);
    if (cd_size - p - 46 < name_len + extra_len + comment_len) src.fail(at, "central directory record overruns");
    en.name.assign(r + 46, name_len);
    // ZIP64 extra field: the 64-bit values of the fields that hold 0xFFFFFFFF, in this order.
    const char* x = r + 46 + name_len;
    for (uint64_t q = 0; q + 4 <= extra_len;) {
      const uint64_t id = le(x + q, 2), len = le(x + q + 2, 2);
      if (q + 4 + len > extra_len) src.fail(at, "extra field overruns its record");
      if (id == 0x0001) {
        uint64_t f = q + 4;
        auto take = [&](uint64_t& v) {
          if (v != 0xFFFFFFFF) return;
          if (f + 8 > q + 4 + len) src.fail(at, "short ZIP64 extra field");
          v = le(x + f, 8);
          f += 8;
        };
        take(en.uncomp);
        take(en.comp);
        take(en.local_offset);
      }
      q += 4 + len;
    }
    p += 46 + name_len + extra_len + comment_len;
    out.push_back(std::move(en));
  }
  return out;
}

std::string strip_npy(const std::string& n) {
  return n.size() > 4 && n.compare(n.size() - 4, 4, ".npy") == 0 ? n.substr(0, n.size() - 4) : n;
}

void read_rows(EntryStream& in, const std::string& where, int64_t rows_per_chunk, const RowsCallback& on_rows) {
  const NpyHeader h = read_header(in, where);
  const auto t = dtype_of(h.descr, where);
  if (h.shape.empty()) throw std::runtime_error(where + ": a scalar has no rows");
  if (h.fortran_order && h.shape.size() > 1) {
    throw std::runtime_error(where + ": a Fortran-order array cannot be read row by row; save it in C order");
  }
  int64_t row_elems = 1;
  for (size_t k = 1; k < h.shape.size(); ++k) row_elems *= h.shape[k];  // the header check bounded the product
  const int64_t row_bytes = row_elems * itemsize_of(h.descr);
  const int64_t rows = h.shape[0];
  for (int64_t first = 0; first < rows; first += rows_per_chunk) {
    std::vector<int64_t> shape = h.shape;
    shape[0] = std::min(rows_per_chunk, rows - first);
    auto chunk = torch::empty(shape, torch::TensorOptions().dtype(t));
    if (chunk.numel() > 0) in.read(static_cast<char*>(chunk.data_ptr()), static_cast<size_t>(shape[0] * row_bytes));
    check_bools(chunk, where);
    on_rows(first, chunk);
  }
  in.finish();
}

// The entry `name` (with or without ".npy") of the archive, positioned at its data.
struct FoundEntry {
  uint64_t data_off, comp, uncomp;
  int method;
  uint32_t crc;
  std::string where;
};

FoundEntry find_entry(Source& src, const std::string& name) {
  const auto entries = read_directory(src);
  const Entry* en = nullptr;
  std::string names;
  for (const auto& e : entries) {
    names += (names.empty() ? "" : ", ") + strip_npy(e.name);
    if (e.name == name + ".npy" || e.name == name) en = &e;
  }
  if (!en) throw std::runtime_error(src.name() + ": no array '" + name + "' (has: " + names + ")");
  const std::string where = src.name() + ": " + en->name;
  if (en->flags & 1) src.fail(en->dir_offset, en->name + " is encrypted");
  if (en->method != 0 && en->method != 8) {
    src.fail(en->dir_offset, en->name + " uses compression method " + std::to_string(en->method) +
                                 " (only stored and deflate are supported)");
  }
  if (en->method == 0 && en->comp != en->uncomp) src.fail(en->dir_offset, en->name + ": stored sizes disagree");
  // Deflate expands at most about 1032:1; a larger claim is a damaged or hostile directory.
  if (en->method == 8 && en->uncomp / 1100 > en->comp + 1) {
    src.fail(en->dir_offset, en->name + " claims " + std::to_string(en->uncomp) + " bytes from " +
                                 std::to_string(en->comp) + " compressed");
  }
  char lh[30];
  src.read_checked(en->local_offset, lh, 30, "local file header");
  if (le(lh, 4) != 0x04034b50) src.fail(en->local_offset, "local file header signature missing for " + en->name);
  const uint64_t data_off = en->local_offset + 30 + le(lh + 26, 2) + le(lh + 28, 2);
  if (data_off > src.size() || en->comp > src.size() - data_off) {
    src.fail(data_off, "truncated: " + en->name + " needs " + std::to_string(en->comp) + " bytes of data");
  }
  return FoundEntry{data_off, en->comp, en->uncomp, en->method, en->crc, where};
}

torch::Tensor read_entry(Source& src, const std::string& name) {
  const auto e = find_entry(src, name);
  EntryStream in(src, e.data_off, e.comp, e.uncomp, e.method, e.crc, e.where);
  return read_array(in, e.where);
}

}  // namespace

NpyHeader parse_npy_header(std::string_view bytes, const std::string& source) {
  auto fail = [&](size_t off, const std::string& what) -> void {
    throw std::runtime_error(source + ": byte " + std::to_string(off) + ": " + what);
  };
  if (bytes.size() < 10) fail(bytes.size(), "truncated npy header");
  if (bytes.substr(0, 6) != std::string_view("\x93NUMPY", 6)) fail(0, "not an npy array (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3) fail(6, "unsupported npy version " + std::to_string(major));
  size_t prefix = 10, len = le(bytes.data() + 8, 2);
  if (major >= 2) {
    if (bytes.size() < 12) fail(bytes.size(), "truncated npy header");
    prefix = 12;
    len = le(bytes.data() + 8, 4);
  }
  if (len > bytes.size() - prefix) fail(prefix, "truncated: npy header of " + std::to_string(len) + " bytes");
  HeaderParser ps{bytes.substr(prefix, len), 0, prefix, source};
  NpyHeader h;
  bool have_descr = false, have_order = false, have_shape = false;
  ps.expect('{');
  while (!ps.eat('}')) {
    const std::string key = ps.str();
    ps.expect(':');
    if (key == "descr") {
      h.descr = ps.str();
      have_descr = true;
    } else if (key == "fortran_order") {
      ps.ws();
      if (ps.s.substr(ps.p, 4) == "True") {
        h.fortran_order = true;
        ps.p += 4;
      } else if (ps.s.substr(ps.p, 5) == "False") {
        ps.p += 5;
      } else {
        ps.fail("fortran_order must be True or False");
      }
      have_order = true;
    } else if (key == "shape") {
      ps.expect('(');
      while (!ps.eat(')')) {
        h.shape.push_back(ps.integer());
        if (h.shape.size() > 32) ps.fail("more than 32 dimensions");
        if (!ps.eat(',')) {
          ps.expect(')');
          break;
        }
      }
      have_shape = true;
    } else {
      ps.fail("unexpected key '" + key + "'");
    }
    if (!ps.eat(',')) {
      ps.expect('}');
      break;
    }
  }
  if (!have_descr || !have_order || !have_shape) ps.fail("needs descr, fortran_order and shape");
  dtype_of(h.descr, source);
  h.data_offset = prefix + len;
  return h;
}

torch::Tensor parse_npy(std::string_view bytes, const std::string& source) {
  // An .npy is a stored zip entry without the zip: stream it from memory.
  MemorySource src(bytes, source);
  EntryStream in(src, 0, bytes.size(), bytes.size(), 0,
                 static_cast<uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size())), source);
  return read_array(in, source);
}

std::vector<std::string> list_npz(const std::filesystem::path& file) {
  FileSource src(file);
  std::vector<std::string> out;
  for (const auto& e : read_directory(src)) out.push_back(strip_npy(e.name));
  return out;
}

torch::Tensor read_npz_array(const std::filesystem::path& file, const std::string& name) {
  FileSource src(file);
  return read_entry(src, name);
}

void read_npz_rows(const std::filesystem::path& file, const std::string& name, int64_t rows_per_chunk,
                   const RowsCallback& on_rows) {
  if (rows_per_chunk < 1) throw std::invalid_argument("read_npz_rows: rows_per_chunk must be >= 1");
  FileSource src(file);
  const auto e = find_entry(src, name);
  EntryStream in(src, e.data_off, e.comp, e.uncomp, e.method, e.crc, e.where);
  read_rows(in, e.where, rows_per_chunk, on_rows);
}

std::vector<int64_t> npz_array_shape(const std::filesystem::path& file, const std::string& name) {
  FileSource src(file);
  const auto e = find_entry(src, name);
  EntryStream in(src, e.data_off, e.comp, e.uncomp, e.method, e.crc, e.where);
  auto shape = read_header(in, e.where).shape;
  return shape;
}

torch::Tensor parse_npz_array(std::string_view zip_bytes, const std::string& name, const std::string& source) {
  MemorySource src(zip_bytes, source);
  return read_entry(src, name);
}

std::vector<std::string> parse_npz_names(std::string_view zip_bytes, const std::string& source) {
  MemorySource src(zip_bytes, source);
  std::vector<std::string> out;
  for (const auto& e : read_directory(src)) out.push_back(strip_npy(e.name));
  return out;
}

}  // namespace graphmae2::datasets::npz
