# Finds every third-party dependency; scripts/build.sh installs them (Debian packages, LibTorch via pip).
find_package(Torch REQUIRED)
# ATen's at::parallel_for is a header template whose OpenMP pragmas take effect only in code compiled with
# -fopenmp: without it every parallel loop of our kernels ran on one thread. The wheel ships its own
# libgomp.so.1 (same soname), which the loader then shares with LibTorch: one thread pool.
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(yaml-cpp REQUIRED)
find_package(ZLIB REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C CXX)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(Boost 1.74 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
# minizip (zlib's contrib, Debian libminizip-dev): checks the CRC-32 of every checkpoint record on load.
# Found by path, not pkg-config: its .pc names /usr, which is wrong where the packages are unpacked into a prefix.
find_path(MINIZIP_INCLUDE_DIR unzip.h PATH_SUFFIXES minizip REQUIRED)
find_library(MINIZIP_LIBRARY minizip REQUIRED)
add_library(graphmae2_minizip INTERFACE)
target_include_directories(graphmae2_minizip SYSTEM INTERFACE ${MINIZIP_INCLUDE_DIR})
target_link_libraries(graphmae2_minizip INTERFACE ${MINIZIP_LIBRARY} ZLIB::ZLIB)
# tcmalloc (gperftools' minimal build, Debian libgoogle-perftools-dev) for the executables, not the library (a
# Python extension must not replace malloc): glibc returns every large freed block to the kernel, so each
# mini-batch step faulted its tensors' pages in afresh (docs/performance.md has the measurement).
# -DGRAPHMAE2_TCMALLOC=OFF for glibc's malloc (valgrind, sanitizers).
option(GRAPHMAE2_TCMALLOC "Link the executables with tcmalloc when found" ON)
if(GRAPHMAE2_TCMALLOC)
  find_library(TCMALLOC_LIBRARY NAMES tcmalloc_minimal libtcmalloc_minimal.so.4)
endif()
add_library(graphmae2_malloc INTERFACE)
if(GRAPHMAE2_TCMALLOC AND TCMALLOC_LIBRARY)
  # --no-as-needed: nothing calls tcmalloc by name, it replaces malloc by being loaded.
  target_link_libraries(graphmae2_malloc INTERFACE "-Wl,--no-as-needed" ${TCMALLOC_LIBRARY} "-Wl,--as-needed")
  message(STATUS "graphmae2: executables use tcmalloc (${TCMALLOC_LIBRARY})")
else()
  message(STATUS "graphmae2: executables use glibc's malloc (tcmalloc ${TCMALLOC_LIBRARY}, GRAPHMAE2_TCMALLOC ${GRAPHMAE2_TCMALLOC})")
endif()
find_library(C10_CUDA_LIBRARY c10_cuda PATHS "${TORCH_INSTALL_PREFIX}/lib" NO_DEFAULT_PATH)
if(C10_CUDA_LIBRARY)
  set(GRAPHMAE2_TORCH_HAS_CUDA ON)
else()
  set(GRAPHMAE2_TORCH_HAS_CUDA OFF)
endif()
message(STATUS "graphmae2: LibTorch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX}, CUDA LibTorch: ${GRAPHMAE2_TORCH_HAS_CUDA}")
