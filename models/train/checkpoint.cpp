#include "models/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <fstream>
#include <mutex>
#include <stdexcept>
#include <unistd.h>

namespace graphmae2::models::train {

void atomic_write(const std::filesystem::path& path, const std::function<void(const std::filesystem::path&)>& write) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(dir);
  auto tmp = dir / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()));
  try {
    write(tmp);
    std::filesystem::rename(tmp, path);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

void atomic_write_text(const std::filesystem::path& path, const std::string& text) {
  atomic_write(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  });
}

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
                     const Checkpoint& meta) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive opt_archive;
    optimizer->save(opt_archive);
    archive.write("optimizer", opt_archive);
  }
  archive.write("epoch", torch::tensor(meta.epoch, torch::kInt64));
  archive.write("config", c10::IValue(meta.config_yaml));
  if (meta.rng_state.defined()) archive.write("rng_state", meta.rng_state);
  if (meta.cuda_rng_state.defined()) archive.write("cuda_rng_state", meta.cuda_rng_state);
  atomic_write(path, [&](const std::filesystem::path& tmp) { archive.save_to(tmp.string()); });
}

std::string read_checkpoint_config(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error("checkpoint '" + path.string() + "' does not exist");
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    c10::IValue config;
    archive.read("config", config);
    return config.toStringRef();
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint '" + path.string() + "' cannot be read: " + e.what_without_backtrace());
  }
}

Checkpoint load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                           torch::optim::Optimizer* optimizer, const torch::Device& device) {
  if (!std::filesystem::exists(path)) throw std::runtime_error("checkpoint '" + path.string() + "' does not exist");
  Checkpoint meta;
  try {
    torch::serialize::InputArchive archive;
    // Loading onto the model's device: a tensor read from another device would replace the parameter's storage
    // and move it off the model's device.
    archive.load_from(path.string(), device);
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    model.load(model_archive);
    if (optimizer) {
      torch::serialize::InputArchive opt_archive;
      archive.read("optimizer", opt_archive);
      optimizer->load(opt_archive);
    }
    torch::Tensor epoch;
    archive.read("epoch", epoch);
    meta.epoch = epoch.item<int64_t>();
    c10::IValue config;
    archive.read("config", config);
    meta.config_yaml = config.toStringRef();
    torch::Tensor rng;
    if (archive.try_read("rng_state", rng)) meta.rng_state = rng.cpu();
    torch::Tensor cuda_rng;
    if (archive.try_read("cuda_rng_state", cuda_rng)) meta.cuda_rng_state = cuda_rng.cpu();
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint '" + path.string() + "' cannot be loaded: " + e.what_without_backtrace());
  }
  return meta;
}

}  // namespace graphmae2::models::train
