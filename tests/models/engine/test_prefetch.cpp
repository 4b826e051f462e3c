// PrefetchLoader: items arrive in step order whatever the worker count, a worker's exception reaches the
// caller at that step (no hang), and destroying a loader with work pending returns.

#include "models/engine/prefetch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

namespace graphmae2::models::engine {
namespace {

TEST(PrefetchLoader, ItemsInStepOrderForAnyWorkerCount) {
  for (const int workers : {0, 1, 3}) {
    std::atomic<int> built{0};
    PrefetchLoader<int64_t> loader(
        [&](int64_t s) {
          ++built;
          std::this_thread::sleep_for(std::chrono::microseconds((s * 7919) % 300));  // finish out of order
          return s * s;
        },
        5, 40, workers, 4);
    for (int64_t s = 5; s < 40; ++s) EXPECT_EQ(loader.take(s), s * s) << workers;
    EXPECT_EQ(built.load(), 35) << "each step built once";
  }
}

TEST(PrefetchLoader, AWorkerErrorStopsTheCallerAtThatStep) {
  PrefetchLoader<int64_t> loader(
      [](int64_t s) -> int64_t {
        if (s == 6) throw std::runtime_error("sampler failed at step 6");
        return s;
      },
      0, 100, 2, 3);
  for (int64_t s = 0; s < 6; ++s) EXPECT_EQ(loader.take(s), s);
  try {
    loader.take(6);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "sampler failed at step 6");
  }
}

TEST(PrefetchLoader, StaysWithinCapacityAndStopsWithWorkPending) {
  std::atomic<int64_t> highest{-1};
  {
    PrefetchLoader<int64_t> loader(
        [&](int64_t s) {
          int64_t h = highest.load();
          while (s > h && !highest.compare_exchange_weak(h, s)) {
          }
          return s;
        },
        0, 1000000, 2, 5);
    EXPECT_EQ(loader.take(0), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_LE(highest.load(), 5) << "at most capacity steps ahead of the caller";
  }  // destroyed with steps left: must return
  SUCCEED();
}

}  // namespace
}  // namespace graphmae2::models::engine
