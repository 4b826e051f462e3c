#include "datasets/ego_graphs_h5.h"

#include "datasets/hdf5_io.h"

#include <zlib.h>

#include <charconv>
#include <cstdio>
#include <stdexcept>

namespace graphmae2::datasets {

namespace {

constexpr const char* kFormat = "graphmae2-lc-ego-graphs";
constexpr const char* kVersion = "1";

uint32_t crc_of(uint32_t crc, const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU).to(torch::kLong).contiguous();
  return static_cast<uint32_t>(crc32_z(crc, reinterpret_cast<const Bytef*>(c.data_ptr<int64_t>()),
                                       static_cast<size_t>(c.numel()) * sizeof(int64_t)));
}

std::string exact(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

template <typename T>
T number(const std::filesystem::path& file, const std::map<std::string, std::string>& attrs, const char* key) {
  const auto it = attrs.find(key);
  if (it == attrs.end()) fail(file, std::string("missing attribute '") + key + "'");
  const std::string& s = it->second;
  T value{};
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    fail(file, std::string("attribute ") + key + " is '" + s + "', expected a number");
  }
  return value;
}

torch::Tensor read_1d_long(const std::filesystem::path& file, const char* name) {
  auto t = read_h5_tensor(file, name);
  if (t.dim() != 1 || t.scalar_type() != torch::kLong) {
    fail(file, std::string("dataset '") + name + "' should be 1-D int64, got " + std::to_string(t.dim()) + "-D " +
                   std::string(c10::toString(t.scalar_type())));
  }
  return t.contiguous();
}

}  // namespace

std::string GraphFingerprint::to_string() const {
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x", crc32);
  return std::to_string(num_nodes) + " nodes, " + std::to_string(num_edges) + " edges, crc32 " + crc;
}

GraphFingerprint fingerprint(const graph::CsrGraph& graph) {
  GraphFingerprint f;
  f.num_nodes = graph.num_rows();
  f.num_edges = graph.num_edges();
  f.crc32 = crc_of(crc_of(static_cast<uint32_t>(crc32_z(0, nullptr, 0)), graph.indptr), graph.indices);
  return f;
}

void save_ego_graphs_h5(const graph::sampling::EgoGraphs& egos, const graph::CsrGraph& graph,
                        const graph::sampling::LocalClusteringOptions& options, const std::string& dataset,
                        const std::filesystem::path& file) {
  const auto f = fingerprint(graph);
  write_h5(file, {{"seeds", egos.seeds}, {"indptr", egos.indptr}, {"indices", egos.indices}},
           {{"format", kFormat},
            {"version", kVersion},
            {"dataset", dataset},
            {"graph_num_nodes", std::to_string(f.num_nodes)},
            {"graph_num_edges", std::to_string(f.num_edges)},
            {"graph_crc32", std::to_string(f.crc32)},
            {"alpha", exact(options.alpha)},
            {"rho", exact(options.rho)},
            {"max_push_steps", std::to_string(options.max_push_steps)},
            {"ego_size", std::to_string(options.ego_size)}});
}

EgoGraphFile load_ego_graphs_h5(const std::filesystem::path& file) {
  const auto attrs = read_h5_attrs(file);
  const auto format = attrs.find("format"), version = attrs.find("version");
  if (format == attrs.end() || format->second != kFormat) {
    fail(file, std::string("not an ego-graph file (attribute format is '") +
                   (format == attrs.end() ? "missing" : format->second) + "', expected '" + kFormat + "')");
  }
  if (version == attrs.end() || version->second != kVersion) {
    fail(file, std::string("ego-graph file version '") + (version == attrs.end() ? "missing" : version->second) +
                   "', this build reads version " + kVersion);
  }
  EgoGraphFile out;
  out.dataset = attrs.count("dataset") ? attrs.at("dataset") : "";
  out.graph.num_nodes = number<int64_t>(file, attrs, "graph_num_nodes");
  out.graph.num_edges = number<int64_t>(file, attrs, "graph_num_edges");
  out.graph.crc32 = number<uint32_t>(file, attrs, "graph_crc32");
  out.options.alpha = number<double>(file, attrs, "alpha");
  out.options.rho = number<double>(file, attrs, "rho");
  out.options.max_push_steps = number<int64_t>(file, attrs, "max_push_steps");
  out.options.ego_size = number<int64_t>(file, attrs, "ego_size");
  if (out.options.ego_size < 1) fail(file, "attribute ego_size is " + std::to_string(out.options.ego_size));

  auto& e = out.egos;
  e.seeds = read_1d_long(file, "seeds");
  e.indptr = read_1d_long(file, "indptr");
  e.indices = read_h5_tensor(file, "indices");
  if (e.indices.dim() != 1 || (e.indices.scalar_type() != torch::kLong && e.indices.scalar_type() != torch::kInt)) {
    fail(file, "dataset 'indices' should be 1-D int32 or int64, got " + std::to_string(e.indices.dim()) + "-D " +
                   std::string(c10::toString(e.indices.scalar_type())));
  }
  e.indices = e.indices.contiguous();
  const int64_t S = e.seeds.size(0), n = out.graph.num_nodes;
  if (e.indptr.size(0) != S + 1) {
    fail(file, "indptr has " + std::to_string(e.indptr.size(0)) + " entries for " + std::to_string(S) +
                   " seeds (expected " + std::to_string(S + 1) + ")");
  }
  const int64_t* sd = e.seeds.data_ptr<int64_t>();
  const int64_t* ip = e.indptr.data_ptr<int64_t>();
  if (ip[0] != 0 || ip[S] != e.indices.size(0)) {
    fail(file, "indptr runs from " + std::to_string(ip[0]) + " to " + std::to_string(ip[S]) + ", expected 0 to " +
                   std::to_string(e.indices.size(0)) + " (the index count)");
  }
  const auto check = [&](const auto* ix) {
    for (int64_t s = 0; s < S; ++s) {
      const auto where = "seed number " + std::to_string(s) + " (node " + std::to_string(sd[s]) + ")";
      if (sd[s] < 0 || sd[s] >= n)
        fail(file, where + " is out of range for a graph of " + std::to_string(n) + " nodes");
      const int64_t len = ip[s + 1] - ip[s];
      if (len < 1 || len > out.options.ego_size) {
        fail(file, where + " has " + std::to_string(len) + " ego nodes, expected 1 to " +
                       std::to_string(out.options.ego_size));
      }
      if (ix[ip[s]] != sd[s]) fail(file, where + ": its ego-graph starts with node " + std::to_string(ix[ip[s]]));
      for (int64_t i = ip[s]; i < ip[s + 1]; ++i) {
        if (ix[i] < 0 || ix[i] >= n) {
          fail(file, where + ": ego node " + std::to_string(ix[i]) + " at position " + std::to_string(i - ip[s]) +
                         " is out of range");
        }
      }
    }
  };
  if (e.indices.scalar_type() == torch::kInt) {
    check(e.indices.data_ptr<int32_t>());
  } else {
    check(e.indices.data_ptr<int64_t>());
  }
  // Files written before node lists were int32 (or by other tools) are held compact too.
  e = e.compact();
  return out;
}

EgoGraphFile load_ego_graphs_h5(const std::filesystem::path& file, const graph::CsrGraph& graph) {
  auto out = load_ego_graphs_h5(file);
  const auto actual = fingerprint(graph);
  if (!(out.graph == actual)) {
    fail(file, "computed on another graph (" + out.graph.to_string() + (out.dataset.empty() ? "" : ", " + out.dataset) +
                   ") than this one (" + actual.to_string() + "); recompute it with graphmae2-data lc");
  }
  return out;
}

}  // namespace graphmae2::datasets
