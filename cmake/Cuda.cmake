# CUDA kernels work on raw pointers, so they compile with nvcc even against a CPU-only LibTorch.
# The thin bridges (graph/**/cuda/*.cpp) that wrap them for torch tensors need a CUDA LibTorch.
set(GRAPHMAE2_WITH_CUDA_KERNELS OFF)
set(GRAPHMAE2_WITH_TORCH_CUDA OFF)
set(GRAPHMAE2_CUDA_BRIDGE_SOURCES "")
if(NOT GRAPHMAE2_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      if(GRAPHMAE2_TORCH_HAS_CUDA)
        set(CMAKE_CUDA_ARCHITECTURES 80 90)
      else()
        # Without a CUDA LibTorch nothing can launch the kernels: they are only compiled, as a check, and one
        # architecture checks them (halving the build's longest compile).
        set(CMAKE_CUDA_ARCHITECTURES 90)
      endif()
    endif()
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)
    file(GLOB_RECURSE GRAPHMAE2_CUDA_KERNELS CONFIGURE_DEPENDS
         ${CMAKE_SOURCE_DIR}/graph/*.cu ${CMAKE_SOURCE_DIR}/models/*.cu)
    if(GRAPHMAE2_CUDA_KERNELS)
      add_library(graphmae2_cuda_kernels STATIC ${GRAPHMAE2_CUDA_KERNELS})
      target_include_directories(graphmae2_cuda_kernels PUBLIC ${CMAKE_SOURCE_DIR})
      set_target_properties(graphmae2_cuda_kernels PROPERTIES POSITION_INDEPENDENT_CODE ON
                            CUDA_SEPARABLE_COMPILATION OFF)
      set(GRAPHMAE2_WITH_CUDA_KERNELS ON)
    endif()
    if(GRAPHMAE2_TORCH_HAS_CUDA)
      set(GRAPHMAE2_WITH_TORCH_CUDA ON)
      file(GLOB_RECURSE GRAPHMAE2_CUDA_BRIDGE_SOURCES CONFIGURE_DEPENDS
           ${CMAKE_SOURCE_DIR}/graph/*/cuda/*.cpp ${CMAKE_SOURCE_DIR}/graph/cuda/*.cpp
           ${CMAKE_SOURCE_DIR}/models/*/cuda/*.cpp)
    endif()
  elseif(GRAPHMAE2_CUDA STREQUAL "ON")
    message(FATAL_ERROR "GRAPHMAE2_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()
message(STATUS "graphmae2: CUDA kernels ${GRAPHMAE2_WITH_CUDA_KERNELS}, torch CUDA bridge ${GRAPHMAE2_WITH_TORCH_CUDA}")
