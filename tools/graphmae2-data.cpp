// graphmae2-data: inspect a dataset, or convert it to the .h5 cache.
//
//   graphmae2-data inspect <dataset|file.h5> [--data-root DIR]
//   graphmae2-data convert <dataset> <out.h5> [--data-root DIR] [--row-normalize] [--standardize]
//
// Exit codes: 0 ok, 1 bad input (message names the file and place), 2 bad usage.

#include "datasets/dataset_h5.h"
#include "datasets/registry.h"
#include "datasets/summary.h"
#include "models/engine/cli.h"

#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace ds = graphmae2::datasets;

constexpr const char* kUsage =
    "usage: graphmae2-data inspect <dataset|file.h5> [--data-root DIR]\n"
    "       graphmae2-data convert <dataset> <out.h5> [--data-root DIR] [--row-normalize] [--standardize]\n"
    "datasets: cora, citeseer, pubmed, ogbn-<name>, synthetic:nodes=N,degree=D,..., a .h5 cache or an OGB folder\n";

using graphmae2::models::engine::UsageError;

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::optional<std::string> data_root;
  ds::LoadOptions load;
};

Args parse(int argc, char** argv) {
  graphmae2::models::engine::CommandLine cli("graphmae2-data");
  cli.value("data-root", "dataset root")
      .flag("row-normalize", "normalise feature rows to sum 1")
      .flag("standardize", "standardise feature columns")
      .flag("help", "usage")
      .positional("words", "COMMAND and its arguments");
  const auto parsed = cli.parse(argc, argv);
  Args a;
  if (parsed.on("help")) {
    a.command = "help";
    return a;
  }
  if (!parsed.get("data-root").empty()) a.data_root = parsed.get("data-root");
  a.load.row_normalize = parsed.on("row-normalize");
  a.load.standardize = parsed.on("standardize");
  if (!parsed.positional.empty()) {
    a.command = parsed.positional.front();
    a.positional.assign(parsed.positional.begin() + 1, parsed.positional.end());
  }
  if (a.command == "inspect" && a.positional.size() != 1) throw UsageError("inspect takes one dataset");
  if (a.command == "convert" && a.positional.size() != 2) throw UsageError("convert takes a dataset and an output file");
  if (a.command != "inspect" && a.command != "convert") {
    throw UsageError(a.command.empty() ? "missing command" : "unknown command '" + a.command + "'");
  }
  return a;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(const Args& a) {
  const auto root = ds::resolve_data_root(a.data_root);
  auto t0 = std::chrono::steady_clock::now();
  auto data = ds::load_node_dataset(a.positional[0], root, a.load);
  const double parse_s = seconds_since(t0);
  if (a.command == "inspect") {
    std::cout << ds::to_string(ds::summarize(data)) << "load time: " << parse_s << " s\n";
    return 0;
  }
  const std::filesystem::path out = a.positional[1];
  t0 = std::chrono::steady_clock::now();
  ds::save_dataset_h5(data, out);
  const double write_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  auto back = ds::load_dataset_h5(out);
  const double load_s = seconds_since(t0);
  std::cout << "wrote " << out.string() << " (" << back.num_nodes() << " nodes, " << back.graph.num_edges()
            << " edges, " << std::filesystem::file_size(out) << " bytes)\n"
            << "parse " << a.positional[0] << ": " << parse_s << " s; write .h5: " << write_s
            << " s; load .h5: " << load_s << " s\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = parse(argc, argv);
    if (args.command == "help") {
      std::cout << kUsage;
      return 0;
    }
  } catch (const UsageError& e) {
    std::cerr << "graphmae2-data: " << e.what() << "\n" << kUsage;
    return 2;
  }
  try {
    return run(args);
  } catch (const c10::Error& e) {
    std::cerr << "graphmae2-data: error: " << e.what_without_backtrace() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "graphmae2-data: error: " << e.what() << "\n";
  }
  return 1;
}
