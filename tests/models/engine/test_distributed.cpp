// The process group (models/engine/distributed.h) with ranks as threads of this process over a FileStore, and
// the training loop on several ranks against one process on the whole batch.

#include "models/engine/distributed.h"
#include "models/engine/loop.h"

#include "fixtures/paths.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

namespace {

namespace engine = graphmae2::models::engine;
namespace fs = std::filesystem;

// Runs body(group) on `world` threads, one rank each; rethrows the first failure's message as a test failure.
void on_ranks(const std::string& name, int world, const std::function<void(engine::ProcessGroup&)>& body,
              engine::DistributedOptions options = {}) {
  const auto dir = graphmae2::testing::scratch_dir("distributed_" + name);
  std::vector<std::thread> threads;
  std::vector<std::string> errors(world);
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto group = engine::ProcessGroup::join_file(dir / "store", r, world, options);
        body(*group);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

std::function<const char*(const char*)> env_of(std::map<std::string, std::string> vars) {
  auto held = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [held](const char* name) -> const char* {
    auto it = held->find(name);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

TEST(LaunchEnvironment, ReadsTorchrunsVariables) {
  EXPECT_FALSE(engine::LaunchEnvironment::from(env_of({})).has_value());
  const auto env = engine::LaunchEnvironment::from(env_of({{"RANK", "3"},
                                                           {"WORLD_SIZE", "4"},
                                                           {"LOCAL_RANK", "1"},
                                                           {"LOCAL_WORLD_SIZE", "2"},
                                                           {"MASTER_ADDR", "node7"},
                                                           {"MASTER_PORT", "29411"},
                                                           {"TORCHELASTIC_RESTART_COUNT", "2"},
                                                           {"TORCHELASTIC_USE_AGENT_STORE", "True"}}));
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->world_size, 4);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "node7");
  EXPECT_EQ(env->master_port, 29411);
  EXPECT_EQ(env->restart_count, 2);
  EXPECT_TRUE(env->agent_store);
}

TEST(LaunchEnvironment, RefusesMalformedVariablesNamingThem) {
  auto message = [](std::map<std::string, std::string> vars) {
    try {
      engine::LaunchEnvironment::from(env_of(std::move(vars)));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"RANK", "0"}}).find("WORLD_SIZE is not"), std::string::npos);
  EXPECT_NE(message({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).find("RANK='2'"), std::string::npos);
  EXPECT_NE(message({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK='x'"), std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}).find("MASTER_PORT='70000'"),
            std::string::npos);
}

TEST(ProcessGroup, ReducesGathersAndBroadcastsOverBuckets) {
  engine::DistributedOptions options;
  options.bucket_bytes = 64;  // several buckets
  on_ranks(
      "collectives", 3,
      [](engine::ProcessGroup& g) {
        const double r = g.rank();
        std::vector<torch::Tensor> values{torch::full({5}, r), torch::full({2, 3}, 2 * r + 1),
                                          torch::full({7}, r, torch::kDouble), torch::full({20}, -r)};
        g.all_reduce_sum_(values, "test tensors");
        // sums over ranks 0, 1, 2: 3, 2*3+3 = 9, 3, -3
        EXPECT_TRUE(values[0].equal(torch::full({5}, 3.0)));
        EXPECT_TRUE(values[1].equal(torch::full({2, 3}, 9.0)));
        EXPECT_TRUE(values[2].equal(torch::full({7}, 3.0, torch::kDouble)));
        EXPECT_TRUE(values[3].equal(torch::full({20}, -3.0)));
        std::vector<torch::Tensor> mean{torch::full({4}, r)};
        g.all_reduce_mean_(mean, "mean");
        EXPECT_TRUE(mean[0].equal(torch::full({4}, 1.0)));
        const auto gathered = g.all_gather_cat(torch::full({2}, static_cast<int64_t>(g.rank()), torch::kLong), "ids");
        EXPECT_TRUE(gathered.equal(torch::tensor({0, 0, 1, 1, 2, 2}, torch::kLong)));
        std::vector<torch::Tensor> weights{torch::full({3}, r), torch::full({9}, 10 + r)};
        g.broadcast_(weights, 2, "weights");
        EXPECT_TRUE(weights[0].equal(torch::full({3}, 2.0)));
        EXPECT_TRUE(weights[1].equal(torch::full({9}, 12.0)));
        EXPECT_EQ(g.all_reduce_min(10 - g.rank(), "min"), 8);
      },
      options);
}

TEST(ProcessGroup, ADifferentConfigOnOneRankIsRefusedOnEveryRank) {
  on_ranks("mismatch", 3, [](engine::ProcessGroup& g) {
    try {
      g.check_same_on_every_rank("the config", g.rank() == 2 ? "lr: 0.01" : "lr: 0.001");
      ADD_FAILURE() << "rank " << g.rank() << " accepted a differing config";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("the config differs between the ranks: rank 2 of 3"), std::string::npos)
          << e.what();
    }
    g.check_same_on_every_rank("the same text", "x");  // no throw
  });
}

TEST(ProcessGroup, ARankThatNeverComesEndsTheCollectiveWithinTheTimeout) {
  engine::DistributedOptions options;
  options.timeout = std::chrono::seconds(3);
  const auto started = std::chrono::steady_clock::now();
  on_ranks(
      "dead_rank", 2,
      [](engine::ProcessGroup& g) {
        if (g.rank() == 1) return;  // joined, then stops taking part
        std::vector<torch::Tensor> t{torch::ones({4})};
        try {
          g.all_reduce_sum_(t, "the gradients of step 0");
          ADD_FAILURE() << "the all-reduce returned without rank 1";
        } catch (const engine::DistributedError& e) {
          EXPECT_NE(std::string(e.what()).find("rank 0 of 2: all-reduce of the gradients of step 0 failed"),
                    std::string::npos)
              << e.what();
        }
      },
      options);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
}

// y = w x + b on 8 fixed points: a loop on W ranks, each on its share (8 / W rows), whose loss is its share's
// mean (equal shares: the mean over ranks is the global batch's mean), against one process on all 8 rows.
std::vector<torch::Tensor> train_regression(engine::ProcessGroup* group, const fs::path& run_dir, int64_t steps) {
  // Drawn from local generators: the ranks are threads, and torch's default generator is shared between them.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  torch::nn::Linear model(3, 2);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.copy_(torch::randn(p.sizes(), gen));
  }
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1));
  const auto x = torch::randn({8, 3}, gen), y = torch::randn({8, 2}, gen);
  const int world = group ? group->world_size() : 1, rank = group ? group->rank() : 0;
  const auto xs = x.tensor_split(world)[rank], ys = y.tensor_split(world)[rank];
  engine::LoopOptions loop;
  loop.model_name = "regression";
  loop.epochs = steps;
  loop.run_dir = run_dir;
  loop.progress = false;
  loop.max_grad_norm = 0.5;  // clipped on the averaged gradients: the same decision on every rank
  loop.measure_grad_norm = true;
  if (group) loop.group = std::shared_ptr<const engine::ProcessGroup>(group, [](const engine::ProcessGroup*) {});
  engine::TrainingLoop trainer(loop, *model, optimizer, model->parameters());
  engine::LoopHooks hooks;
  hooks.after_step = [](engine::StepContext& ctx) {
    ctx.record = engine::Json{{"step", ctx.step}, {"loss", ctx.loss}, {"grad_norm", ctx.grad_norm}};
  };
  trainer.run(
      [&](engine::StepContext&) {
        engine::StepOutput out;
        out.loss = torch::mse_loss(model->forward(xs), ys);
        out.terms = {{"rows", torch::full({}, static_cast<double>(xs.size(0)))}};
        return out;
      },
      hooks);
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  return out;
}

TEST(TrainingLoopOnRanks, TwoRanksOnHalvesEqualOneProcessOnTheWholeBatch) {
  const auto single_dir = graphmae2::testing::scratch_dir("distributed_loop_single");
  const auto single = train_regression(nullptr, single_dir, 20);
  const auto ranks_dir = graphmae2::testing::scratch_dir("distributed_loop_ranks");
  std::vector<std::vector<torch::Tensor>> per_rank(2);
  on_ranks("loop", 2, [&](engine::ProcessGroup& g) { per_rank[g.rank()] = train_regression(&g, ranks_dir, 20); });
  for (int r = 0; r < 2; ++r) {
    ASSERT_EQ(per_rank[r].size(), single.size());
    for (size_t i = 0; i < single.size(); ++i) {
      EXPECT_TRUE(torch::allclose(per_rank[r][i], single[i], 1e-5, 1e-6)) << "rank " << r << " parameter " << i;
      EXPECT_TRUE(per_rank[r][i].equal(per_rank[0][i])) << "ranks differ";
    }
  }
  // Rank 0 alone wrote the metrics: as many lines as the one-process run, the losses averaged over the ranks.
  auto records = [](const fs::path& file) {
    std::ifstream in(file);
    std::vector<nlohmann::json> out;
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  };
  const auto one = records(single_dir / "metrics.jsonl"), two = records(ranks_dir / "metrics.jsonl");
  ASSERT_EQ(one.size(), 20u);
  ASSERT_EQ(two.size(), one.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_NEAR(two[i]["loss"].get<double>(), one[i]["loss"].get<double>(), 1e-5) << "step " << i;
    EXPECT_NEAR(two[i]["grad_norm"].get<double>(), one[i]["grad_norm"].get<double>(), 1e-5) << "step " << i;
  }
  EXPECT_TRUE(fs::exists(ranks_dir / "checkpoint.pt"));
}

}  // namespace
