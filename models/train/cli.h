#pragma once
// Command-line parsing shared by the training tools: tool flags plus `--KEY VALUE` config overrides.

#include <c10/core/Device.h>

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace graphmae2::models::train {

/// A command-line mistake: tools print it with their usage and exit 2.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct ParsedArgs {
  std::map<std::string, std::string> tool;                       ///< tool flags (bool flags hold "true")
  std::vector<std::pair<std::string, std::string>> overrides;    ///< config keys, in command-line order
  std::vector<std::string> positional;
};

/// Parses `--name value`, `--name=value` and bare boolean flags. `value_flags`/`bool_flags` are the tool's
/// own; any other `--name` must satisfy `is_key` (a config key; bare when `is_bool(name)`). Unknown or
/// repeated flags and missing values throw UsageError naming them.
/// "cpu", "cuda" or "cuda:N" as a device; UsageError for anything else, or for CUDA when this build of
/// LibTorch has no CUDA or the machine no such GPU.
c10::Device parse_device(const std::string& text);

ParsedArgs parse_args(int argc, const char* const* argv, const std::set<std::string>& value_flags,
                      const std::set<std::string>& bool_flags, bool (*is_key)(const std::string&),
                      bool (*is_bool)(const std::string&));

}  // namespace graphmae2::models::train
