#pragma once
// Training on several processes with PyTorch's own distributed engine (c10d): one ProcessGroupGloo over a
// TCPStore rendezvous, launched by torchrun (or any launcher that sets torchrun's environment variables).
// The training loop owns a ProcessGroup for a run: it averages the gradients, reduces the logged figures and
// lets only rank 0 write. c10d's types stay inside distributed.cpp, the one file built with gloo's headers.
//
// Every collective here blocks the calling thread until all ranks took part, or throws DistributedError after
// the group's timeout, naming this rank and the collective: a dead or stuck rank ends the run, never hangs it.
// Tensors are reduced where they live; with the gloo backend they are CPU tensors (CUDA tensors are staged
// through the host by gloo itself).

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace graphmae2::models::engine {

/// @brief Where this process sits in a launch: torchrun's environment variables.
struct LaunchEnvironment {
  int rank = 0;                           ///< RANK
  int world_size = 1;                     ///< WORLD_SIZE
  int local_rank = 0;                     ///< LOCAL_RANK (0 when unset)
  int local_world_size = 1;               ///< LOCAL_WORLD_SIZE (1 when unset)
  std::string master_addr = "127.0.0.1";  ///< MASTER_ADDR (where the store is)
  int master_port = 29500;                ///< MASTER_PORT
  int restart_count = 0;                  ///< TORCHELASTIC_RESTART_COUNT: which incarnation of the group this is
  /// TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent hosts the store, every rank connects as a client;
  /// otherwise rank 0 hosts it.
  bool agent_store = false;
  std::string socket_interface;  ///< GLOO_SOCKET_IFNAME: the network interface gloo binds (empty: chosen by host)

  /// The launch described by the variables `getenv` returns; nullopt when neither RANK nor WORLD_SIZE is set
  /// (a plain single-process run). Throws std::invalid_argument naming the variable and its value when one is
  /// malformed, missing beside the other, or out of range (RANK >= WORLD_SIZE, a port outside 1..65535).
  static std::optional<LaunchEnvironment> from(const std::function<const char*(const char*)>& getenv);
  /// from(std::getenv).
  static std::optional<LaunchEnvironment> from_process();
};

struct DistributedOptions {
  /// How long a collective (and the rendezvous) waits for the other ranks before DistributedError.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  /// Gradients are all-reduced in flat buckets of at most this many bytes (one collective each).
  int64_t bucket_bytes = 25 * 1024 * 1024;
};

/// Thrown when a collective or the rendezvous fails or times out; the message names the rank and what it waited
/// for. Tools exit 1 on it.
struct DistributedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// @brief The processes of one run: rank, world size, and the collectives the engine needs.
class ProcessGroup {
 public:
  /// Joins the group torchrun launched: a TCPStore at master_addr:master_port (hosted by rank 0 unless the agent
  /// hosts it), its keys prefixed with the restart count so a restarted group never reads the old one's keys.
  static std::shared_ptr<ProcessGroup> join(const LaunchEnvironment& launch, const DistributedOptions& options = {});
  /// A group whose rendezvous is a file every rank can reach (tests: ranks as threads of one process).
  static std::shared_ptr<ProcessGroup> join_file(const std::filesystem::path& store_file, int rank, int world_size,
                                                 const DistributedOptions& options = {});
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  bool is_main() const { return rank_ == 0; }
  /// "gloo".
  std::string backend() const;
  const DistributedOptions& options() const { return options_; }

  /// Sums `tensors` over the ranks, in place. Tensors of one dtype and device are flattened into buckets of at
  /// most options().bucket_bytes, one collective per bucket. `what` names the collective in errors.
  void all_reduce_sum_(const std::vector<torch::Tensor>& tensors, const std::string& what) const;
  /// The same, then divided by the world size.
  void all_reduce_mean_(const std::vector<torch::Tensor>& tensors, const std::string& what) const;
  /// Every rank's `tensor` (same shape and dtype on every rank), concatenated along dim 0 in rank order. Not
  /// differentiable.
  torch::Tensor all_gather_cat(const torch::Tensor& tensor, const std::string& what) const;
  /// Rank `root`'s values of `tensors`, written in place on every other rank.
  void broadcast_(const std::vector<torch::Tensor>& tensors, int root, const std::string& what) const;
  /// The smallest of every rank's `value`.
  int64_t all_reduce_min(int64_t value, const std::string& what) const;
  void barrier(const std::string& what) const;
  /// Throws std::invalid_argument on every rank when `text` is not the same on every rank; the message names
  /// `what` and the ranks that differ from rank 0 (compared through a 64-bit hash of the text).
  void check_same_on_every_rank(const std::string& what, const std::string& text) const;

 private:
  struct Impl;
  // The sum over the ranks, divided by `divisor`, in place.
  void all_reduce_scaled_(const std::vector<torch::Tensor>& tensors, const std::string& what, int divisor) const;
  ProcessGroup(std::unique_ptr<Impl> impl, int rank, int world_size, int local_rank, DistributedOptions options);
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, world_size_ = 1, local_rank_ = 0;
  DistributedOptions options_;
};

/// The shape of a run as result.json and config.yaml record it: world_size, and the backend when it is > 1.
struct RunShape {
  int world_size = 1;
  std::string backend = "none";
};
inline RunShape run_shape(const ProcessGroup* group) {
  return group ? RunShape{group->world_size(), group->backend()} : RunShape{};
}

}  // namespace graphmae2::models::engine
