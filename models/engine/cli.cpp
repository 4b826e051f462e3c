#include "models/engine/cli.h"

#include "util/atomic_file.h"

#include <CLI/CLI.hpp>
#include <torch/cuda.h>

#include <algorithm>
#include <cerrno>
#include <regex>
#include <set>
#include <sstream>

namespace graphmae2::models::engine {

std::string ParsedArgs::get(const std::string& name, const std::string& fallback) const {
  const auto it = tool.find(name);
  return it == tool.end() ? fallback : it->second;
}

bool ParsedArgs::on(const std::string& name) const { return get(name) == "true"; }

CommandLine::CommandLine(std::string tool) : tool_(std::move(tool)), app_(std::make_unique<CLI::App>(tool_)) {
  app_->set_help_flag();  // tools print their own usage for --help
  app_->allow_windows_style_options(false);
}

CommandLine::~CommandLine() = default;
CommandLine::CommandLine(CommandLine&&) noexcept = default;

CommandLine& CommandLine::value(const std::string& name, const std::string& help) {
  app_->add_option("--" + name)->description(help)->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  value_names_.push_back(name);
  return *this;
}

CommandLine& CommandLine::flag(const std::string& name, const std::string& help) {
  app_->add_flag("--" + name)->description(help)->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  flag_names_.push_back(name);
  return *this;
}

CommandLine& CommandLine::positional(const std::string& name, const std::string& help, int max) {
  positional_values_ = std::make_unique<std::vector<std::string>>();
  auto* opt = app_->add_option(name, *positional_values_, help);
  if (max >= 0) opt->expected(0, max);
  return *this;
}

CommandLine& CommandLine::config_keys(const std::vector<std::string>& keys, const std::vector<std::string>& bool_keys) {
  const std::set<std::string> bools(bool_keys.begin(), bool_keys.end());
  for (const auto& key : keys) {
    auto* opt = app_->add_option("--" + key)
                    ->description("config key " + key)
                    ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
    if (bools.count(key)) opt->expected(0, 1)->default_str("true");
    key_names_.push_back(key);
  }
  return *this;
}

ParsedArgs CommandLine::parse(int argc, const char* const* argv) const {
  // CLI11 records results in the app; parse a copy-free fresh state each time.
  app_->clear();
  if (positional_values_) positional_values_->clear();
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) args.emplace_back(argv[i]);  // CLI11 takes them reversed
  try {
    app_->parse(args);
  } catch (const CLI::ArgumentMismatch& e) {
    const std::string what = e.what();
    if (what.find("At Most 1") != std::string::npos) {
      throw UsageError(what.substr(0, what.find(':')) + " is given twice");
    }
    throw UsageError(what);
  } catch (const CLI::ExtrasError& e) {
    std::string what = e.what();
    throw UsageError(what.find("--") != std::string::npos ? "unknown flag: " + what.substr(what.find("--")) : what);
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
  ParsedArgs out;
  for (const auto& name : value_names_) {
    const auto* opt = app_->get_option("--" + name);
    if (opt->count() > 0) out.tool[name] = opt->results().front();
  }
  for (const auto& name : flag_names_) {
    const auto* opt = app_->get_option("--" + name);
    if (opt->count() > 0) out.tool[name] = "true";
  }
  for (const auto* opt : app_->parse_order()) {
    const auto name = opt->get_name();
    if (name.rfind("--", 0) != 0) continue;
    const auto key = name.substr(2);
    if (std::find(key_names_.begin(), key_names_.end(), key) == key_names_.end()) continue;
    out.overrides.emplace_back(key, opt->results().empty() ? std::string("true") : opt->results().front());
  }
  if (positional_values_) out.positional = *positional_values_;
  for (const auto& word : out.positional) {
    if (word.rfind("-", 0) == 0) throw UsageError("unknown flag " + word);
  }
  return out;
}

std::string CommandLine::help() const { return app_->help(); }

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
    if (device.index() >= available) {
      throw UsageError("--device " + text + ": only " + std::to_string(available) + " CUDA device(s)");
    }
  }
  return device;
}

std::vector<int64_t> parse_seeds(const std::string& text) {
  constexpr int64_t kMaxSeeds = 100000;
  std::vector<int64_t> seeds;
  std::stringstream ss(text);
  std::string part;
  auto to_int = [&](const std::string& s) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || v < 0) {
      throw UsageError("--seeds: '" + s + "' in '" + text + "' is not a non-negative integer");
    }
    return static_cast<int64_t>(v);
  };
  while (std::getline(ss, part, ',')) {
    const auto dash = part.find('-');
    if (dash == std::string::npos) {
      seeds.push_back(to_int(part));
    } else {
      const int64_t lo = to_int(part.substr(0, dash)), hi = to_int(part.substr(dash + 1));
      if (hi < lo) throw UsageError("--seeds: range '" + part + "' is empty");
      if (hi - lo >= kMaxSeeds) throw UsageError("--seeds: range '" + part + "' holds more than 100000 seeds");
      for (int64_t s = lo; s <= hi; ++s) seeds.push_back(s);
    }
    if (static_cast<int64_t>(seeds.size()) > kMaxSeeds)
      throw UsageError("--seeds: more than 100000 seeds in '" + text + "'");
  }
  if (seeds.empty()) throw UsageError("--seeds: no seed in '" + text + "'");
  const std::set<int64_t> unique(seeds.begin(), seeds.end());
  if (unique.size() != seeds.size()) throw UsageError("--seeds: '" + text + "' repeats a seed");
  return seeds;
}

std::vector<std::filesystem::path> run_outputs(const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  std::vector<fs::path> found;
  std::error_code ec;
  if (!fs::is_directory(out, ec)) return found;
  const auto is_seed_dir = [](const std::string& name) {
    return name.size() > 4 && name.rfind("seed", 0) == 0 &&
           std::all_of(name.begin() + 4, name.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  for (const auto& entry : fs::directory_iterator(out, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file(ec)) {
      const bool embeddings = name.rfind("embeddings_seed", 0) == 0 && entry.path().extension() == ".h5";
      if (name == "result.json" || name == "metrics.jsonl" || name == "checkpoint.pt" || embeddings) {
        found.push_back(name);
      }
    } else if (entry.is_directory(ec) && is_seed_dir(name)) {
      for (const char* file : {"checkpoint.pt", "metrics.jsonl"}) {
        if (fs::is_regular_file(entry.path() / file, ec)) found.push_back(fs::path(name) / file);
      }
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<std::string> claim_output_dir(const std::filesystem::path& out, bool resume, bool overwrite) {
  if (resume && overwrite) throw UsageError("give --resume or --overwrite, not both");
  std::vector<std::string> done;
  if (const auto [files, bytes] = util::remove_stale_temporaries(out); files > 0) {
    done.push_back("removed " + std::to_string(files) + " temporary file(s) (" + std::to_string(bytes / (1024 * 1024)) +
                   " MiB) that runs killed during a save left in " + out.string());
  }
  if (resume) return done;
  const auto found = run_outputs(out);
  if (found.empty()) return done;
  if (!overwrite) {
    std::string list;
    for (size_t k = 0; k < found.size() && k < 4; ++k) list += (k ? ", " : "") + found[k].string();
    if (found.size() > 4) list += ", ... (" + std::to_string(found.size()) + " files)";
    throw std::invalid_argument(out.string() + " already holds a run (" + list +
                                "): continue it with --resume, replace it with --overwrite, or choose another --out");
  }
  for (const auto& file : found) std::filesystem::remove(out / file);
  done.push_back("--overwrite: removed " + std::to_string(found.size()) + " file(s) of the previous run in " +
                 out.string());
  return done;
}

}  // namespace graphmae2::models::engine
