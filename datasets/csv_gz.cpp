#include "datasets/csv_gz.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>

namespace graphmae2::datasets {
namespace {

constexpr size_t kChunk = 1 << 20;
constexpr size_t kMaxLine = 64 << 20;  // a line longer than this is a damaged file, not a record

// Splits a byte stream (pulled through `fill`) into lines; counts them for error messages.
class LineReader {
 public:
  using Fill = std::function<size_t(char*, size_t)>;  // returns bytes read, 0 at the end; throws on error
  // `chunk`: bytes pulled per fill (small inputs in memory need no 1 MiB buffer).
  LineReader(Fill fill, std::string source, size_t chunk = kChunk)
      : fill_(std::move(fill)), source_(std::move(source)), chunk_(std::max<size_t>(chunk, 1)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(source_ + ": line " + std::to_string(line_) + ": " + what);
  }
  int64_t line() const { return line_; }

  bool next(std::string_view& out) {
    while (true) {
      const size_t nl = std::string_view(buf_).find('\n', pos_);
      if (nl != std::string_view::npos) {
        out = std::string_view(buf_).substr(pos_, nl - pos_);
        pos_ = nl + 1;
        return finish(out);
      }
      if (eof_) {
        if (pos_ >= buf_.size()) return false;
        out = std::string_view(buf_).substr(pos_);  // last line without '\n'
        pos_ = buf_.size();
        return finish(out);
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      if (buf_.size() > kMaxLine) {
        ++line_;
        fail("longer than " + std::to_string(kMaxLine) + " bytes");
      }
      const size_t old = buf_.size();
      buf_.resize(old + chunk_);
      const size_t got = fill_(buf_.data() + old, chunk_);
      buf_.resize(old + got);
      if (got == 0) eof_ = true;
    }
  }

 private:
  bool finish(std::string_view& out) {
    ++line_;
    if (!out.empty() && out.back() == '\r') out.remove_suffix(1);
    return true;
  }
  Fill fill_;
  std::string source_;
  size_t chunk_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  int64_t line_ = 0;
};

std::string shown(std::string_view s) {
  std::string out(s.substr(0, 40));
  for (auto& c : out) {
    if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) c = '?';
  }
  return s.size() > 40 ? out + "..." : out;
}

// Calls `field(k, text)` for each comma-separated field; returns the field count.
template <class F>
int64_t for_each_field(std::string_view line, F&& field) {
  int64_t k = 0;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    const auto text = line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    field(k++, text);
    if (comma == std::string_view::npos) return k;
    start = comma + 1;
  }
}

template <class T>
bool parse_number(std::string_view text, T& v) {
  if (text.empty()) return false;
  const char* b = text.data();
  const char* e = b + text.size();
  if (*b == '+') ++b;  // from_chars rejects a leading '+', which CSV writers may emit
  auto [ptr, ec] = std::from_chars(b, e, v);
  return ec == std::errc() && ptr == e;
}

LineReader::Fill gz_fill(gzFile f, const std::filesystem::path& file) {
  return [f, file](char* dst, size_t n) -> size_t {
    const int got = gzread(f, dst, static_cast<unsigned>(n));
    if (got < 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      throw std::runtime_error(file.string() + ": gzip error: " + (msg ? msg : "unknown"));
    }
    if (got == 0) {
      // zlib reports a truncated stream (Z_BUF_ERROR) only through gzerror at the end.
      int err = Z_OK;
      const char* msg = gzerror(f, &err);
      if (err != Z_OK && err != Z_STREAM_END) {
        throw std::runtime_error(file.string() + ": gzip error at the end: " + (msg ? msg : "unknown"));
      }
    }
    return static_cast<size_t>(got);
  };
}

LineReader::Fill memory_fill(std::string_view text) {
  auto pos = std::make_shared<size_t>(0);
  return [text, pos](char* dst, size_t n) -> size_t {
    const size_t k = std::min(n, text.size() - *pos);
    std::memcpy(dst, text.data() + *pos, k);
    *pos += k;
    return k;
  };
}

// Opens `file` with zlib (which also reads plain text) and runs `body` on its lines.
template <class Body>
auto with_gz_file(const std::filesystem::path& file, Body&& body) {
  if (!std::filesystem::is_regular_file(file)) throw std::runtime_error(file.string() + ": no such file");
  gzFile f = gzopen(file.c_str(), "rb");
  if (!f) throw std::runtime_error(file.string() + ": cannot open for reading");
  gzbuffer(f, kChunk);
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{f};
  LineReader reader(gz_fill(f, file), file.string());
  return body(reader);
}

std::vector<int64_t> ints(LineReader& r, int64_t columns) {
  if (columns <= 0) throw std::invalid_argument("read_int_csv: columns must be positive");
  std::vector<int64_t> out;
  std::string_view line;
  while (r.next(line)) {
    const int64_t n = for_each_field(line, [&](int64_t k, std::string_view text) {
      int64_t v = 0;
      if (k < columns && !parse_number(text, v)) {
        r.fail("field " + std::to_string(k + 1) + " is '" + shown(text) + "', expected an integer");
      }
      if (k < columns) out.push_back(v);
    });
    if (n != columns) r.fail("has " + std::to_string(n) + " fields, expected " + std::to_string(columns));
  }
  return out;
}

// `max_text_bytes` bounds what the text can hold (each value takes at least 2 bytes), so a row count from
// another file cannot make us allocate more than the input could fill.
torch::Tensor floats(LineReader& r, int64_t rows, uint64_t max_text_bytes) {
  std::vector<float> values;
  int64_t cols = -1;
  torch::Tensor out;
  float* dst = nullptr;
  std::string_view line;
  int64_t row = 0;
  while (r.next(line)) {
    if (rows >= 0 && row >= rows) r.fail("more lines than the " + std::to_string(rows) + " expected");
    if (cols < 0) {
      cols = for_each_field(line, [](int64_t, std::string_view) {});
      if (rows >= 0) {
        if (static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) > max_text_bytes / 2 + 1) {
          r.fail(std::to_string(rows) + " rows of " + std::to_string(cols) + " values cannot fit in this input");
        }
        out = torch::empty({rows, cols}, torch::kFloat32);
        dst = out.data_ptr<float>();
      }
    }
    float* row_dst = nullptr;
    if (dst) {
      row_dst = dst + row * cols;
    } else {
      values.resize(values.size() + static_cast<size_t>(cols));
      row_dst = values.data() + values.size() - static_cast<size_t>(cols);
    }
    const int64_t n = for_each_field(line, [&](int64_t k, std::string_view text) {
      if (k >= cols) return;
      float v = 0;
      if (!parse_number(text, v) || !std::isfinite(v)) {
        r.fail("field " + std::to_string(k + 1) + " is '" + shown(text) + "', expected a finite number");
      }
      row_dst[k] = v;
    });
    if (n != cols) r.fail("has " + std::to_string(n) + " fields, the first line has " + std::to_string(cols));
    ++row;
  }
  if (rows >= 0 && row != rows) {
    r.fail("the file ends after " + std::to_string(row) + " lines, expected " + std::to_string(rows));
  }
  if (!dst) {
    out = torch::empty({row, std::max<int64_t>(cols, 0)}, torch::kFloat32);
    if (!values.empty()) std::memcpy(out.data_ptr<float>(), values.data(), values.size() * sizeof(float));
  }
  return out;
}

torch::Tensor labels(LineReader& r) {
  std::vector<int64_t> out;
  std::string_view line;
  while (r.next(line)) {
    if (line.empty() || line == "nan" || line == "NaN") {
      out.push_back(-1);
      continue;
    }
    int64_t v = 0;
    if (!parse_number(line, v)) {
      // Labels written from float arrays look like "3.0".
      double d = 0;
      if (!parse_number(line, d) || d != std::floor(d) || d < 0 || d > 9.0e15) {
        r.fail("'" + shown(line) + "' is not a class id (a non-negative integer or nan)");
      }
      v = static_cast<int64_t>(d);
    }
    if (v < 0) r.fail("negative class id " + std::to_string(v));
    out.push_back(v);
  }
  auto t = torch::empty({static_cast<int64_t>(out.size())}, torch::kInt64);
  if (!out.empty()) std::memcpy(t.data_ptr<int64_t>(), out.data(), out.size() * sizeof(int64_t));
  return t;
}

}  // namespace

std::vector<int64_t> read_int_csv(const std::filesystem::path& file, int64_t columns) {
  return with_gz_file(file, [&](LineReader& r) { return ints(r, columns); });
}
torch::Tensor read_float_csv(const std::filesystem::path& file, int64_t rows) {
  // 1100: above deflate's largest expansion ratio (about 1032:1).
  if (!std::filesystem::is_regular_file(file)) throw std::runtime_error(file.string() + ": no such file");
  const uint64_t budget = std::filesystem::file_size(file) * 1100;
  return with_gz_file(file, [&](LineReader& r) { return floats(r, rows, budget); });
}
torch::Tensor read_label_csv(const std::filesystem::path& file) {
  return with_gz_file(file, [&](LineReader& r) { return labels(r); });
}

std::vector<int64_t> parse_int_csv(std::string_view text, int64_t columns, const std::string& source) {
  LineReader r(memory_fill(text), source, std::min(kChunk, text.size() + 1));
  return ints(r, columns);
}
torch::Tensor parse_float_csv(std::string_view text, int64_t rows, const std::string& source) {
  LineReader r(memory_fill(text), source, std::min(kChunk, text.size() + 1));
  return floats(r, rows, text.size());
}
torch::Tensor parse_label_csv(std::string_view text, const std::string& source) {
  LineReader r(memory_fill(text), source, std::min(kChunk, text.size() + 1));
  return labels(r);
}

}  // namespace graphmae2::datasets
