// The training loop on a toy regression: schedules, EMA timing, the NaN stop between logging steps, checkpoint
// cadence, and a resume that ends bit-identical to an uninterrupted run with the same metrics lines.

#include "fixtures/paths.h"
#include "models/engine/loop.h"
#include "models/engine/stop_request.h"

#include <gtest/gtest.h>

#include <csignal>

#include <fstream>

namespace engine = graphmae2::models::engine;
namespace fs = std::filesystem;

namespace {

struct Toy {
  torch::nn::Linear student{nullptr}, teacher{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer;
  std::unique_ptr<graphmae2::models::ssl::EmaUpdater> ema;
  torch::nn::Sequential both{nullptr};  // what checkpoints hold

  Toy() {
    torch::manual_seed(0);
    student = torch::nn::Linear(3, 1);
    teacher = std::dynamic_pointer_cast<torch::nn::LinearImpl>(student->clone());
    both = torch::nn::Sequential(student, teacher);
    optimizer = std::make_unique<torch::optim::SGD>(student->parameters(), torch::optim::SGDOptions(0.1));
    ema = std::make_unique<graphmae2::models::ssl::EmaUpdater>(student.ptr(), teacher.ptr());
  }
  // A fresh random batch per step (draws from torch's generator, which checkpoints restore).
  engine::StepOutput step(engine::StepContext&) {
    const auto x = torch::randn({8, 3});
    const auto y = x.sum(1, true);
    const auto loss = (student->forward(x) - y).pow(2).mean();
    return {loss, {{"twice", 2 * loss.detach()}}};
  }
};

engine::LoopOptions options(const fs::path& dir) {
  engine::LoopOptions o;
  o.model_name = "toy";
  o.epochs = 3;
  o.steps_per_epoch = 4;
  o.lr_at = [](int64_t step) { return engine::cosine_decay(0.1, step, 12); };
  o.momentum_at = [](int64_t) { return 0.5; };
  o.run_dir = dir;
  o.progress = false;
  o.config_yaml = "lr: 0.1\n";
  return o;
}

engine::LoopHooks log_hooks() {
  engine::LoopHooks hooks;
  hooks.after_step = [](engine::StepContext& ctx) {
    ctx.record = engine::Json{
        {"step", ctx.step}, {"epoch", ctx.epoch}, {"lr", ctx.lr}, {"loss", ctx.loss}, {"twice", ctx.terms.at("twice")}};
  };
  return hooks;
}

std::vector<std::string> lines_of(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

}  // namespace

TEST(TrainingLoop, SchedulesTermsAndCheckpointCadence) {
  Toy toy;
  auto o = options(graphmae2::testing::scratch_dir("loop-basic"));
  o.save_every_steps = 5;
  engine::TrainingLoop loop(o, *toy.both, *toy.optimizer, toy.student->parameters(), {toy.ema.get()});
  std::vector<int64_t> saved_steps;
  auto hooks = log_hooks();
  const auto run = loop.run([&](engine::StepContext& c) { return toy.step(c); }, hooks);
  EXPECT_EQ(run.steps_run, 12);
  EXPECT_EQ(run.steps_done, 12);
  const auto lines = lines_of(o.run_dir / "metrics.jsonl");
  ASSERT_EQ(lines.size(), 12u);
  for (int64_t s = 0; s < 12; ++s) {
    const auto rec = engine::Json::parse(lines[s]);
    EXPECT_EQ(rec.at("step").get<int64_t>(), s);
    EXPECT_EQ(rec.at("epoch").get<int64_t>(), s / 4);
    EXPECT_DOUBLE_EQ(rec.at("lr").get<double>(), 0.1 * (1 + std::cos(M_PI * s / 12.0)) * 0.5);
    EXPECT_DOUBLE_EQ(rec.at("twice").get<double>(), 2 * rec.at("loss").get<double>());
  }
  const auto state = engine::read_checkpoint_state(loop.checkpoint_path(), "toy");
  EXPECT_EQ(state.step, 12);
  EXPECT_EQ(state.config_yaml, "lr: 0.1\n");
  EXPECT_EQ(state.metrics_bytes, static_cast<int64_t>(fs::file_size(o.run_dir / "metrics.jsonl")));
}

TEST(TrainingLoop, EmaMovesBeforeBackwardOrAfterTheStep) {
  for (auto timing : {engine::EmaTiming::before_backward, engine::EmaTiming::after_optimizer_step}) {
    Toy toy;
    auto o = options(graphmae2::testing::scratch_dir("loop-ema"));
    o.epochs = 1;
    o.steps_per_epoch = 1;
    o.momentum_at = [](int64_t) { return 0.0; };  // the teacher becomes a copy of the student
    o.ema_timing = timing;
    const auto before = toy.student->weight.detach().clone();
    engine::TrainingLoop loop(o, *toy.both, *toy.optimizer, toy.student->parameters(), {toy.ema.get()});
    loop.run([&](engine::StepContext& c) { return toy.step(c); });
    const auto& expected = timing == engine::EmaTiming::before_backward ? before : toy.student->weight;
    EXPECT_TRUE(torch::equal(toy.teacher->weight, expected));
    EXPECT_FALSE(torch::equal(toy.student->weight, before));
  }
}

TEST(TrainingLoop, ANanBetweenLoggingStepsStopsTrainingAndKeepsTheLastGoodCheckpoint) {
  Toy toy;
  auto o = options(graphmae2::testing::scratch_dir("loop-nan"));
  o.log_every = 4;
  o.save_every_steps = 2;
  engine::TrainingLoop loop(o, *toy.both, *toy.optimizer, toy.student->parameters());
  auto step = [&](engine::StepContext& c) {
    auto out = toy.step(c);
    if (c.step == 3) out.loss = out.loss * std::numeric_limits<float>::quiet_NaN();
    return out;
  };
  try {
    loop.run(step);
    ADD_FAILURE() << "no divergence";
  } catch (const engine::TrainingDiverged& e) {
    EXPECT_NE(std::string(e.what()).find("at step 3 (epoch 0)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("the last good checkpoint, step 2, is kept at"), std::string::npos)
        << e.what();
  }
  // The checkpoint after step 4 was due while the NaN was unchecked: refused, so the last good one (step 2) stays.
  EXPECT_EQ(engine::read_checkpoint_state(loop.checkpoint_path(), "toy").step, 2);
}

// A checkpoint written at step k holds the weights that compute step k's loss: when that loss is the first NaN,
// the checkpoint before it is restored, or, with none, the checkpoint is set aside so --resume starts afresh.
TEST(TrainingLoop, ADivergenceAtACheckpointsOwnStepFallsBackToTheOneBefore) {
  for (const int64_t bad_step : {4, 2}) {
    Toy toy;
    auto o = options(graphmae2::testing::scratch_dir("loop-nan-at-checkpoint"));
    o.log_every = 3;
    o.save_every_steps = 2;
    engine::TrainingLoop loop(o, *toy.both, *toy.optimizer, toy.student->parameters());
    auto step = [&](engine::StepContext& c) {
      auto out = toy.step(c);
      if (c.step == bad_step) out.loss = out.loss * std::numeric_limits<float>::quiet_NaN();
      return out;
    };
    std::string message;
    try {
      loop.run(step);
      ADD_FAILURE() << "no divergence";
    } catch (const engine::TrainingDiverged& e) {
      message = e.what();
    }
    EXPECT_NE(message.find("at step " + std::to_string(bad_step)), std::string::npos) << message;
    EXPECT_FALSE(fs::exists(loop.previous_checkpoint_path()));
    const auto marker = engine::Json::parse(lines_of(o.run_dir / engine::kDivergedMarker).at(0));
    EXPECT_EQ(marker.at("step").get<int64_t>(), bad_step);
    if (bad_step == 4) {
      EXPECT_NE(message.find("step 2, is kept"), std::string::npos) << message;
      EXPECT_EQ(engine::read_checkpoint_state(loop.checkpoint_path(), "toy").step, 2);
      EXPECT_EQ(marker.at("checkpoint_step").get<int64_t>(), 2);
    } else {
      EXPECT_NE(message.find("no checkpoint was written before it"), std::string::npos) << message;
      EXPECT_FALSE(fs::exists(loop.checkpoint_path()));
      EXPECT_TRUE(fs::exists(o.run_dir / "checkpoint.nonfinite.pt"));
      EXPECT_TRUE(marker.at("checkpoint_step").is_null());
    }
  }
}

TEST(TrainingLoop, InterruptedAndResumedMidEpochEqualsTheStraightRun) {
  auto straight_dir = graphmae2::testing::scratch_dir("loop-straight");
  Toy straight;
  engine::TrainingLoop a(options(straight_dir), *straight.both, *straight.optimizer, straight.student->parameters(),
                         {straight.ema.get()});
  a.run([&](engine::StepContext& c) { return straight.step(c); }, log_hooks());

  auto dir = graphmae2::testing::scratch_dir("loop-resumed");
  {
    Toy first;
    auto o = options(dir);
    o.save_every_steps = 3;
    engine::TrainingLoop b(o, *first.both, *first.optimizer, first.student->parameters(), {first.ema.get()});
    auto hooks = log_hooks();
    auto log = hooks.after_step;
    hooks.after_step = [&](engine::StepContext& ctx) {
      log(ctx);
      if (ctx.step == 7) throw std::runtime_error("killed");  // after step 7's line was built, before it was written
    };
    EXPECT_THROW(b.run([&](engine::StepContext& c) { return first.step(c); }, hooks), std::runtime_error);
  }
  torch::manual_seed(123);  // whatever the generator holds now, the checkpoint's state wins
  Toy second;
  auto o = options(dir);
  o.save_every_steps = 3;
  o.resume = true;
  engine::TrainingLoop c(o, *second.both, *second.optimizer, second.student->parameters(), {second.ema.get()});
  EXPECT_TRUE(c.resumed());
  EXPECT_EQ(c.start_step(), 6);
  const auto run = c.run([&](engine::StepContext& ctx) { return second.step(ctx); }, log_hooks());
  EXPECT_EQ(run.steps_run, 6);
  EXPECT_TRUE(torch::equal(straight.student->weight, second.student->weight));
  EXPECT_TRUE(torch::equal(straight.teacher->weight, second.teacher->weight));
  EXPECT_EQ(lines_of(straight_dir / "metrics.jsonl"), lines_of(dir / "metrics.jsonl"));

  // A guard that refuses leaves everything as it was.
  o.resume_guard = [](const engine::CheckpointState&, bool) { return std::string("another run"); };
  Toy third;
  EXPECT_THROW(engine::TrainingLoop(o, *third.both, *third.optimizer, third.student->parameters()),
               std::invalid_argument);
  EXPECT_EQ(lines_of(straight_dir / "metrics.jsonl"), lines_of(dir / "metrics.jsonl"));
}

TEST(TrainingLoop, AStopRequestFinishesTheStepWritesACheckpointAndTheResumeEqualsTheStraightRun) {
  auto straight_dir = graphmae2::testing::scratch_dir("loop-sigint-straight");
  Toy straight;
  engine::TrainingLoop a(options(straight_dir), *straight.both, *straight.optimizer, straight.student->parameters(),
                         {straight.ema.get()});
  a.run([&](engine::StepContext& c) { return straight.step(c); }, log_hooks());

  auto dir = graphmae2::testing::scratch_dir("loop-sigint");
  EXPECT_FALSE(engine::request_stop()) << "no loop runs: the request has nobody to take it";
  const auto previous = std::signal(SIGINT, SIG_DFL);
  {
    Toy first;
    auto o = options(dir);
    o.resume_hint = "the same command with --resume";
    engine::TrainingLoop b(o, *first.both, *first.optimizer, first.student->parameters(), {first.ema.get()});
    auto hooks = log_hooks();
    auto log = hooks.after_step;
    hooks.after_step = [&](engine::StepContext& ctx) {
      log(ctx);
      if (ctx.step != 4) return;  // inside epoch 1 (4 steps per epoch): step 4 still completes
      struct sigaction installed {};
      sigaction(SIGINT, nullptr, &installed);
      EXPECT_EQ(installed.sa_handler, SIG_DFL) << "the library installed a signal handler";
      EXPECT_TRUE(engine::request_stop());
      EXPECT_FALSE(engine::request_stop()) << "a second request is the program's to handle";
    };
    try {
      b.run([&](engine::StepContext& c) { return first.step(c); }, hooks);
      ADD_FAILURE() << "the interrupt did not stop training";
    } catch (const engine::TrainingInterrupted& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("interrupted after step 5"), std::string::npos) << msg;
      EXPECT_NE(msg.find("checkpoint.pt"), std::string::npos) << msg;
      EXPECT_NE(msg.find("Continue with: the same command with --resume"), std::string::npos) << msg;
    }
  }
  EXPECT_EQ(std::signal(SIGINT, previous), SIG_DFL) << "the loop changed the SIGINT handler";
  EXPECT_FALSE(engine::request_stop()) << "the loop ended: no request is taken";
  Toy second;
  auto o = options(dir);
  o.resume = true;
  engine::TrainingLoop c(o, *second.both, *second.optimizer, second.student->parameters(), {second.ema.get()});
  EXPECT_EQ(c.start_step(), 5);
  c.run([&](engine::StepContext& ctx) { return second.step(ctx); }, log_hooks());
  EXPECT_TRUE(torch::equal(straight.student->weight, second.student->weight));
  EXPECT_TRUE(torch::equal(straight.teacher->weight, second.teacher->weight));
}

TEST(TrainingLoop, TimedCheckpointsAndAResumeWithoutACheckpointSaysSo) {
  auto dir = graphmae2::testing::scratch_dir("loop-timed");
  Toy toy;
  auto o = options(dir);
  o.resume = true;              // nothing there yet: starts from scratch, and says so
  o.save_every_minutes = 1e-9;  // every step is past the deadline
  std::string said;
  o.log = [&said](engine::LogLevel, const std::string& line) { said += line + "\n"; };
  testing::internal::CaptureStdout();
  engine::TrainingLoop loop(o, *toy.both, *toy.optimizer, toy.student->parameters(), {toy.ema.get()});
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "") << "the library printed";
  EXPECT_NE(said.find("--resume found no checkpoint at"), std::string::npos) << said;
  EXPECT_NE(said.find("starting from scratch"), std::string::npos) << said;
  std::vector<int64_t> saved_steps;
  auto hooks = log_hooks();
  auto log = hooks.after_step;
  hooks.after_step = [&](engine::StepContext& ctx) {
    log(ctx);
    if (std::filesystem::exists(dir / "checkpoint.pt")) {
      saved_steps.push_back(engine::read_checkpoint_state(dir / "checkpoint.pt", "").step);
    }
  };
  loop.run([&](engine::StepContext& c) { return toy.step(c); }, hooks);
  // Each step's hook sees the checkpoint the previous step's timed save wrote.
  ASSERT_GE(saved_steps.size(), 3u);
  EXPECT_EQ(saved_steps[0], 1);
  EXPECT_EQ(saved_steps[1], 2);
}

TEST(TrainingLoop, ADivergenceBeforeAnyCheckpointSaysThereIsNone) {
  Toy toy;
  auto o = options(graphmae2::testing::scratch_dir("loop-nan-first"));
  engine::TrainingLoop loop(o, *toy.both, *toy.optimizer, toy.student->parameters());
  auto step = [&](engine::StepContext& c) {
    auto out = toy.step(c);
    if (c.step == 1) out.loss = out.loss * std::numeric_limits<float>::infinity();
    return out;
  };
  try {
    loop.run(step);
    ADD_FAILURE() << "no divergence";
  } catch (const engine::TrainingDiverged& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no checkpoint was written before it"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("is kept at"), std::string::npos) << msg;
  }
  EXPECT_FALSE(std::filesystem::exists(loop.checkpoint_path()));
}

// Issue 14 class 10: a diverged run continues from its last finite checkpoint with a lower lr, and ends where a
// straight run that lowered its lr at that step ends.
TEST(TrainingLoop, ADivergedRunResumesFromItsLastFiniteCheckpointWithALowerLr) {
  const auto high = [](int64_t) { return 0.1; };
  const auto low = [](int64_t) { return 0.01; };
  // The loss "explodes" at step 6 under the high lr only (steps 4 and 5 were checkpointed at 4).
  auto explode_on_high_lr = [](Toy& toy) {
    return [&toy](engine::StepContext& c) {
      auto out = toy.step(c);
      if (c.step == 6 && c.lr > 0.05) out.loss = out.loss * std::numeric_limits<float>::quiet_NaN();
      return out;
    };
  };
  const auto dir = graphmae2::testing::scratch_dir("loop-diverged-resume");
  std::vector<bool> guard_calls;
  auto guard = [&guard_calls](const engine::CheckpointState&, bool after_divergence) {
    guard_calls.push_back(after_divergence);
    return after_divergence ? std::string() : std::string("lr differs");
  };
  {
    Toy first;
    auto o = options(dir);
    o.lr_at = high;
    o.save_every_steps = 4;
    engine::TrainingLoop loop(o, *first.both, *first.optimizer, first.student->parameters());
    try {
      loop.run(explode_on_high_lr(first));
      ADD_FAILURE() << "no divergence";
    } catch (const engine::TrainingDiverged& e) {
      EXPECT_NE(std::string(e.what()).find("step 4, is kept"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--resume and a smaller --lr"), std::string::npos) << e.what();
    }
  }
  ASSERT_TRUE(engine::run_diverged(dir));
  const auto marker = engine::Json::parse(lines_of(dir / engine::kDivergedMarker).at(0));
  EXPECT_EQ(marker.at("step").get<int64_t>(), 6);
  EXPECT_EQ(marker.at("checkpoint_step").get<int64_t>(), 4);

  Toy resumed;
  auto o = options(dir);
  o.lr_at = low;
  o.resume = true;
  o.resume_guard = guard;
  engine::TrainingLoop loop(o, *resumed.both, *resumed.optimizer, resumed.student->parameters());
  EXPECT_EQ(loop.start_step(), 4);
  loop.run(explode_on_high_lr(resumed));
  EXPECT_EQ(guard_calls, std::vector<bool>{true});
  EXPECT_FALSE(engine::run_diverged(dir)) << "the resumed run's first checkpoint removes the marker";

  Toy straight;
  auto s = options(graphmae2::testing::scratch_dir("loop-diverged-straight"));
  s.lr_at = [](int64_t step) { return step < 4 ? 0.1 : 0.01; };
  engine::TrainingLoop reference(s, *straight.both, *straight.optimizer, straight.student->parameters());
  reference.run(explode_on_high_lr(straight));
  EXPECT_TRUE(torch::equal(resumed.student->weight, straight.student->weight));
  EXPECT_TRUE(torch::equal(resumed.student->bias, straight.student->bias));

  // Once the marker is gone, the guard is told so: the next resume compares the config again.
  guard_calls.clear();
  Toy again;
  o.lr_at = high;
  EXPECT_THROW(engine::TrainingLoop(o, *again.both, *again.optimizer, again.student->parameters()),
               std::invalid_argument);
  EXPECT_EQ(guard_calls, std::vector<bool>{false});
}
