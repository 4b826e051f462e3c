#pragma once
// GRAPHMAE2_HOST_DEVICE: a function compiled for the host and, under nvcc, for the device too, so CPU tests
// exercise exactly what a GPU thread runs.

#if defined(__CUDACC__)
#define GRAPHMAE2_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define GRAPHMAE2_HOST_DEVICE inline
#endif
