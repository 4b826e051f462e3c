#include "datasets/hdf5_io.h"

#include "util/atomic_file.h"

#include <H5Cpp.h>

#include <sstream>
#include <stdexcept>

namespace graphmae2::datasets {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

std::string h5_detail(const H5::Exception& e) {
  std::string msg = e.getDetailMsg();
  return msg.empty() ? e.getFuncName() : msg;
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

const H5::PredType& mem_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return H5::PredType::NATIVE_FLOAT;
    case torch::kFloat64: return H5::PredType::NATIVE_DOUBLE;
    case torch::kInt64: return H5::PredType::NATIVE_INT64;
    case torch::kInt32: return H5::PredType::NATIVE_INT32;
    case torch::kUInt8:
    case torch::kBool: return H5::PredType::NATIVE_UINT8;
    default: throw std::invalid_argument(std::string("unsupported dtype ") + c10::toString(t));
  }
}

}  // namespace

void write_h5(const fs::path& file, const std::vector<std::pair<std::string, torch::Tensor>>& datasets,
              const std::map<std::string, std::string>& attrs) {
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
        const auto& type = mem_type(tensor_in.scalar_type());
        if (exists(f, name)) throw std::invalid_argument("name is used twice");
        // Create the groups along the path.
        const auto parts = split_path(name);
        if (parts.empty()) throw std::invalid_argument("empty name");
        std::string prefix;
        for (size_t k = 0; k + 1 < parts.size(); ++k) {
          prefix += "/" + parts[k];
          if (H5Lexists(f.getId(), prefix.c_str(), H5P_DEFAULT) <= 0) f.createGroup(prefix);
        }
        auto tensor = tensor_in.to(torch::kCPU).contiguous();
        std::vector<hsize_t> dims(tensor.sizes().begin(), tensor.sizes().end());
        H5::DataSpace space = dims.empty() ? H5::DataSpace(H5S_SCALAR)
                                           : H5::DataSpace(static_cast<int>(dims.size()), dims.data());
        H5::DataSet ds = f.createDataSet(name, type, space);
        if (tensor.numel() > 0) ds.write(tensor.data_ptr(), type);
        if (tensor.scalar_type() == torch::kBool) write_string_attr(ds, "torch_dtype", "bool");
      }
      f.close();
    });
  } catch (const H5::Exception& e) {
    fail(file, "writing " + current + ": " + h5_detail(e));
  } catch (const std::exception& e) {
    fail(file, "writing " + current + ": " + e.what());
  }
}

bool h5_has(const fs::path& file, const std::string& name) {
  H5::H5File f = open_read(file);
  return exists(f, name);
}

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
    std::vector<int64_t> shape(dims.begin(), dims.end());

    torch::ScalarType t;
    const H5T_class_t cls = ds.getTypeClass();
    if (cls == H5T_FLOAT) {
      t = ds.getFloatType().getSize() == 4 ? torch::kFloat32 : torch::kFloat64;
    } else if (cls == H5T_INTEGER) {
      const auto it = ds.getIntType();
      const bool is_signed = it.getSign() != H5T_SGN_NONE;
      const size_t size = it.getSize();
      if (!is_signed && size == 1) {
        t = ds.attrExists("torch_dtype") ? torch::kBool : torch::kUInt8;
      } else if (is_signed && size == 4) {
        t = torch::kInt32;
      } else {
        t = torch::kInt64;
      }
    } else {
      fail(file, "dataset '" + name + "' is not numeric (HDF5 type class " + std::to_string(cls) + ")");
    }
    // The shape comes from the file: check it against the bytes actually stored before allocating.
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
    auto out = torch::empty(shape, torch::TensorOptions().dtype(t));
    if (numel > 0) ds.read(out.data_ptr(), mem_type(t));
    if (t == torch::kBool) {
      const auto* b = reinterpret_cast<const uint8_t*>(out.data_ptr());
      for (int64_t k = 0; k < numel; ++k) {
        if (b[k] > 1) fail(file, "bool dataset '" + name + "' holds value " + std::to_string(b[k]) + " at " + std::to_string(k));
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
