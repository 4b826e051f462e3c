#pragma once
// The one command-line parser of every graphmae2 tool (built on CLI11): the tool's own flags plus
// `--KEY VALUE` overrides of the config keys of a ConfigSchema.

#include <c10/core/Device.h>

#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace graphmae2::models::engine {

/// A command-line mistake: tools print it with their usage and exit 2.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// @brief What a command line said.
struct ParsedArgs {
  std::map<std::string, std::string> tool;                     ///< tool flags given (bool flags hold "true")
  std::vector<std::pair<std::string, std::string>> overrides;  ///< config keys, in command-line order
  std::vector<std::string> positional;

  /// The value of a tool flag, or `fallback` when it was not given.
  std::string get(const std::string& name, const std::string& fallback = "") const;
  /// True when a bool tool flag was given.
  bool on(const std::string& name) const;
};

/// @brief A tool's flags: `--name VALUE` (or `--name=VALUE`), bare boolean `--name`, positional words,
/// and every key of a config as `--KEY VALUE` (a bool key also bare, meaning true).
///
/// Unknown or repeated flags and missing values throw UsageError naming them.
class CommandLine {
 public:
  explicit CommandLine(std::string tool);
  ~CommandLine();
  CommandLine(CommandLine&&) noexcept;
  CommandLine& value(const std::string& name, const std::string& help);
  CommandLine& flag(const std::string& name, const std::string& help);
  /// Up to `max` positional words (they never start with --).
  CommandLine& positional(const std::string& name, const std::string& help, int max = -1);
  /// Every config key as a flag; `bool_keys` are also accepted bare.
  CommandLine& config_keys(const std::vector<std::string>& keys, const std::vector<std::string>& bool_keys);

  ParsedArgs parse(int argc, const char* const* argv) const;
  /// The flags and their help lines, as CLI11 prints them.
  std::string help() const;

 private:
  std::string tool_;
  std::unique_ptr<CLI::App> app_;
  std::vector<std::string> value_names_, flag_names_, key_names_;
  std::unique_ptr<std::vector<std::string>> positional_values_;  // heap: CLI11 keeps its address across moves
};

/// "cpu", "cuda" or "cuda:N" as a device; UsageError for anything else, or for CUDA when this build of
/// LibTorch has no CUDA or the machine no such GPU.
c10::Device parse_device(const std::string& text);

/// Parses a seed list: "0-9", "0,3,5", "7" or combinations ("0-2,5"); at most 100,000 seeds.
/// Throws UsageError on anything else.
std::vector<int64_t> parse_seeds(const std::string& text);

/// The outputs of a training run in folder `out` (result.json, metrics.jsonl, checkpoint.pt,
/// embeddings_seed<k>.h5, seed<k>/checkpoint.pt, seed<k>/metrics.jsonl), as paths relative to `out`, sorted.
/// config.yaml (written first by every run) and caches (lc-ego<size>.h5) are not listed.
std::vector<std::filesystem::path> run_outputs(const std::filesystem::path& out);

/// Decides whether a new run may write into `out` before anything is written: with `resume`, always (the run
/// continues from its checkpoints); with `overwrite`, after removing the previous run's outputs (run_outputs; a
/// line says how many); otherwise only if `out` holds no run's outputs. Throws std::invalid_argument (exit 2)
/// naming the folder, the outputs found and --resume / --overwrite; UsageError for both flags at once.
/// First, in every case, removes the temporary files that runs killed during a save left under `out`
/// (util::remove_stale_temporaries). Returns: a line for each thing it removed, for the tool to print.
std::vector<std::string> claim_output_dir(const std::filesystem::path& out, bool resume, bool overwrite);

}  // namespace graphmae2::models::engine
