// Dataset loading costs: parsing the original files (or generating) versus loading the .h5 cache.
//
//   bench_datasets [--data-root DIR] [--dir SCRATCH] [--nodes N] [--repeats R]
//
// Each case runs in its own child process (this binary re-executed), so the peak RSS printed beside each
// time (getrusage of that child) belongs to that case alone. Times are the median of R runs in the child.

#include "benchmarks/measure.h"
#include "datasets/dataset_h5.h"
#include "datasets/planetoid.h"
#include "datasets/registry.h"
#include "datasets/synthetic.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace ds = graphmae2::datasets;

struct Config {
  fs::path data_root;
  fs::path dir;
  int64_t nodes = 1000000;
  int repeats = 5;
};

using graphmae2::benchmarks::median_seconds;

ds::SyntheticOptions synthetic(const Config& c) {
  return {.num_nodes = c.nodes, .avg_degree = 10, .num_classes = 10, .feature_dim = 128, .homophily = 0.8, .seed = 0};
}

// Runs one case in this process; prints "seconds" on stdout.
int run_case(const std::string& name, const Config& c) {
  double s = 0;
  if (name == "cora-parse") {
    const auto dir = c.data_root / "planetoid";
    s = median_seconds(c.repeats, [&] { ds::read_planetoid(dir, "cora", true); });
  } else if (name == "cora-h5-write") {
    auto cora = ds::read_planetoid(c.data_root / "planetoid", "cora", true);
    s = median_seconds(c.repeats, [&] { ds::save_dataset_h5(cora, c.dir / "cora.h5"); });
  } else if (name == "cora-h5-load") {
    s = median_seconds(c.repeats, [&] { ds::load_dataset_h5(c.dir / "cora.h5"); });
  } else if (name == "synthetic-generate") {
    s = median_seconds(std::max(1, c.repeats / 2), [&] { ds::make_synthetic(synthetic(c)); });
  } else if (name == "synthetic-h5-write") {
    auto g = ds::make_synthetic(synthetic(c));
    s = median_seconds(1, [&] { ds::save_dataset_h5(g, c.dir / "synthetic.h5"); });
  } else if (name == "synthetic-h5-load") {
    s = median_seconds(std::max(1, c.repeats / 2), [&] { ds::load_dataset_h5(c.dir / "synthetic.h5"); });
  } else {
    std::cerr << "bench_datasets: unknown case " << name << "\n";
    return 2;
  }
  std::printf("%.6f\n", s);
  return 0;
}

struct Measured {
  double seconds = -1;
  double peak_rss_mb = -1;
};

Measured run_child(const std::string& name, const Config& c) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    close(pipefd[0]);
    const std::string nodes = std::to_string(c.nodes), repeats = std::to_string(c.repeats);
    execl("/proc/self/exe", "bench_datasets", "--case", name.c_str(), "--data-root", c.data_root.c_str(), "--dir",
          c.dir.c_str(), "--nodes", nodes.c_str(), "--repeats", repeats.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipefd[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  Measured m;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) m.seconds = std::stod(out);
  m.peak_rss_mb = static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  std::string only_case, root_flag;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--case") {
      only_case = v;
    } else if (k == "--data-root") {
      root_flag = v;
    } else if (k == "--dir") {
      c.dir = v;
    } else if (k == "--nodes") {
      c.nodes = std::stoll(v);
    } else if (k == "--repeats") {
      c.repeats = std::stoi(v);
    } else {
      std::cerr << "usage: bench_datasets [--data-root DIR] [--dir SCRATCH] [--nodes N] [--repeats R]\n";
      return 2;
    }
  }
  c.data_root = ds::resolve_data_root(root_flag.empty() ? std::nullopt : std::optional<std::string>(root_flag));
  if (c.dir.empty()) c.dir = fs::temp_directory_path() / "graphmae2-bench-datasets";
  try {
    if (!only_case.empty()) return run_case(only_case, c);
    fs::create_directories(c.dir);
    std::printf("dataset loading, %d threads, data root %s, scratch %s\n", at::get_num_threads(), c.data_root.c_str(),
                c.dir.c_str());
    std::printf("%-22s %12s %14s\n", "case", "median s", "peak RSS MiB");
    const std::pair<std::string, std::string> cases[] = {
        {"cora-parse", "Cora: ind.cora.* pickles -> NodeDataset"},
        {"cora-h5-write", ""},
        {"cora-h5-load", "vs cora-parse"},
        {"synthetic-generate", "contextual SBM, " + std::to_string(c.nodes) + " nodes, degree 10, dim 128"},
        {"synthetic-h5-write", ""},
        {"synthetic-h5-load", "vs synthetic-generate"}};
    for (const auto& [name, note] : cases) {
      const auto m = run_child(name, c);
      if (m.seconds < 0) {
        std::printf("%-22s failed\n", name.c_str());
        return 1;
      }
      std::printf("%-22s %12.4f %14.1f   %s\n", name.c_str(), m.seconds, m.peak_rss_mb, note.c_str());
    }
    for (const char* f : {"cora.h5", "synthetic.h5"}) {
      std::printf("%s: %.1f MiB\n", f, static_cast<double>(fs::file_size(c.dir / f)) / (1 << 20));
    }
    fs::remove(c.dir / "cora.h5");
    fs::remove(c.dir / "synthetic.h5");
  } catch (const std::exception& e) {
    std::cerr << "bench_datasets: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
