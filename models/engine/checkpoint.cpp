#include "models/engine/checkpoint.h"

#include "util/atomic_file.h"
#include "util/zip_integrity.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <mutex>
#include <sstream>
#include <stdexcept>

namespace graphmae2::models::engine {

torch::Tensor cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_cpu_rng_state(const torch::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

torch::Tensor device_rng_state(const torch::Device& device) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_device_rng_state(const torch::Device& device, const torch::Tensor& state) {
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const CheckpointState& state) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive opt_archive;
    optimizer->save(opt_archive);
    archive.write("optimizer", opt_archive);
  }
  archive.write("format", torch::tensor(kCheckpointFormat, torch::kInt64));
  archive.write("model_name", c10::IValue(state.model));
  archive.write("step", torch::tensor(state.step, torch::kInt64));
  archive.write("config", c10::IValue(state.config_yaml));
  archive.write("dataset", c10::IValue(state.dataset));
  archive.write("metrics_bytes", torch::tensor(state.metrics_bytes, torch::kInt64));
  if (state.cpu_rng.defined()) archive.write("rng_state", state.cpu_rng);
  if (state.cuda_rng.defined()) archive.write("cuda_rng_state", state.cuda_rng);
  if (!state.extra.empty()) {
    torch::serialize::OutputArchive extra;
    for (const auto& [name, tensor] : state.extra) extra.write(name, tensor);
    archive.write("extra", extra);
  }
  // Serialised in memory first: LibTorch's file writer reports a failed write from its destructor (a full disk
  // aborted the process), while a checked write of the bytes throws an error naming the file and the space.
  std::ostringstream buffer(std::ios::binary);
  archive.save_to(buffer);
  const std::string bytes = buffer.str();
  util::atomic_write(path, [&](const std::filesystem::path& tmp) {
    util::write_bytes_checked(tmp, path, bytes.data(), bytes.size());
  });
}

namespace {

void open_archive(torch::serialize::InputArchive& archive, const std::filesystem::path& path,
                  const torch::Device& device) {
  if (!std::filesystem::exists(path)) throw std::runtime_error("checkpoint '" + path.string() + "' does not exist");
  if (!std::filesystem::is_regular_file(path))
    throw std::runtime_error("checkpoint '" + path.string() + "' is not a file");
  util::verify_zip_checksums(path, "checkpoint");
  try {
    // Loading onto the model's device: a tensor read from another device would replace the parameter's storage
    // and move it off the model's device.
    archive.load_from(path.string(), device);
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint '" + path.string() + "' cannot be read: " + e.what_without_backtrace());
  }
}

CheckpointState read_state(torch::serialize::InputArchive& archive, const std::filesystem::path& path,
                           const std::string& expected_model) {
  torch::Tensor format;
  if (!archive.try_read("format", format)) {
    torch::Tensor epoch;
    const bool old = archive.try_read("epoch", epoch);
    throw std::runtime_error(
        "checkpoint '" + path.string() + "' " +
        (old ? "was written by graphmae2 before its training engine (checkpoint format 1: no model name, no "
               "dataset, a config with keys this build renamed); this build reads format " +
                   std::to_string(kCheckpointFormat) + ". Train again, or evaluate it with the release that wrote it"
             : "is not a graphmae2 checkpoint (it has no format entry)"));
  }
  if (format.item<int64_t>() != kCheckpointFormat) {
    throw std::runtime_error("checkpoint '" + path.string() + "' has format " + std::to_string(format.item<int64_t>()) +
                             "; this build reads format " + std::to_string(kCheckpointFormat));
  }
  CheckpointState state;
  c10::IValue text;
  archive.read("model_name", text);
  state.model = text.toStringRef();
  if (!expected_model.empty() && state.model != expected_model) {
    throw std::runtime_error("checkpoint '" + path.string() + "' holds a " + state.model + " model, not " +
                             expected_model);
  }
  torch::Tensor step, metrics_bytes;
  archive.read("step", step);
  state.step = step.item<int64_t>();
  archive.read("config", text);
  state.config_yaml = text.toStringRef();
  archive.read("dataset", text);
  state.dataset = text.toStringRef();
  archive.read("metrics_bytes", metrics_bytes);
  state.metrics_bytes = metrics_bytes.item<int64_t>();
  torch::Tensor rng;
  if (archive.try_read("rng_state", rng)) state.cpu_rng = rng.cpu();
  torch::Tensor cuda_rng;
  if (archive.try_read("cuda_rng_state", cuda_rng)) state.cuda_rng = cuda_rng.cpu();
  torch::serialize::InputArchive extra;
  if (archive.try_read("extra", extra)) {
    for (const auto& name : extra.keys()) {
      torch::Tensor t;
      extra.read(name, t);
      state.extra[name] = t;
    }
  }
  return state;
}

}  // namespace

CheckpointState read_checkpoint_state(const std::filesystem::path& path, const std::string& expected_model) {
  torch::serialize::InputArchive archive;
  open_archive(archive, path, torch::kCPU);
  try {
    return read_state(archive, path, expected_model);
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint '" + path.string() + "' cannot be read: " + e.what_without_backtrace());
  }
}

CheckpointState load_checkpoint(const std::filesystem::path& path, const std::string& expected_model,
                                torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                                const torch::Device& device) {
  torch::serialize::InputArchive archive;
  open_archive(archive, path, device);
  try {
    auto state = read_state(archive, path, expected_model);
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    model.load(model_archive);
    if (optimizer) {
      torch::serialize::InputArchive opt_archive;
      archive.read("optimizer", opt_archive);
      optimizer->load(opt_archive);
    }
    return state;
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint '" + path.string() + "' cannot be loaded: " + e.what_without_backtrace());
  }
}

}  // namespace graphmae2::models::engine
