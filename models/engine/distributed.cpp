// The one file that sees c10d's and gloo's headers (compiled with USE_C10D_GLOO; CMakeLists.txt).
#include "models/engine/distributed.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <charconv>
#include <cstdlib>
#include <map>
#include <sstream>

namespace graphmae2::models::engine {

namespace {

int parse_int(const char* name, const char* text, int lo, int hi) {
  const std::string value(text);
  int out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size() || out < lo || out > hi) {
    throw std::invalid_argument(std::string("environment variable ") + name + "='" + value +
                                "': expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return out;
}

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return h;
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

}  // namespace

std::optional<LaunchEnvironment> LaunchEnvironment::from(const std::function<const char*(const char*)>& getenv) {
  const char* rank = getenv("RANK");
  const char* world = getenv("WORLD_SIZE");
  if (rank == nullptr && world == nullptr) return std::nullopt;
  if (rank == nullptr || world == nullptr) {
    throw std::invalid_argument(std::string("environment: ") + (rank ? "RANK" : "WORLD_SIZE") + " is set but " +
                                (rank ? "WORLD_SIZE" : "RANK") + " is not (launch with torchrun, or set both)");
  }
  LaunchEnvironment env;
  env.world_size = parse_int("WORLD_SIZE", world, 1, 1 << 20);
  env.rank = parse_int("RANK", rank, 0, env.world_size - 1);
  if (const char* v = getenv("LOCAL_WORLD_SIZE")) env.local_world_size = parse_int("LOCAL_WORLD_SIZE", v, 1, 1 << 20);
  if (const char* v = getenv("LOCAL_RANK")) env.local_rank = parse_int("LOCAL_RANK", v, 0, env.local_world_size - 1);
  if (const char* v = getenv("MASTER_ADDR"); v != nullptr && *v != '\0') env.master_addr = v;
  if (const char* v = getenv("MASTER_PORT")) env.master_port = parse_int("MASTER_PORT", v, 1, 65535);
  if (const char* v = getenv("TORCHELASTIC_RESTART_COUNT")) {
    env.restart_count = parse_int("TORCHELASTIC_RESTART_COUNT", v, 0, 1 << 30);
  }
  if (const char* v = getenv("TORCHELASTIC_USE_AGENT_STORE")) env.agent_store = std::string(v) == "True";
  if (const char* v = getenv("GLOO_SOCKET_IFNAME")) env.socket_interface = v;
  return env;
}

std::optional<LaunchEnvironment> LaunchEnvironment::from_process() {
  return from([](const char* name) { return std::getenv(name); });
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
};

namespace {

c10::intrusive_ptr<c10d::ProcessGroupGloo> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                                     const std::string& interface, const std::string& host,
                                                     const DistributedOptions& options) {
  auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
  if (!interface.empty()) {
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
  } else if (is_loopback(host)) {
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, gloo_options);
}

[[noreturn]] void rethrow(const std::string& where, const std::string& what, const std::exception& e) {
  throw DistributedError(where + ": " + what + " failed: " + e.what());
}

}  // namespace

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl, int rank, int world_size, int local_rank,
                           DistributedOptions options)
    : impl_(std::move(impl)), rank_(rank), world_size_(world_size), local_rank_(local_rank), options_(options) {}

ProcessGroup::~ProcessGroup() = default;

std::shared_ptr<ProcessGroup> ProcessGroup::join(const LaunchEnvironment& launch, const DistributedOptions& options) {
  const std::string where = "rank " + std::to_string(launch.rank) + " of " + std::to_string(launch.world_size);
  auto impl = std::make_unique<Impl>();
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(launch.master_port);
    store_options.isServer = launch.rank == 0 && !launch.agent_store;
    store_options.numWorkers = launch.world_size;
    store_options.waitWorkers = false;
    store_options.timeout = options.timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, store_options);
    impl->store = c10::make_intrusive<c10d::PrefixStore>("graphmae2/restart" + std::to_string(launch.restart_count),
                                                         std::move(tcp));
    impl->gloo =
        make_gloo(impl->store, launch.rank, launch.world_size, launch.socket_interface, launch.master_addr, options);
  } catch (const std::exception& e) {
    rethrow(where,
            "joining the process group at " + launch.master_addr + ":" + std::to_string(launch.master_port) +
                (launch.agent_store ? " (torchrun's store)"
                 : launch.rank == 0 ? " (hosting the store)"
                                    : ""),
            e);
  }
  return std::shared_ptr<ProcessGroup>(
      new ProcessGroup(std::move(impl), launch.rank, launch.world_size, launch.local_rank, options));
}

std::shared_ptr<ProcessGroup> ProcessGroup::join_file(const std::filesystem::path& store_file, int rank, int world_size,
                                                      const DistributedOptions& options) {
  TORCH_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "ProcessGroup: rank ", rank, " of ", world_size);
  auto impl = std::make_unique<Impl>();
  try {
    impl->store = c10::make_intrusive<c10d::FileStore>(store_file.string(), world_size);
    impl->gloo = make_gloo(impl->store, rank, world_size, "", "127.0.0.1", options);
  } catch (const std::exception& e) {
    rethrow("rank " + std::to_string(rank) + " of " + std::to_string(world_size),
            "joining the process group through " + store_file.string(), e);
  }
  return std::shared_ptr<ProcessGroup>(new ProcessGroup(std::move(impl), rank, world_size, rank, options));
}

std::string ProcessGroup::backend() const { return "gloo"; }

namespace {

// Runs one collective and waits for it; failures name the rank and the collective.
template <typename Launch>
void run_collective(int rank, int world, const std::string& what, Launch launch) {
  try {
    auto work = launch();
    work->wait();
  } catch (const std::exception& e) {
    rethrow("rank " + std::to_string(rank) + " of " + std::to_string(world), what, e);
  }
}

// Consecutive runs of tensors sharing dtype and device, each run cut where it would exceed `bucket_bytes`.
std::vector<std::vector<torch::Tensor>> buckets(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  std::vector<std::vector<torch::Tensor>> out;
  int64_t bytes = 0;
  for (const auto& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    const int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
    const bool fits = !out.empty() && out.back().front().scalar_type() == t.scalar_type() &&
                      out.back().front().device() == t.device() && bytes + size <= bucket_bytes;
    if (!fits) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += size;
  }
  return out;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& bucket) {
  if (bucket.size() == 1 && bucket.front().is_contiguous()) return bucket.front().view({-1});
  std::vector<torch::Tensor> flat;
  flat.reserve(bucket.size());
  for (const auto& t : bucket) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& bucket) {
  if (bucket.size() == 1 && bucket.front().is_contiguous() && flat.data_ptr() == bucket.front().data_ptr()) return;
  int64_t offset = 0;
  for (const auto& t : bucket) {
    t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

}  // namespace

void ProcessGroup::all_reduce_sum_(const std::vector<torch::Tensor>& tensors, const std::string& what) const {
  all_reduce_scaled_(tensors, what, 1);
}

void ProcessGroup::all_reduce_mean_(const std::vector<torch::Tensor>& tensors, const std::string& what) const {
  all_reduce_scaled_(tensors, what, world_size_);
}

void ProcessGroup::all_reduce_scaled_(const std::vector<torch::Tensor>& tensors, const std::string& what,
                                      int divisor) const {
  if (world_size_ == 1) return;
  for (const auto& bucket : buckets(tensors, options_.bucket_bytes)) {
    std::vector<at::Tensor> flat{flatten(bucket)};
    run_collective(rank_, world_size_, "all-reduce of " + what, [&] { return impl_->gloo->allreduce(flat); });
    if (divisor != 1) flat.front().div_(divisor);
    unflatten_into(flat.front(), bucket);
  }
}

torch::Tensor ProcessGroup::all_gather_cat(const torch::Tensor& tensor, const std::string& what) const {
  if (world_size_ == 1) return tensor;
  std::vector<at::Tensor> input{tensor.contiguous()};
  std::vector<std::vector<at::Tensor>> output(1);
  for (int r = 0; r < world_size_; ++r) output.front().push_back(torch::empty_like(input.front()));
  run_collective(rank_, world_size_, "all-gather of " + what, [&] { return impl_->gloo->allgather(output, input); });
  return torch::cat(output.front(), 0);
}

void ProcessGroup::broadcast_(const std::vector<torch::Tensor>& tensors, int root, const std::string& what) const {
  if (world_size_ == 1) return;
  c10d::BroadcastOptions options;
  options.rootRank = root;
  for (const auto& bucket : buckets(tensors, options_.bucket_bytes)) {
    std::vector<at::Tensor> flat{flatten(bucket)};
    run_collective(rank_, world_size_, "broadcast of " + what, [&] { return impl_->gloo->broadcast(flat, options); });
    unflatten_into(flat.front(), bucket);
  }
}

int64_t ProcessGroup::all_reduce_min(int64_t value, const std::string& what) const {
  if (world_size_ == 1) return value;
  std::vector<at::Tensor> t{torch::full({1}, value, torch::kLong)};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp::MIN;
  run_collective(rank_, world_size_, "all-reduce (min) of " + what, [&] { return impl_->gloo->allreduce(t, options); });
  return t.front().item<int64_t>();
}

void ProcessGroup::barrier(const std::string& what) const {
  if (world_size_ == 1) return;
  run_collective(rank_, world_size_, "barrier (" + what + ")", [&] { return impl_->gloo->barrier(); });
}

void ProcessGroup::check_same_on_every_rank(const std::string& what, const std::string& text) const {
  if (world_size_ == 1) return;
  const auto hash = torch::full({1}, static_cast<int64_t>(fnv1a(text)), torch::kLong);
  const auto all = all_gather_cat(hash, what + " hash");
  std::vector<int> differing;
  for (int r = 1; r < world_size_; ++r) {
    if (all[r].item<int64_t>() != all[0].item<int64_t>()) differing.push_back(r);
  }
  if (differing.empty()) return;
  std::ostringstream message;
  message << what << " differs between the ranks: rank" << (differing.size() > 1 ? "s " : " ");
  for (size_t i = 0; i < differing.size(); ++i) message << (i ? ", " : "") << differing[i];
  message << " of " << world_size_ << " disagree" << (differing.size() > 1 ? "" : "s")
          << " with rank 0 (every rank must be launched with the same flags and config)";
  throw std::invalid_argument(message.str());
}

}  // namespace graphmae2::models::engine
