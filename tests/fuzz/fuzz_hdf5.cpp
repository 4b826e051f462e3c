// libFuzzer: a dataset cache (.h5) built from the input must be loaded or refused with a std::runtime_error
// naming the file, never crash or allocate what a dataset merely declares.
// The input decides, per entry the loader reads, whether it exists and its type, rank, dimensions (zero and
// huge ones included), layout (contiguous, or chunked with nothing stored) and stored values, and the root
// attributes' values. The file is written with the HDF5 API, so what is fuzzed is our reader's checks on
// well-formed HDF5 files of hostile content; libhdf5's own parser of damaged bytes is not the target.

#include "datasets/dataset_h5.h"
#include "fuzz_input.h"

#include <hdf5.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path& scratch_file() {
  static const fs::path file = [] {
    const char* shm = fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    return fs::path(shm) / ("graphmae2-fuzz-hdf5-" + std::to_string(getpid()) + ".h5");
  }();
  return file;
}

hid_t numpy_bool_type() {
  hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
  int8_t v = 0;
  H5Tenum_insert(t, "FALSE", &v);
  v = 1;
  H5Tenum_insert(t, "TRUE", &v);
  return t;
}

// The file types an entry may have; H5T_NATIVE_* ids are library constants, so the list is built at run time.
hid_t pick_type(graphmae2::fuzz::InputBytes& in, bool& owned) {
  owned = false;
  switch (in.in_range(0, 9)) {
    case 0:
      return H5T_NATIVE_INT8;
    case 1:
      return H5T_NATIVE_UINT8;
    case 2:
      return H5T_NATIVE_INT32;
    case 3:
      return H5T_NATIVE_INT64;
    case 4:
      return H5T_NATIVE_UINT64;
    case 5:
      return H5T_NATIVE_FLOAT;
    case 6:
      return H5T_NATIVE_DOUBLE;
    case 7:
      return H5T_IEEE_F32BE;
    case 8:
      owned = true;
      return numpy_bool_type();
    default: {
      owned = true;
      hid_t s = H5Tcopy(H5T_C_S1);
      H5Tset_size(s, 4);
      return s;
    }
  }
}

hsize_t pick_dim(graphmae2::fuzz::InputBytes& in) {
  switch (in.in_range(0, 7)) {
    case 0:
      return 0;
    case 1:
      return hsize_t{1} << in.in_range(20, 62);
    default:
      return in.in_range(1, 12);
  }
}

void write_entry(hid_t file, const char* name, graphmae2::fuzz::InputBytes& in) {
  bool owned = false;
  const hid_t type = pick_type(in, owned);
  if (owned && H5Tget_class(type) == H5T_STRING && in.flag()) H5Tset_size(type, H5T_VARIABLE);
  const int rank = in.in_range(0, 3);
  std::array<hsize_t, 3> dims{};
  hsize_t numel = 1;
  bool huge = false;
  for (int k = 0; k < rank; ++k) {
    dims[k] = pick_dim(in);
    if (dims[k] > (hsize_t{1} << 16) || (numel != 0 && dims[k] > (hsize_t{1} << 16) / numel)) huge = true;
    numel *= dims[k];
  }
  const hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims.data(), nullptr);
  const hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
  const bool chunked = huge || (rank > 0 && numel > 0 && in.flag());
  if (chunked && rank > 0) {
    std::array<hsize_t, 3> chunk{};
    for (int k = 0; k < rank; ++k) chunk[k] = dims[k] == 0 ? 1 : std::min<hsize_t>(dims[k], 4);
    H5Pset_chunk(plist, rank, chunk.data());
  }
  const hid_t dset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, plist, H5P_DEFAULT);
  // Chunked entries store nothing (their reads are the fill value); the others get the input's bytes.
  if (dset >= 0 && !chunked && numel > 0 && H5Tis_variable_str(type) <= 0) {
    const size_t nbytes = numel * H5Tget_size(type);
    const std::string stored = in.take(nbytes);
    std::vector<uint8_t> bytes(stored.begin(), stored.end());
    bytes.resize(nbytes);
    if (owned && H5Tget_class(type) == H5T_ENUM) {
      for (auto& b : bytes) b = b % 3 == 0 ? 2 : b & 1;  // mostly 0/1, sometimes an invalid enum value
    }
    H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
  }
  if (dset >= 0) H5Dclose(dset);
  H5Pclose(plist);
  H5Sclose(space);
  if (owned) H5Tclose(type);
}

void write_string_attr(hid_t file, const char* name, const std::string& value) {
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attr = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  const char* text = value.c_str();
  if (attr >= 0) {
    H5Awrite(attr, type, &text);
    H5Aclose(attr);
  }
  H5Sclose(space);
  H5Tclose(type);
}

}  // namespace

void graphmae2::fuzz::hdf5_input(const uint8_t* data, size_t size) {
  namespace ds = graphmae2::datasets;
  static const bool quiet = [] { return H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0; }();
  (void)quiet;
  InputBytes in(data, size);
  const fs::path& path = scratch_file();
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) std::abort();
  // Mostly the right format and version, so the fuzzer gets past the first check.
  write_string_attr(file, "format", in.in_range(0, 15) ? "graphmae2-node-dataset" : "x");
  write_string_attr(file, "version", in.in_range(0, 15) ? "1" : in.text(8));
  write_string_attr(file, "name", in.text(16));
  write_string_attr(file, "num_classes", in.text(24));
  if (in.flag()) write_string_attr(file, "feature_normalization", in.text(16));
  const hid_t group = H5Gcreate2(file, "graph", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(group);
  for (const char* name :
       {"graph/indptr", "graph/indices", "features", "labels", "train_mask", "val_mask", "test_mask"}) {
    if (in.in_range(0, 15) != 0) write_entry(file, name, in);
  }
  H5Fclose(file);
  try {
    (void)ds::load_dataset_h5(path, in.flag());
  } catch (const std::runtime_error&) {
  }
  std::error_code ec;
  fs::remove(path, ec);
}
