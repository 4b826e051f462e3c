#include "models/train/cli.h"

#include <torch/cuda.h>

#include <regex>

namespace graphmae2::models::train {

c10::Device parse_device(const std::string& text) {
  static const std::regex kForm("cpu|cuda(:[0-9]+)?");
  if (!std::regex_match(text, kForm)) {
    throw UsageError("--device must be cpu, cuda or cuda:N, got '" + text + "'");
  }
  c10::Device device(text);
  if (device.is_cuda()) {
    if (!device.has_index()) device = c10::Device(c10::kCUDA, 0);  // tensors moved there report cuda:0
    const auto available = static_cast<int64_t>(torch::cuda::device_count());
    if (available == 0) {
      throw UsageError("--device " + text + ": no CUDA GPU is visible to this LibTorch (a CPU-only build, or no GPU)");
    }
    if (device.has_index() && device.index() >= available) {
      throw UsageError("--device " + text + ": only " + std::to_string(available) + " CUDA device(s)");
    }
  }
  return device;
}

ParsedArgs parse_args(int argc, const char* const* argv, const std::set<std::string>& value_flags,
                      const std::set<std::string>& bool_flags, bool (*is_key)(const std::string&),
                      bool (*is_bool)(const std::string&)) {
  ParsedArgs out;
  std::set<std::string> seen;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      out.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (!seen.insert(name).second) throw UsageError("--" + name + " is given twice");
    const bool tool_value = value_flags.count(name) > 0, tool_bool = bool_flags.count(name) > 0;
    const bool key = !tool_value && !tool_bool && is_key && is_key(name);
    if (!tool_value && !tool_bool && !key) throw UsageError("unknown flag --" + name);
    const bool boolean = tool_bool || (key && is_bool && is_bool(name));
    if (!has_value) {
      const bool next_is_value = i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0;
      if (boolean && !next_is_value) {
        value = "true";
      } else if (next_is_value) {
        value = argv[++i];
      } else {
        throw UsageError("--" + name + " needs a value");
      }
    }
    if (key) {
      out.overrides.emplace_back(name, value);
    } else {
      out.tool[name] = value;
    }
  }
  return out;
}

}  // namespace graphmae2::models::train
