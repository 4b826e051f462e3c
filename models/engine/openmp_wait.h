#pragma once
// How long OpenMP threads spin before they sleep. libgomp (LibTorch's OpenMP) spins 300,000 times at every
// barrier and every wait for work before it sleeps, unless OMP_WAIT_POLICY or GOMP_SPINCOUNT says otherwise, and it
// reads both once, when it loads, before main. On a machine other processes share, those spins take the cores the
// other work needs and a region waits for a thread the kernel has preempted: on the 2-core CPU, beside one busy
// process, a Cora epoch took 1.42 s on 2 threads against 1.01 s on 1. With GOMP_SPINCOUNT=1000 it took 0.95 s
// there and 0.49 s on an idle machine (default spinning: 0.50 s; OMP_WAIT_POLICY=PASSIVE: 0.55 s idle, 0.99 s
// shared): benchmarks/models/bench_epoch_gemm, docs/performance.md.

namespace graphmae2::models::engine {

/// The spin count the tools run with when the user set neither variable.
inline constexpr const char* kDefaultGompSpinCount = "1000";

/// When neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, sets GOMP_SPINCOUNT=kDefaultGompSpinCount and executes
/// this program again (/proc/self/exe, same arguments and environment otherwise), so libgomp reads it when it
/// loads; call it first in main, before any output. Returns (and changes nothing for the running process) when
/// either variable is set, or when the exec fails.
void exec_with_short_openmp_spin(char** argv);

}  // namespace graphmae2::models::engine
