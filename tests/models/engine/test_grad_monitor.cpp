#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "models/engine/grad_monitor.h"

using graphmae2::models::engine::GradEvent;
using graphmae2::models::engine::GradGroup;
using graphmae2::models::engine::GradMonitor;
using graphmae2::models::engine::GradMonitorOptions;

namespace {

// Jittered values around 1 (0.8..1.2): the healthy regime every detector must stay silent on.
double healthy(int64_t step) { return 1.0 + 0.2 * std::sin(0.7 * static_cast<double>(step)); }

}  // namespace

TEST(GradMonitor, NoEventsOnJitteredSequence) {
  GradMonitor m({});
  for (int64_t s = 0; s < 500; ++s) EXPECT_TRUE(m.observe(s, {{"enc", healthy(s)}}).empty()) << "step " << s;
  EXPECT_TRUE(m.events().empty());
  EXPECT_EQ(m.spike_count("enc"), 0);
}

TEST(GradMonitor, FlagsSpikeAgainstRunningMedian) {
  GradMonitor m({}, GradMonitorOptions().window(20).spike_factor(10.0).min_history(5));
  for (int64_t s = 0; s < 30; ++s) m.observe(s, {{"enc", healthy(s)}, {"dec", 2.0}});
  // Reference median by hand: the last 20 values of healthy() (steps 10..29), sorted, mean of the middle two.
  std::vector<double> last;
  for (int64_t s = 10; s < 30; ++s) last.push_back(healthy(s));
  std::sort(last.begin(), last.end());
  const double med = 0.5 * (last[9] + last[10]);
  EXPECT_NEAR(m.median("enc"), med, 1e-12);

  // 9.9x the median is not a spike, 10.5x is.
  EXPECT_TRUE(m.observe(30, {{"enc", 9.9 * m.median("enc")}}).empty());
  const double before = m.median("enc");
  auto ev = m.observe(31, {{"enc", 10.5 * before}, {"dec", 2.1}});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, GradEvent::Kind::kSpike);
  EXPECT_EQ(ev[0].group, "enc");
  EXPECT_EQ(ev[0].step, 31);
  EXPECT_DOUBLE_EQ(ev[0].value, 10.5 * before);
  EXPECT_DOUBLE_EQ(ev[0].median, before);
  EXPECT_DOUBLE_EQ(ev[0].threshold, 10.0 * before);
  ASSERT_EQ(m.spikes().size(), 1u);
  EXPECT_EQ(m.spike_count("enc"), 1);
  EXPECT_EQ(m.spike_count("dec"), 0);
  EXPECT_EQ(m.spike_counts().size(), 1u);
}

TEST(GradMonitor, NoSpikeBeforeMinHistory) {
  GradMonitor m({}, GradMonitorOptions().min_history(10));
  for (int64_t s = 0; s < 9; ++s) m.observe(s, {{"g", 1.0}});
  EXPECT_TRUE(m.observe(9, {{"g", 100.0}}).empty());  // 9 values of history < 10
  // Now 10 values [1 x 9, 100]: their median is 1, so another 100 is a spike.
  auto ev = m.observe(10, {{"g", 100.0}});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_DOUBLE_EQ(ev[0].median, 1.0);
}

TEST(GradMonitor, SpikeAfterMinHistoryAndWindowForgets) {
  GradMonitor m({}, GradMonitorOptions().window(10).min_history(10));
  for (int64_t s = 0; s < 10; ++s) m.observe(s, {{"g", 1.0}});
  EXPECT_EQ(m.observe(10, {{"g", 50.0}}).size(), 1u);
  // A new regime at 50: once it fills more than half the window the median follows and spikes stop.
  int64_t spikes_at_50 = 0;
  for (int64_t s = 11; s < 30; ++s) spikes_at_50 += static_cast<int64_t>(m.observe(s, {{"g", 50.0}}).size());
  EXPECT_EQ(spikes_at_50, 4);  // steps 11..14: window still has >= 6 ones out of 10
  EXPECT_DOUBLE_EQ(m.median("g"), 50.0);
}

TEST(GradMonitor, ExplodingOnThresholdAndNonFinite) {
  GradMonitor m({}, GradMonitorOptions().explode_threshold(100.0).explode_patience(1));
  auto ev = m.observe(0, {{"g", 150.0}});
  ASSERT_EQ(ev.size(), 1u);  // no history: exploding only, no spike
  EXPECT_EQ(ev[0].kind, GradEvent::Kind::kExploding);
  EXPECT_DOUBLE_EQ(ev[0].threshold, 100.0);
  EXPECT_TRUE(std::isnan(ev[0].median));

  ev = m.observe(1, {{"g", std::numeric_limits<double>::quiet_NaN()}, {"h", std::numeric_limits<double>::infinity()}});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, GradEvent::Kind::kExploding);
  EXPECT_EQ(ev[1].kind, GradEvent::Kind::kExploding);
  // A NaN never enters the window.
  EXPECT_DOUBLE_EQ(m.median("g"), 150.0);
  EXPECT_TRUE(std::isnan(m.median("h")));
  EXPECT_TRUE(m.spikes().empty());
}

TEST(GradMonitor, ExplodingNeedsPatienceButNotForNonFinite) {
  GradMonitor m({}, GradMonitorOptions().explode_threshold(1e3).explode_patience(3));
  // One huge first step (a normalised loss at initialisation), then healthy: no event.
  EXPECT_TRUE(m.observe(0, {{"g", 1.6e11}}).empty());
  for (int64_t s = 1; s < 20; ++s) EXPECT_TRUE(m.observe(s, {{"g", healthy(s)}}).empty()) << "step " << s;
  // Two steps above, one below, two above: the run restarts, still no event.
  m.observe(20, {{"g", 2e3}});
  m.observe(21, {{"g", 2e3}});
  m.observe(22, {{"g", 5.0}});
  m.observe(23, {{"g", 3e3}});
  m.observe(24, {{"g", 4e3}});
  for (const auto& e : m.events()) EXPECT_NE(e.kind, GradEvent::Kind::kExploding) << "step " << e.step;
  // A third consecutive step above the threshold is exploding; NaN is exploding at once.
  auto ev = m.observe(25, {{"g", 5e3}});
  ASSERT_EQ(ev.size(), 2u);  // and a spike: the median of the window is still ~1
  EXPECT_EQ(ev[0].kind, GradEvent::Kind::kExploding);
  EXPECT_EQ(ev[0].step, 25);
  EXPECT_EQ(ev[1].kind, GradEvent::Kind::kSpike);
  ev = m.observe(26, {{"h", std::numeric_limits<double>::quiet_NaN()}});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, GradEvent::Kind::kExploding);
}

TEST(GradMonitor, VanishingAfterPatienceOncePerRun) {
  GradMonitor m({}, GradMonitorOptions().vanish_threshold(1e-8).vanish_patience(5));
  int64_t vanish = 0;
  for (int64_t s = 0; s < 4; ++s) vanish += static_cast<int64_t>(m.observe(s, {{"g", 1e-9}}).size());
  EXPECT_EQ(vanish, 0);
  auto ev = m.observe(4, {{"g", 0.0}});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, GradEvent::Kind::kVanishing);
  EXPECT_EQ(ev[0].step, 4);
  for (int64_t s = 5; s < 20; ++s) EXPECT_TRUE(m.observe(s, {{"g", 0.0}}).empty());
  // Recovery re-arms the detector; a new run of 5 raises again.
  m.observe(20, {{"g", 1.0}});
  for (int64_t s = 21; s < 25; ++s) EXPECT_TRUE(m.observe(s, {{"g", 1e-12}}).empty());
  EXPECT_EQ(m.observe(25, {{"g", 1e-12}}).size(), 1u);
  // Four tiny values then a healthy one: no event.
  GradMonitor m2({}, GradMonitorOptions().vanish_patience(5));
  for (int64_t s = 0; s < 4; ++s) m2.observe(s, {{"g", 0.0}});
  m2.observe(4, {{"g", 1.0}});
  for (int64_t s = 5; s < 9; ++s) m2.observe(s, {{"g", 0.0}});
  EXPECT_TRUE(m2.events().empty());
}

TEST(GradMonitor, RecordMatchesPlainNormsOnRealModule) {
  torch::manual_seed(0);
  torch::nn::Sequential net(torch::nn::Linear(5, 7), torch::nn::ReLU(), torch::nn::Linear(7, 3));
  auto first = net[0];
  auto last = net[2];
  GradMonitor m({GradGroup("first", *first), GradGroup("last", *last), GradGroup("all", *net)});
  auto x = torch::randn({11, 5});
  net->forward(x).pow(2).sum().backward();
  auto norms = m.record(0);
  ASSERT_EQ(norms.size(), 4u);

  // Reference: plain sums of squares over each parameter's gradient entries.
  auto sq = [](const std::vector<torch::Tensor>& ps) {
    double s = 0.0;
    for (const auto& p : ps) {
      auto g = p.grad().to(torch::kDouble).flatten();
      for (int64_t i = 0; i < g.numel(); ++i) s += g[i].item<double>() * g[i].item<double>();
    }
    return s;
  };
  const double sf = sq(first->parameters()), sl = sq(last->parameters());
  EXPECT_NEAR(norms["first"], std::sqrt(sf), 1e-5 * std::sqrt(sf));
  EXPECT_NEAR(norms["last"], std::sqrt(sl), 1e-5 * std::sqrt(sl));
  EXPECT_NEAR(norms["all"], std::sqrt(sf + sl), 1e-5 * std::sqrt(sf + sl));
  // "total" counts each parameter once even though "all" overlaps "first" and "last".
  EXPECT_NEAR(norms["total"], std::sqrt(sf + sl), 1e-5 * std::sqrt(sf + sl));
  EXPECT_GT(sf, 0.0);
}

TEST(GradMonitor, RecordFlagsExplodingLrRun) {
  // A real module trained with an absurd lr: weights and gradients blow up and the monitor says so.
  torch::manual_seed(1);
  torch::nn::Linear lin(4, 4);
  GradMonitor m({GradGroup("lin", *lin)}, GradMonitorOptions().explode_threshold(1e3));
  torch::optim::SGD opt(lin->parameters(), torch::optim::SGDOptions(50.0));
  auto x = torch::randn({16, 4});
  auto y = torch::randn({16, 4});
  bool exploded = false;
  for (int64_t s = 0; s < 20 && !exploded; ++s) {
    opt.zero_grad();
    (lin->forward(x) - y).pow(2).mean().backward();
    m.record(s);
    for (const auto& e : m.events()) exploded |= e.kind == GradEvent::Kind::kExploding && e.group == "lin";
    opt.step();
  }
  EXPECT_TRUE(exploded);
}

TEST(GradMonitor, FrozenGroupReportsZeroAndIsNotVanishing) {
  torch::nn::Linear a(3, 3), b(3, 3);
  for (auto& p : b->parameters()) p.set_requires_grad(false);
  GradMonitor m({GradGroup("a", *a), GradGroup("b", *b)}, GradMonitorOptions().vanish_patience(2));
  auto x = torch::randn({4, 3});
  for (int64_t s = 0; s < 5; ++s) {
    a->zero_grad();
    a->forward(b->forward(x)).sum().backward();
    auto n = m.record(s);
    EXPECT_EQ(n["b"], 0.0);
    EXPECT_GT(n["a"], 0.0);
  }
  EXPECT_TRUE(m.events().empty());
}

TEST(GradMonitor, RejectsBadConfiguration) {
  torch::nn::Linear a(2, 2);
  EXPECT_THROW(GradMonitor({GradGroup("x", *a), GradGroup("x", *a)}), c10::Error);
  EXPECT_THROW(GradMonitor({GradGroup("total", *a)}), c10::Error);
  EXPECT_THROW(GradMonitor({}, GradMonitorOptions().spike_factor(1.0)), c10::Error);
  EXPECT_THROW(GradMonitor({}, GradMonitorOptions().window(5).min_history(6)), c10::Error);
  EXPECT_THROW(GradMonitor({}, GradMonitorOptions().explode_patience(0)), c10::Error);
  GradMonitor m({});
  EXPECT_THROW(m.observe(0, {{"g", -1.0}}), c10::Error);
}
