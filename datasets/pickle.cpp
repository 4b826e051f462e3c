#include "datasets/pickle.h"

#include "datasets/shape_check.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace graphmae2::datasets::pickle {
namespace {

static_assert(std::endian::native == std::endian::little, "the pickle reader copies little-endian arrays as is");

// Every value lives in one arena owned by the machine; containers hold raw pointers into it. Freeing is
// therefore flat (no recursion on hostile nesting) and a container holding itself leaks nothing.
enum class Kind { None, Bool, Int, Bytes, Tuple, List, Dict, Global, NdArray, Dtype, CsrMatrix, DefaultDict };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Bytes:
      return "str";
    case Kind::Tuple:
      return "tuple";
    case Kind::List:
      return "list";
    case Kind::Dict:
      return "dict";
    case Kind::Global:
      return "global";
    case Kind::NdArray:
      return "numpy.ndarray";
    case Kind::Dtype:
      return "numpy.dtype";
    case Kind::CsrMatrix:
      return "scipy.sparse.csr_matrix";
    case Kind::DefaultDict:
      return "collections.defaultdict";
  }
  return "?";
}

struct Obj {
  Kind kind = Kind::None;
  size_t pos = 0;                              // byte offset of the opcode that made it
  int64_t i = 0;                               // Int, Bool
  std::string_view s;                          // Bytes (a view into the input), Global name, Dtype code
  std::vector<Obj*> items;                     // Tuple, List (List: ints only)
  std::vector<std::pair<Obj*, Obj*>> entries;  // Dict, DefaultDict
  bool built = false;                          // NdArray, Dtype, CsrMatrix: BUILD applied
  // NdArray after BUILD
  std::vector<int64_t> shape;
  const Obj* dtype = nullptr;
  bool fortran = false;
  std::string_view raw;
  // Dtype after BUILD
  char byteorder = '<';
  // CsrMatrix after BUILD: its state dict
  const Obj* state = nullptr;
};

constexpr std::string_view kAllowedGlobals[] = {
    "numpy.core.multiarray._reconstruct", "numpy.ndarray",    "numpy.dtype",
    "scipy.sparse.csr.csr_matrix",        "__builtin__.list", "collections.defaultdict"};

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 80)) {
    if (c >= 32 && c < 127) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > 80) out += "...";
  return out;
}

std::string opcode_name(unsigned char op) {
  switch (op) {
    case 0x80:
      return "PROTO";
    case 'c':
      return "GLOBAL";
    case 'q':
      return "BINPUT";
    case 'r':
      return "LONG_BINPUT";
    case 'h':
      return "BINGET";
    case ')':
      return "EMPTY_TUPLE";
    case 0x85:
      return "TUPLE1";
    case 0x86:
      return "TUPLE2";
    case 0x87:
      return "TUPLE3";
    case 't':
      return "TUPLE";
    case 0x81:
      return "NEWOBJ";
    case '}':
      return "EMPTY_DICT";
    case ']':
      return "EMPTY_LIST";
    case '(':
      return "MARK";
    case 'U':
      return "SHORT_BINSTRING";
    case 'T':
      return "BINSTRING";
    case 'K':
      return "BININT1";
    case 'M':
      return "BININT2";
    case 'J':
      return "BININT";
    case 'R':
      return "REDUCE";
    case 'N':
      return "NONE";
    case 0x88:
      return "NEWTRUE";
    case 0x89:
      return "NEWFALSE";
    case 'b':
      return "BUILD";
    case 'u':
      return "SETITEMS";
    case 'a':
      return "APPEND";
    case 'e':
      return "APPENDS";
    case '.':
      return "STOP";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "opcode 0x%02x", op);
      return buf;
    }
  }
}

class Machine {
 public:
  Machine(std::string_view bytes, const std::string& source) : in_(bytes), source_(source) {}

  [[noreturn]] void fail(size_t pos, const std::string& what) const {
    throw std::runtime_error(source_ + ": byte " + std::to_string(pos) + ": " + what);
  }

  const Obj* run() {
    while (true) {
      if (p_ >= in_.size()) fail(p_, "truncated: the pickle ends before its STOP opcode");
      const size_t at = p_;
      const auto op = static_cast<unsigned char>(in_[p_++]);
      if (at == 0 && op != 0x80) fail(at, "not a protocol-2 pickle: starts with " + opcode_name(op));
      switch (op) {
        case 0x80: {
          const auto v = static_cast<unsigned char>(take(1, at, op)[0]);
          if (at != 0 || v != 2) fail(at, "expected PROTO 2 at byte 0, got PROTO " + std::to_string(v));
          break;
        }
        case 'c':
          op_global(at);
          break;
        case 'q':
          memo_put(static_cast<unsigned char>(take(1, at, op)[0]), at);
          break;
        case 'r':
          memo_put(static_cast<uint32_t>(le_int(take(4, at, op), false)), at);
          break;
        case 'h': {
          const auto key = static_cast<unsigned char>(take(1, at, op)[0]);
          auto it = memo_.find(key);
          if (it == memo_.end()) fail(at, "BINGET " + std::to_string(key) + " of an empty memo slot");
          push(it->second);
          break;
        }
        case ')':
          push(make(Kind::Tuple, at));
          break;
        case 0x85:
        case 0x86:
        case 0x87: {
          const size_t n = op - 0x84;
          need_stack(n, at, op);
          Obj* t = make(Kind::Tuple, at);
          t->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(t);
          break;
        }
        case 't': {
          const size_t m = pop_mark(at, op);
          Obj* t = make(Kind::Tuple, at);
          t->items.assign(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
          stack_.resize(m);
          push(t);
          break;
        }
        case 0x81:
          op_newobj(at);
          break;
        case '}':
          push(make(Kind::Dict, at));
          break;
        case ']':
          push(make(Kind::List, at));
          break;
        case '(':
          marks_.push_back(stack_.size());
          break;
        case 'U':
          push_bytes(take(static_cast<unsigned char>(take(1, at, op)[0]), at, op), at);
          break;
        case 'T': {
          const int64_t n = le_int(take(4, at, op), true);
          if (n < 0) fail(at, "BINSTRING with negative length " + std::to_string(n));
          push_bytes(take(static_cast<size_t>(n), at, op), at);
          break;
        }
        case 'K':
          push_int(static_cast<unsigned char>(take(1, at, op)[0]), at);
          break;
        case 'M':
          push_int(le_int(take(2, at, op), false), at);
          break;
        case 'J':
          push_int(le_int(take(4, at, op), true), at);
          break;
        case 'R':
          op_reduce(at);
          break;
        case 'N':
          push(make(Kind::None, at));
          break;
        case 0x88:
        case 0x89: {
          Obj* b = make(Kind::Bool, at);
          b->i = op == 0x88;
          push(b);
          break;
        }
        case 'b':
          op_build(at);
          break;
        case 'u':
          op_setitems(at);
          break;
        case 'a': {
          need_stack(2, at, op);
          Obj* v = pop();
          append_to(stack_.back(), v, at);
          break;
        }
        case 'e': {
          const size_t m = pop_mark(at, op);
          if (m <= floor_below_marks()) fail(at, "APPENDS with no list below its MARK");
          Obj* list = stack_[m - 1];
          for (size_t k = m; k < stack_.size(); ++k) append_to(list, stack_[k], at);
          stack_.resize(m);
          break;
        }
        case '.': {
          if (stack_.size() != 1 || !marks_.empty()) {
            fail(at, "STOP with " + std::to_string(stack_.size()) + " values and " + std::to_string(marks_.size()) +
                         " open MARKs on the stack, expected exactly one value");
          }
          if (p_ != in_.size()) fail(p_, std::to_string(in_.size() - p_) + " trailing bytes after STOP");
          return stack_.back();
        }
        default:
          fail(at, "unsupported " + opcode_name(op) + " (this reader accepts only the opcodes of Planetoid files)");
      }
    }
  }

 private:
  Obj* make(Kind k, size_t pos) {
    Obj& o = arena_.emplace_back();
    o.kind = k;
    o.pos = pos;
    return &o;
  }
  void push(Obj* o) { stack_.push_back(o); }
  Obj* pop() {
    Obj* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  void push_int(int64_t v, size_t at) {
    Obj* o = make(Kind::Int, at);
    o->i = v;
    push(o);
  }
  void push_bytes(std::string_view s, size_t at) {
    Obj* o = make(Kind::Bytes, at);
    o->s = s;
    push(o);
  }

  std::string_view take(size_t n, size_t at, unsigned char op) {
    if (n > in_.size() - p_) {
      fail(at, "truncated: " + opcode_name(op) + " needs " + std::to_string(n) + " bytes at byte " +
                   std::to_string(p_) + ", only " + std::to_string(in_.size() - p_) + " left");
    }
    auto s = in_.substr(p_, n);
    p_ += n;
    return s;
  }
  static int64_t le_int(std::string_view b, bool is_signed) {
    uint64_t v = 0;
    for (size_t k = 0; k < b.size(); ++k) v |= static_cast<uint64_t>(static_cast<unsigned char>(b[k])) << (8 * k);
    if (is_signed && b.size() == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
    return static_cast<int64_t>(v);
  }

  void need_stack(size_t n, size_t at, unsigned char op) {
    const size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() < floor + n) {
      fail(at, opcode_name(op) + " needs " + std::to_string(n) + " values on the stack, found " +
                   std::to_string(stack_.size() - floor));
    }
  }
  size_t pop_mark(size_t at, unsigned char op) {
    if (marks_.empty()) fail(at, opcode_name(op) + " without a MARK");
    const size_t m = marks_.back();
    marks_.pop_back();
    return m;
  }

  size_t floor_below_marks() const { return marks_.empty() ? 0 : marks_.back(); }

  void memo_put(uint32_t key, size_t at) {
    if (stack_.size() <= floor_below_marks()) fail(at, "memo put with an empty stack");
    memo_[key] = stack_.back();
  }

  void op_global(size_t at) {
    auto line = [&]() {
      const size_t nl = in_.find('\n', p_);
      if (nl == std::string_view::npos) fail(at, "truncated: GLOBAL name has no terminating newline");
      auto s = in_.substr(p_, nl - p_);
      p_ = nl + 1;
      return s;
    };
    const auto module = line();
    const auto name = line();
    const std::string full = std::string(module) + "." + std::string(name);
    for (auto allowed : kAllowedGlobals) {
      if (full == allowed) {
        Obj* g = make(Kind::Global, at);
        g->s = allowed;
        push(g);
        return;
      }
    }
    fail(at,
         "GLOBAL '" + printable(full) + "' is not allowed (only numpy arrays, dtypes, csr_matrix, list, defaultdict)");
  }

  void op_newobj(size_t at) {
    need_stack(2, at, 0x81);
    Obj* args = pop();
    Obj* cls = pop();
    if (cls->kind != Kind::Global || cls->s != "scipy.sparse.csr.csr_matrix") {
      fail(at, std::string("NEWOBJ of ") + (cls->kind == Kind::Global ? std::string(cls->s) : kind_name(cls->kind)) +
                   " is not supported (only scipy.sparse.csr.csr_matrix)");
    }
    if (args->kind != Kind::Tuple || !args->items.empty())
      fail(at, "NEWOBJ csr_matrix expects an empty argument tuple");
    push(make(Kind::CsrMatrix, at));
  }

  void op_reduce(size_t at) {
    need_stack(2, at, 'R');
    Obj* args = pop();
    Obj* fn = pop();
    if (fn->kind != Kind::Global) fail(at, std::string("REDUCE of a ") + kind_name(fn->kind) + ", expected a global");
    if (args->kind != Kind::Tuple)
      fail(at, "REDUCE arguments are a " + std::string(kind_name(args->kind)) + ", expected a tuple");
    const auto& a = args->items;
    if (fn->s == "numpy.core.multiarray._reconstruct") {
      // _reconstruct(ndarray, (0,), 'b') makes an empty array that BUILD then fills.
      const bool ok = a.size() == 3 && a[0]->kind == Kind::Global && a[0]->s == "numpy.ndarray" &&
                      a[1]->kind == Kind::Tuple && a[2]->kind == Kind::Bytes;
      if (!ok) fail(at, "_reconstruct expects (numpy.ndarray, shape, typecode)");
      push(make(Kind::NdArray, at));
    } else if (fn->s == "numpy.dtype") {
      const bool ok = a.size() == 3 && a[0]->kind == Kind::Bytes && a[1]->kind == Kind::Int && a[2]->kind == Kind::Int;
      if (!ok) fail(at, "numpy.dtype expects (code, align, copy)");
      const std::string_view code = a[0]->s;
      if (code != "i4" && code != "i8" && code != "f4" && code != "f8" && code != "u1" && code != "b1") {
        fail(at, "numpy.dtype '" + printable(code) + "' is not supported (i4, i8, f4, f8, u1, b1)");
      }
      Obj* d = make(Kind::Dtype, at);
      d->s = code;
      push(d);
    } else if (fn->s == "collections.defaultdict") {
      if (a.size() != 1 || a[0]->kind != Kind::Global || a[0]->s != "__builtin__.list") {
        fail(at, "only collections.defaultdict(list) is supported");
      }
      push(make(Kind::DefaultDict, at));
    } else {
      fail(at, "REDUCE of " + std::string(fn->s) + " is not supported");
    }
  }

  static int64_t itemsize(std::string_view code) { return code[1] - '0'; }

  void op_build(size_t at) {
    need_stack(2, at, 'b');
    Obj* state = pop();
    Obj* obj = stack_.back();
    if (obj->built) fail(at, std::string("BUILD applied twice to a ") + kind_name(obj->kind));
    const auto& s = state->items;
    switch (obj->kind) {
      case Kind::Dtype: {
        // (version 3, byteorder, subarray, names, fields, elsize, alignment, flags)
        if (state->kind != Kind::Tuple || s.size() != 8 || s[0]->kind != Kind::Int || s[0]->i != 3 ||
            s[1]->kind != Kind::Bytes || s[1]->s.size() != 1) {
          fail(at, "numpy.dtype state must be (3, byteorder, ...) with 8 entries");
        }
        for (size_t k = 2; k < 5; ++k) {
          if (s[k]->kind != Kind::None) fail(at, "structured or sub-array numpy dtypes are not supported");
        }
        const char bo = s[1]->s[0];
        if (bo == '>' || (bo == '|' && itemsize(obj->s) != 1) || (bo != '<' && bo != '|' && bo != '=')) {
          fail(at, std::string("numpy.dtype byte order '") + printable(s[1]->s) + "' is not supported for " +
                       std::string(obj->s) + " (little-endian only)");
        }
        obj->byteorder = bo;
        break;
      }
      case Kind::NdArray: {
        // (version 1, shape, dtype, is_fortran, raw bytes)
        if (state->kind != Kind::Tuple || s.size() != 5 || s[0]->kind != Kind::Int || s[0]->i != 1 ||
            s[1]->kind != Kind::Tuple || s[2]->kind != Kind::Dtype || !s[2]->built || s[3]->kind != Kind::Bool ||
            s[4]->kind != Kind::Bytes) {
          fail(at, "numpy.ndarray state must be (1, shape, dtype, is_fortran, bytes)");
        }
        int64_t numel = 1;
        for (const Obj* d : s[1]->items) {
          if (d->kind != Kind::Int || d->i < 0)
            fail(at, "numpy.ndarray shape holds a non-negative int, got " + describe(d));
          if (__builtin_mul_overflow(numel, d->i, &numel)) fail(at, "numpy.ndarray shape overflows int64");
          obj->shape.push_back(d->i);
        }
        int64_t nbytes = 0;
        if (__builtin_mul_overflow(numel, itemsize(s[2]->s), &nbytes) ||
            static_cast<uint64_t>(nbytes) != s[4]->s.size()) {
          fail(at, "numpy.ndarray data has " + std::to_string(s[4]->s.size()) + " bytes, shape and dtype " +
                       std::string(s[2]->s) + " need " + std::to_string(numel) + " x " +
                       std::to_string(itemsize(s[2]->s)));
        }
        obj->dtype = s[2];
        obj->fortran = s[3]->i != 0;
        obj->raw = s[4]->s;
        break;
      }
      case Kind::CsrMatrix:
        if (state->kind != Kind::Dict) fail(at, "csr_matrix state must be a dict");
        obj->state = state;
        break;
      default:
        fail(at, std::string("BUILD of a ") + kind_name(obj->kind) + " is not supported");
    }
    obj->built = true;
  }

  void op_setitems(size_t at) {
    const size_t m = pop_mark(at, 'u');
    if (m <= floor_below_marks()) fail(at, "SETITEMS with no dict below its MARK");
    Obj* d = stack_[m - 1];
    if ((stack_.size() - m) % 2 != 0) fail(at, "SETITEMS with an odd number of values");
    for (size_t k = m; k < stack_.size(); k += 2) {
      Obj* key = stack_[k];
      Obj* value = stack_[k + 1];
      if (d->kind == Kind::Dict) {
        if (key->kind != Kind::Bytes) fail(at, "dict key must be a str, got " + describe(key));
      } else if (d->kind == Kind::DefaultDict) {
        if (key->kind != Kind::Int || value->kind != Kind::List) {
          fail(at, "defaultdict(list) entries must be int -> list, got " + describe(key) + " -> " + describe(value));
        }
      } else {
        fail(at, std::string("SETITEMS on a ") + kind_name(d->kind));
      }
      d->entries.emplace_back(key, value);
    }
    stack_.resize(m);
  }

  void append_to(Obj* list, Obj* v, size_t at) {
    if (list->kind != Kind::List) fail(at, std::string("APPEND to a ") + kind_name(list->kind));
    if (v->kind != Kind::Int) fail(at, "list elements must be ints, got " + describe(v));
    list->items.push_back(v);
  }

 public:
  static std::string describe(const Obj* o) {
    std::string out = kind_name(o->kind);
    if (o->kind == Kind::Int) out += " " + std::to_string(o->i);
    if (o->kind == Kind::Bytes) out += " '" + printable(o->s) + "'";
    return out + " (made at byte " + std::to_string(o->pos) + ")";
  }

 private:
  std::string_view in_;
  std::string source_;
  size_t p_ = 0;
  std::deque<Obj> arena_;
  std::vector<Obj*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, Obj*> memo_;
};

torch::Tensor to_tensor(const Obj* a, const Machine& m) {
  if (a->kind != Kind::NdArray || !a->built) m.fail(a->pos, "expected a numpy.ndarray, got " + Machine::describe(a));
  const std::string_view code = a->dtype->s;
  torch::ScalarType t = code == "i4"   ? torch::kInt32
                        : code == "i8" ? torch::kInt64
                        : code == "f4" ? torch::kFloat32
                        : code == "f8" ? torch::kFloat64
                        : code == "u1" ? torch::kUInt8
                                       : torch::kBool;
  std::vector<int64_t> shape = a->shape;
  if (a->fortran) std::reverse(shape.begin(), shape.end());
  if (const auto problem = shape_problem(shape, static_cast<int64_t>(c10::elementSize(t))); !problem.empty()) {
    m.fail(a->pos, "numpy.ndarray: " + problem);
  }
  auto out = torch::empty(shape, torch::TensorOptions().dtype(t));
  if (!a->raw.empty()) std::memcpy(out.data_ptr(), a->raw.data(), a->raw.size());
  if (t == torch::kBool && out.numel() > 0) {
    // A numpy bool byte is 0 or 1; anything else is not a valid bool for torch.
    const auto* b = reinterpret_cast<const unsigned char*>(a->raw.data());
    for (size_t k = 0; k < a->raw.size(); ++k) {
      if (b[k] > 1) m.fail(a->pos, "bool array holds byte value " + std::to_string(b[k]));
    }
  }
  if (a->fortran && shape.size() > 1) {
    std::vector<int64_t> perm(shape.size());
    for (size_t k = 0; k < perm.size(); ++k) perm[k] = static_cast<int64_t>(perm.size() - 1 - k);
    out = out.permute(perm).contiguous();
  }
  return out;
}

torch::Tensor int_vector(const Obj* a, const Machine& m, const char* what) {
  auto t = to_tensor(a, m);
  if (t.dim() != 1 || (t.scalar_type() != torch::kInt32 && t.scalar_type() != torch::kInt64)) {
    m.fail(a->pos, std::string("csr_matrix ") + what + " must be a 1-d int32/int64 array, got " +
                       std::string(a->dtype->s) + " with " + std::to_string(t.dim()) + " dims");
  }
  return t.to(torch::kInt64);
}

}  // namespace

torch::Tensor parse_ndarray(std::string_view bytes, const std::string& source) {
  Machine m(bytes, source);
  return to_tensor(m.run(), m);
}

CsrMatrix parse_csr_matrix(std::string_view bytes, const std::string& source) {
  Machine m(bytes, source);
  const Obj* top = m.run();
  if (top->kind != Kind::CsrMatrix || !top->built)
    m.fail(top->pos, "expected a csr_matrix, got " + Machine::describe(top));
  const Obj *format = nullptr, *shape = nullptr, *indptr = nullptr, *indices = nullptr, *data = nullptr;
  for (const auto& [k, v] : top->state->entries) {
    if (k->s == "format") {
      format = v;
    } else if (k->s == "_shape") {
      shape = v;
    } else if (k->s == "indptr") {
      indptr = v;
    } else if (k->s == "indices") {
      indices = v;
    } else if (k->s == "data") {
      data = v;
    } else if (k->s != "_cs_matrix__has_sorted_indices" && k->s != "maxprint") {
      m.fail(k->pos, "unexpected csr_matrix attribute '" + printable(k->s) + "'");
    }
  }
  if (!format || !shape || !indptr || !indices || !data) {
    m.fail(top->pos, "csr_matrix state lacks one of format, _shape, indptr, indices, data");
  }
  if (format->kind != Kind::Bytes || format->s != "csr") m.fail(format->pos, "csr_matrix format is not 'csr'");
  if (shape->kind != Kind::Tuple || shape->items.size() != 2 || shape->items[0]->kind != Kind::Int ||
      shape->items[1]->kind != Kind::Int || shape->items[0]->i < 0 || shape->items[1]->i < 0) {
    m.fail(shape->pos, "csr_matrix _shape must be two non-negative ints");
  }
  CsrMatrix out;
  out.rows = shape->items[0]->i;
  out.cols = shape->items[1]->i;
  out.indptr = int_vector(indptr, m, "indptr");
  out.indices = int_vector(indices, m, "indices");
  out.data = to_tensor(data, m);
  if (out.indptr.size(0) != out.rows + 1) {
    m.fail(indptr->pos, "csr_matrix indptr has " + std::to_string(out.indptr.size(0)) + " entries for " +
                            std::to_string(out.rows) + " rows");
  }
  const int64_t nnz = out.indices.size(0);
  if (out.data.dim() != 1 || out.data.size(0) != nnz) {
    m.fail(data->pos, "csr_matrix data must be 1-d with " + std::to_string(nnz) + " entries");
  }
  const auto* p = out.indptr.data_ptr<int64_t>();
  if (p[0] != 0 || p[out.rows] != nnz) {
    m.fail(indptr->pos, "csr_matrix indptr must run from 0 to nnz " + std::to_string(nnz) + ", got " +
                            std::to_string(p[0]) + " .. " + std::to_string(p[out.rows]));
  }
  for (int64_t r = 0; r < out.rows; ++r) {
    if (p[r + 1] < p[r]) m.fail(indptr->pos, "csr_matrix indptr decreases at row " + std::to_string(r));
  }
  const auto* c = out.indices.data_ptr<int64_t>();
  for (int64_t e = 0; e < nnz; ++e) {
    if (c[e] < 0 || c[e] >= out.cols) {
      m.fail(indices->pos, "csr_matrix column index " + std::to_string(c[e]) + " at entry " + std::to_string(e) +
                               " is outside [0, " + std::to_string(out.cols) + ")");
    }
  }
  return out;
}

AdjacencyList parse_adjacency(std::string_view bytes, const std::string& source) {
  Machine m(bytes, source);
  const Obj* top = m.run();
  if (top->kind != Kind::DefaultDict) m.fail(top->pos, "expected a defaultdict(list), got " + Machine::describe(top));
  AdjacencyList out;
  std::unordered_map<int64_t, size_t> where;
  for (const auto& [k, v] : top->entries) {
    std::vector<int64_t> nbrs;
    nbrs.reserve(v->items.size());
    for (const Obj* x : v->items) nbrs.push_back(x->i);
    auto [it, fresh] = where.emplace(k->i, out.size());
    if (fresh) {
      out.emplace_back(k->i, std::move(nbrs));
    } else {
      out[it->second].second = std::move(nbrs);
    }
  }
  return out;
}

std::string read_file_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file.string() + ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw std::runtime_error(file.string() + ": read error");
  return ss.str();
}

torch::Tensor read_ndarray(const std::filesystem::path& file) {
  return parse_ndarray(read_file_bytes(file), file.string());
}
CsrMatrix read_csr_matrix(const std::filesystem::path& file) {
  return parse_csr_matrix(read_file_bytes(file), file.string());
}
AdjacencyList read_adjacency(const std::filesystem::path& file) {
  return parse_adjacency(read_file_bytes(file), file.string());
}

}  // namespace graphmae2::datasets::pickle
