// Sampler throughput, printed as JSON lines for benchmarks/peers/run.sh to set beside DGL's and the
// localgraphclustering package's figures measured on the same graph file:
//
//   bench_samplers --synthetic SPEC --write-graph FILE.h5     generate a graph, save it for the peers, exit
//   bench_samplers --graph FILE.h5 [--threads N] [--batches K] [--lc-seeds S] [--ego-file EGO.h5] [--json]
//
// --write-egos FILE.h5 saves the ego-graphs computed for the lc figure (indptr/indices, for the peers).
// --only neighbor|lc|subgraphs|saint runs one figure (lc also runs for subgraphs, which reuse its ego-graphs).
// FILE.h5 needs only graph/indptr and graph/indices (a dataset cache or a file a peer script wrote); rows are
// destinations. Figures: neighbour sampling (fan-outs 15,10,5, batches of 1024 random seeds, blocks with local
// ids) in sampled edges/s; local clustering (the reference's parameters, ego 256) in seeds/s; batched induced
// subgraphs of 512 ego-graphs in sets/s; SAINT random-walk samples in samples/s. Graph loading and preparation
// are not timed. peak_rss_mib is the process's peak so far (graph included).

#include "benchmarks/measure.h"
#include "datasets/dataset_h5.h"
#include "datasets/hdf5_io.h"
#include "datasets/synthetic.h"
#include "graph/sampling/batch.h"
#include "graph/sampling/local_clustering.h"
#include "graph/sampling/neighbor_sample.h"
#include "graph/sampling/saint.h"
#include "graph/transforms.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace {

namespace g = graphmae2::graph;
namespace gs = graphmae2::graph::sampling;
namespace ds = graphmae2::datasets;

struct Args {
  std::string graph, synthetic, write_graph, ego_file, only, write_egos;
  int threads = 1;
  int64_t batches = 20, lc_seeds = 20000, batch_size = 1024;
  bool json = false;
};

using graphmae2::benchmarks::peak_rss_mib;
using graphmae2::benchmarks::seconds_since;

void report(const Args& a, const g::CsrGraph& graph, const std::string& what, double seconds, double count,
            const std::string& unit) {
  const double per_s = count / seconds;
  if (a.json) {
    std::printf(
        "{\"peer\": \"graphmae2\", \"what\": \"%s\", \"graph\": \"%s\", \"nodes\": %lld, \"edges\": %lld, "
        "\"threads\": %d, \"seconds\": %.4f, \"per_s\": %.1f, \"unit\": \"%s\", \"peak_rss_mib\": %.0f}\n",
        what.c_str(), a.graph.c_str(), static_cast<long long>(graph.num_nodes()),
        static_cast<long long>(graph.num_edges()), a.threads, seconds, per_s, unit.c_str(), peak_rss_mib());
  } else {
    std::printf("%-28s %8.3f s  %14.0f %s  (%d thread(s), peak RSS %.0f MiB)\n", what.c_str(), seconds, per_s,
                unit.c_str(), a.threads, peak_rss_mib());
  }
  std::fflush(stdout);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--graph")
      a.graph = value();
    else if (flag == "--synthetic")
      a.synthetic = value();
    else if (flag == "--write-graph")
      a.write_graph = value();
    else if (flag == "--ego-file")
      a.ego_file = value();
    else if (flag == "--threads")
      a.threads = std::stoi(value());
    else if (flag == "--batches")
      a.batches = std::stoll(value());
    else if (flag == "--lc-seeds")
      a.lc_seeds = std::stoll(value());
    else if (flag == "--json")
      a.json = true;
    else if (flag == "--only")
      a.only = value();
    else if (flag == "--write-egos")
      a.write_egos = value();
    else
      throw std::invalid_argument("unknown flag " + flag);
  }
  if (a.graph.empty() == a.synthetic.empty()) throw std::invalid_argument("give --graph FILE.h5 or --synthetic SPEC");
  if (!a.synthetic.empty() && a.write_graph.empty()) throw std::invalid_argument("--synthetic needs --write-graph");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  try {
    a = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench_samplers: " << e.what() << "\n";
    return 2;
  }
  try {
    if (!a.synthetic.empty()) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto data = ds::make_synthetic(ds::parse_synthetic_spec(a.synthetic));
      ds::write_h5(a.write_graph, {{"graph/indptr", data.graph.indptr}, {"graph/indices", data.graph.indices}},
                   {{"name", data.name}});
      const auto degree = data.graph.indptr.diff();
      std::cout << "wrote " << a.write_graph << ": " << data.graph.summary() << ", max degree "
                << degree.max().item<int64_t>() << ", generated in " << seconds_since(t0) << " s\n";
      return 0;
    }
    at::set_num_threads(a.threads);
    const g::CsrGraph graph(ds::read_h5_tensor(a.graph, "graph/indptr"), ds::read_h5_tensor(a.graph, "graph/indices"),
                            ds::read_h5_tensor(a.graph, "graph/indptr").size(0) - 1, std::nullopt, false);
    const int64_t n = graph.num_nodes();

    const auto wanted = [&](const char* what) { return a.only.empty() || a.only == what; };
    // Neighbour sampling: a warm-up batch, then K batches of random seeds.
    if (wanted("neighbor")) {
      const auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
      std::vector<torch::Tensor> seeds;
      for (int64_t b = 0; b <= a.batches; ++b) {
        seeds.push_back(torch::randperm(n, gen, torch::kLong).narrow(0, 0, std::min(a.batch_size, n)));
      }
      gs::sample_blocks(graph, seeds[0], {15, 10, 5}, 0);
      int64_t edges = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t b = 1; b <= a.batches; ++b) {
        const auto s = gs::sample_blocks(graph, seeds[static_cast<size_t>(b)], {15, 10, 5}, static_cast<uint64_t>(b));
        for (const auto& block : s.blocks) edges += block.num_edges();
      }
      report(a, graph, "neighbor_sample_blocks", seconds_since(t0), static_cast<double>(edges), "edges/s");
    }

    // Local clustering on the reference's graph (bidirected, one self-loop per node), preparation untimed.
    if (!wanted("lc") && !wanted("subgraphs") && !wanted("saint")) return 0;
    auto t_prep = std::chrono::steady_clock::now();
    const auto lc_graph = g::bidirected_with_self_loops(graph);
    if (!a.json) {
      std::printf("(bidirected_with_self_loops: %.2f s, peak RSS %.0f MiB)\n", seconds_since(t_prep), peak_rss_mib());
    }
    gs::EgoGraphs egos;
    if (wanted("lc") || (wanted("subgraphs") && a.ego_file.empty())) {
      const int64_t count = std::min(a.lc_seeds, n);
      const auto order = torch::randperm(n, at::make_generator<at::CPUGeneratorImpl>(1), torch::kLong);
      const auto seeds = order.narrow(0, 0, count);
      const auto t0 = std::chrono::steady_clock::now();
      egos = gs::local_clustering(lc_graph, seeds, {});
      report(a, lc_graph, "local_clustering_ego256", seconds_since(t0), static_cast<double>(count), "seeds/s");
      // The ego-graphs as a node-set file, for the peers' induced-subgraph figure on the same sets.
      if (!a.write_egos.empty()) {
        ds::write_h5(a.write_egos, {{"seeds", egos.seeds}, {"indptr", egos.indptr}, {"indices", egos.indices}});
      }
    }

    // Batched induced subgraphs of 512 ego-graphs (from --ego-file when given, else those just computed), on the
    // graph as read (what the peers' node_subgraph sees).
    if (wanted("subgraphs")) {
      torch::Tensor set_indptr, set_nodes;
      if (!a.ego_file.empty()) {
        // Any node-set file: indptr and indices at the root (an LC ego-graph file, or the peers' shared sets).
        egos.indptr = ds::read_h5_tensor(a.ego_file, "indptr").to(torch::kLong);
        egos.indices = ds::read_h5_tensor(a.ego_file, "indices").to(torch::kLong);
        egos.seeds = torch::arange(egos.indptr.size(0) - 1, torch::kLong);
      }
      const int64_t sets = std::min<int64_t>(512, egos.size());
      set_indptr = egos.indptr.narrow(0, 0, sets + 1);
      set_nodes = egos.indices.narrow(0, 0, set_indptr[sets].item<int64_t>()).to(torch::kLong);
      gs::batched_induced_subgraphs(graph, set_indptr, set_nodes);
      const int64_t repeats = 10;
      int64_t edges = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t r = 0; r < repeats; ++r) {
        edges += gs::batched_induced_subgraphs(graph, set_indptr, set_nodes).graph.num_edges();
      }
      const double s = seconds_since(t0);
      report(a, graph, "batched_induced_subgraphs_512", s, static_cast<double>(sets * repeats), "sets/s");
      report(a, graph, "batched_induced_subgraphs_512_edges", s, static_cast<double>(edges), "edges/s");
    }

    // GraphSAINT random-walk samples (3000 roots, walk length 2: GraphSAINT's usual setting).
    if (wanted("saint")) {
      const int64_t repeats = 10;
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t r = 0; r < repeats; ++r) gs::saint_random_walk_sample(graph, 3000, 2, static_cast<uint64_t>(r));
      report(a, graph, "saint_rw_3000x2", seconds_since(t0), static_cast<double>(repeats), "samples/s");
    }
  } catch (const c10::Error& e) {
    std::cerr << "bench_samplers: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "bench_samplers: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
