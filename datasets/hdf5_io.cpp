#include "datasets/hdf5_io.h"

#include "datasets/shape_check.h"
#include "util/atomic_file.h"

#include <H5Cpp.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace graphmae2::datasets {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

std::string h5_detail(const H5::Exception& e) {
  return h5_failure_reason(e.getDetailMsg().empty() ? e.getFuncName() : e.getDetailMsg());
}

// HDF5 prints its own error stack to stderr by default; we report errors ourselves.
void quiet() {
  static const bool once = [] {
    H5::Exception::dontPrint();
    return true;
  }();
  (void)once;
}

std::vector<std::string> split_path(const std::string& name) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : name) {
    if (c == '/') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

// True if every prefix of `name` exists (H5Lexists fails on a missing intermediate group).
bool exists(const H5::H5File& f, const std::string& name) {
  std::string prefix;
  for (const auto& part : split_path(name)) {
    prefix += "/" + part;
    if (H5Lexists(f.getId(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return !prefix.empty();
}

H5::H5File open_read(const fs::path& file) {
  quiet();
  if (!fs::is_regular_file(file)) fail(file, "no such file");
  try {
    if (!H5::H5File::isHdf5(file.string())) fail(file, "not an HDF5 file");
    return H5::H5File(file.string(), H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    fail(file, "cannot open as HDF5: " + h5_detail(e));
  }
}

void write_string_attr(H5::H5Object& obj, const std::string& key, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  H5::Attribute a = obj.createAttribute(key, type, H5::DataSpace(H5S_SCALAR));
  a.write(type, value);
}

// IEEE half precision, little-endian: HDF5 has no predefined one; this is the layout h5py reads as numpy float16.
const H5::FloatType& half_type() {
  static const H5::FloatType type = [] {
    H5::FloatType t(H5::PredType::IEEE_F32LE);
    t.setFields(15, 10, 5, 0, 10);
    t.setOffset(0);
    t.setPrecision(16);
    t.setSize(2);
    t.setEbias(15);
    return t;
  }();
  return type;
}

const H5::DataType& mem_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat16:
      return half_type();
    case torch::kFloat32:
      return H5::PredType::NATIVE_FLOAT;
    case torch::kFloat64:
      return H5::PredType::NATIVE_DOUBLE;
    case torch::kInt64:
      return H5::PredType::NATIVE_INT64;
    case torch::kInt32:
      return H5::PredType::NATIVE_INT32;
    case torch::kUInt8:
    case torch::kBool:
      return H5::PredType::NATIVE_UINT8;
    default:
      throw std::invalid_argument(std::string("unsupported dtype ") + c10::toString(t));
  }
}

// Creates dataset `name` (and the groups on its path) of `dtype` and `shape`; `chunked_rows`: stored in chunks of
// rows, for data written a row range at a time.
H5::DataSet create_dataset(H5::H5File& f, const std::string& name, torch::ScalarType dtype,
                           const std::vector<int64_t>& shape, bool chunked_rows) {
  const auto& type = mem_type(dtype);
  if (exists(f, name)) throw std::invalid_argument("name is used twice");
  const auto parts = split_path(name);
  if (parts.empty()) throw std::invalid_argument("empty name");
  std::string prefix;
  for (size_t k = 0; k + 1 < parts.size(); ++k) {
    prefix += "/" + parts[k];
    if (H5Lexists(f.getId(), prefix.c_str(), H5P_DEFAULT) <= 0) f.createGroup(prefix);
  }
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  H5::DataSpace space =
      dims.empty() ? H5::DataSpace(H5S_SCALAR) : H5::DataSpace(static_cast<int>(dims.size()), dims.data());
  H5::DSetCreatPropList props;
  if (chunked_rows && !dims.empty() && dims[0] > 0) {
    // About 1 MiB per chunk: large sequential writes, and a reader of a row range touches few chunks.
    hsize_t row_bytes = type.getSize();
    for (size_t k = 1; k < dims.size(); ++k) row_bytes *= std::max<hsize_t>(dims[k], 1);
    std::vector<hsize_t> chunk(dims);
    for (size_t k = 1; k < chunk.size(); ++k) chunk[k] = std::max<hsize_t>(chunk[k], 1);
    chunk[0] = std::clamp<hsize_t>((1 << 20) / std::max<hsize_t>(row_bytes, 1), 1, dims[0]);
    props.setChunk(static_cast<int>(chunk.size()), chunk.data());
  }
  H5::DataSet ds = f.createDataSet(name, type, space, props);
  if (dtype == torch::kBool) write_string_attr(ds, "torch_dtype", "bool");
  return ds;
}

}  // namespace

std::string h5_failure_reason(const std::string& fallback) {
  // HDF5 keeps the failed call's error stack until the next call clears it; its innermost entry says why
  // ("truncated file: eof = ...", "unable to open file: ... No such file"), where the C++ API says only "H5Fopen
  // failed".
  std::string innermost;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* err, void* out) -> herr_t {
        auto& text = *static_cast<std::string*>(out);
        if (text.empty() && err->desc != nullptr && err->desc[0] != '\0') text = err->desc;
        return 0;
      },
      &innermost);
  if (innermost.empty()) return fallback;
  return fallback.empty() ? innermost : fallback + " (" + innermost + ")";
}

struct H5RowSink::Impl {
  std::filesystem::path file;
  std::string name;
  H5::DataSet dataset;
  std::vector<int64_t> shape;
  torch::ScalarType dtype;
};

H5RowSink::H5RowSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
H5RowSink::~H5RowSink() = default;

void H5RowSink::write_rows(int64_t first_row, const torch::Tensor& rows) {
  auto& d = *impl_;
  auto shape = rows.sizes().vec();
  const bool fits = !shape.empty() && shape.size() == d.shape.size() && first_row >= 0 &&
                    first_row + shape[0] <= d.shape[0] &&
                    std::equal(shape.begin() + 1, shape.end(), d.shape.begin() + 1);
  if (!fits) {
    fail(d.file, "dataset '" + d.name + "' of shape " + c10::str(c10::IntArrayRef(d.shape)) + ": rows of shape " +
                     c10::str(rows.sizes()) + " do not fit at row " + std::to_string(first_row));
  }
  if (rows.numel() == 0) return;
  const auto tensor = rows.to(torch::kCPU, d.dtype).contiguous();
  try {
    H5::DataSpace file_space = d.dataset.getSpace();
    std::vector<hsize_t> start(d.shape.size(), 0), count(shape.begin(), shape.end());
    start[0] = static_cast<hsize_t>(first_row);
    file_space.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
    H5::DataSpace mem_space(static_cast<int>(count.size()), count.data());
    d.dataset.write(tensor.data_ptr(), mem_type(d.dtype), mem_space, file_space);
  } catch (const H5::Exception& e) {
    fail(d.file, "writing rows " + std::to_string(first_row) + ".. of dataset '" + d.name + "': " + h5_detail(e));
  }
}

void write_h5_streamed(const fs::path& file, const std::vector<std::pair<std::string, torch::Tensor>>& datasets,
                       const std::map<std::string, std::string>& attrs, const StreamedDataset& streamed,
                       const std::function<void(H5RowSink&)>& fill) {
  quiet();
  std::string current = "(file)";
  try {
    util::atomic_write(file, [&](const fs::path& tmp) {
      H5::H5File f(tmp.string(), H5F_ACC_TRUNC);
      H5::Group root = f.openGroup("/");
      for (const auto& [k, v] : attrs) {
        current = "attribute " + k;
        write_string_attr(root, k, v);
      }
      for (const auto& [name, tensor_in] : datasets) {
        current = "dataset " + name;
        if (!tensor_in.defined()) throw std::invalid_argument("tensor is undefined");
        auto tensor = tensor_in.to(torch::kCPU).contiguous();
        H5::DataSet ds = create_dataset(f, name, tensor.scalar_type(), tensor.sizes().vec(), false);
        if (tensor.numel() > 0) ds.write(tensor.data_ptr(), mem_type(tensor.scalar_type()));
      }
      if (!streamed.name.empty()) {
        current = "dataset " + streamed.name;
        auto impl = std::make_unique<H5RowSink::Impl>();
        impl->file = file;
        impl->name = streamed.name;
        impl->shape = streamed.shape;
        impl->dtype = streamed.dtype;
        impl->dataset = create_dataset(f, streamed.name, streamed.dtype, streamed.shape, !streamed.contiguous);
        H5RowSink sink(std::move(impl));
        fill(sink);
      }
      f.close();
    });
  } catch (const H5::Exception& e) {
    fail(file, "writing " + current + ": " + h5_detail(e));
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    if (what.rfind(file.string() + ":", 0) == 0) throw;  // already names the file
    fail(file, "writing " + current + ": " + what);
  } catch (const std::exception& e) {
    fail(file, "writing " + current + ": " + e.what());
  }
}

void write_h5(const fs::path& file, const std::vector<std::pair<std::string, torch::Tensor>>& datasets,
              const std::map<std::string, std::string>& attrs) {
  write_h5_streamed(file, datasets, attrs, {}, nullptr);
}

bool h5_has(const fs::path& file, const std::string& name) {
  H5::H5File f = open_read(file);
  return exists(f, name);
}

std::vector<int64_t> h5_shape(const fs::path& file, const std::string& name) {
  H5::H5File f = open_read(file);
  if (!exists(f, name) || f.childObjType(name) != H5O_TYPE_DATASET) fail(file, "has no dataset '" + name + "'");
  try {
    H5::DataSpace space = f.openDataSet(name).getSpace();
    std::vector<hsize_t> dims(static_cast<size_t>(space.getSimpleExtentNdims()));
    if (!dims.empty()) space.getSimpleExtentDims(dims.data());
    return std::vector<int64_t>(dims.begin(), dims.end());
  } catch (const H5::Exception& e) {
    fail(file, "reading the shape of '" + name + "': " + h5_detail(e));
  }
}

namespace {

// numpy's bool as h5py writes it: an enum {FALSE = 0, TRUE = 1} over a 1-byte integer.
bool is_numpy_bool(const H5::EnumType& et) {
  int8_t false_value = -1, true_value = -1;
  if (et.getSize() != 1 || et.getNmembers() != 2) return false;
  try {
    et.valueOf("FALSE", &false_value);
    et.valueOf("TRUE", &true_value);
    return false_value == 0 && true_value == 1;
  } catch (const H5::Exception&) {
    return false;
  }
}

// The torch dtype a dataset is read as.
torch::ScalarType tensor_dtype(const H5::DataSet& ds, const fs::path& file, const std::string& name) {
  const H5T_class_t cls = ds.getTypeClass();
  if (cls == H5T_FLOAT) {
    const size_t size = ds.getFloatType().getSize();
    return size == 2 ? torch::kFloat16 : size == 4 ? torch::kFloat32 : torch::kFloat64;
  }
  if (cls == H5T_INTEGER) {
    const auto it = ds.getIntType();
    const bool is_signed = it.getSign() != H5T_SGN_NONE;
    const size_t size = it.getSize();
    if (!is_signed && size == 1) return ds.attrExists("torch_dtype") ? torch::kBool : torch::kUInt8;
    return is_signed && size == 4 ? torch::kInt32 : torch::kInt64;
  }
  if (cls == H5T_ENUM) {
    if (!is_numpy_bool(ds.getEnumType())) {
      fail(file, "dataset '" + name + "' is an enum other than numpy's bool {FALSE = 0, TRUE = 1}");
    }
    return torch::kBool;
  }
  fail(file, "dataset '" + name + "' is not numeric (HDF5 type class " + std::to_string(cls) + ")");
}

// The shape comes from the file: checked against the bytes actually stored before anything is allocated.
// Returns the element count.
int64_t checked_numel(const H5::DataSet& ds, const std::vector<int64_t>& shape, torch::ScalarType t,
                      const fs::path& file, const std::string& name) {
  if (const auto problem = shape_problem(shape, static_cast<int64_t>(c10::elementSize(t))); !problem.empty()) {
    fail(file, "dataset '" + name + "': " + problem);
  }
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(numel, d, &numel)) fail(file, "dataset '" + name + "' has an overflowing shape");
  }
  const int64_t itemsize = static_cast<int64_t>(c10::elementSize(t));
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, itemsize, &nbytes)) fail(file, "dataset '" + name + "' is too large");
  const auto stored = static_cast<int64_t>(ds.getStorageSize());
  const auto layout = ds.getCreatePlist().getLayout();
  const int64_t file_itemsize = static_cast<int64_t>(ds.getDataType().getSize());
  const bool plausible = layout == H5D_CHUNKED ? numel * file_itemsize <= 1024 * stored + (1 << 20)
                                               : numel == 0 || stored == numel * file_itemsize;
  if (!plausible) {
    fail(file, "dataset '" + name + "' claims " + std::to_string(numel) + " elements but stores " +
                   std::to_string(stored) + " bytes");
  }
  return numel;
}

}  // namespace

torch::Tensor read_h5_tensor(const fs::path& file, const std::string& name) {
  H5::H5File f = open_read(file);
  if (!exists(f, name)) fail(file, "has no dataset '" + name + "'");
  try {
    if (f.childObjType(name) != H5O_TYPE_DATASET) fail(file, "'" + name + "' is not a dataset");
    H5::DataSet ds = f.openDataSet(name);
    H5::DataSpace space = ds.getSpace();
    const int rank = space.getSimpleExtentNdims();
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0) space.getSimpleExtentDims(dims.data());
    const std::vector<int64_t> shape(dims.begin(), dims.end());
    const torch::ScalarType t = tensor_dtype(ds, file, name);
    const int64_t numel = checked_numel(ds, shape, t, file, name);
    auto out = torch::empty(shape, torch::TensorOptions().dtype(t));
    if (numel > 0) {
      if (ds.getTypeClass() == H5T_ENUM) {
        ds.read(out.data_ptr(), ds.getEnumType());  // its 0/1 bytes as stored (checked below)
      } else {
        ds.read(out.data_ptr(), mem_type(t));
      }
    }
    if (t == torch::kBool) {
      const auto* b = reinterpret_cast<const uint8_t*>(out.data_ptr());
      for (int64_t k = 0; k < numel; ++k) {
        if (b[k] > 1) {
          fail(file, "bool dataset '" + name + "' holds value " + std::to_string(b[k]) + " at " + std::to_string(k));
        }
      }
    }
    return out;
  } catch (const H5::Exception& e) {
    fail(file, "reading dataset '" + name + "': " + h5_detail(e));
  }
}

std::map<std::string, std::string> read_h5_attrs(const fs::path& file, const std::string& object) {
  H5::H5File f = open_read(file);
  if (object != "/" && !exists(f, object)) fail(file, "has no object '" + object + "'");
  std::map<std::string, std::string> out;
  try {
    auto read_all = [&](const H5::H5Object& obj) {
      const int n = obj.getNumAttrs();
      for (int k = 0; k < n; ++k) {
        H5::Attribute a = obj.openAttribute(static_cast<unsigned>(k));
        const std::string key = a.getName();
        const H5T_class_t cls = a.getTypeClass();
        const bool scalar = a.getSpace().getSimpleExtentNpoints() == 1;
        if (cls == H5T_STRING) {
          std::string v;
          a.read(a.getStrType(), v);
          out[key] = v;
        } else if (cls == H5T_INTEGER && scalar) {
          int64_t v = 0;
          a.read(H5::PredType::NATIVE_INT64, &v);
          out[key] = std::to_string(v);
        } else if (cls == H5T_FLOAT && scalar) {
          double v = 0;
          a.read(H5::PredType::NATIVE_DOUBLE, &v);
          std::ostringstream os;
          os.precision(17);
          os << v;
          out[key] = os.str();
        } else {
          fail(file, "attribute '" + key + "' of '" + object + "' is neither a string nor a numeric scalar");
        }
      }
    };
    if (object == "/" || f.childObjType(object) == H5O_TYPE_GROUP) {
      read_all(f.openGroup(object));
    } else {
      read_all(f.openDataSet(object));
    }
  } catch (const H5::Exception& e) {
    fail(file, "reading attributes of '" + object + "': " + h5_detail(e));
  }
  return out;
}

}  // namespace graphmae2::datasets
