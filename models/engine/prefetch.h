#pragma once
// A prefetching loader: worker threads build the items of upcoming steps (mini-batches: sampling, subgraphs,
// feature rows) while the caller computes, through a bounded buffer. Items depend only on their step, so the
// number of workers never changes a result.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace graphmae2::models::engine {

/// @brief Builds make(step) for steps [begin, end) on `workers` threads, at most `capacity` steps ahead of the
/// one the caller takes. With 0 workers, take() builds the item on the calling thread.
///
/// take(step) must be called for begin, begin + 1, ... in order. An exception thrown by make() in a worker is
/// rethrown by the take() of that step (training stops with the worker's error, never hangs); the destructor
/// stops and joins the workers, whatever state they are in.
template <typename T>
class PrefetchLoader {
 public:
  PrefetchLoader(std::function<T(int64_t step)> make, int64_t begin, int64_t end, int workers, int64_t capacity)
      : make_(std::move(make)),
        next_to_take_(begin),
        next_to_claim_(begin),
        end_(end),
        capacity_(capacity < 1 ? 1 : capacity) {
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this] { work(); });
  }
  ~PrefetchLoader() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    for (auto& t : threads_) t.join();
  }
  PrefetchLoader(const PrefetchLoader&) = delete;
  PrefetchLoader& operator=(const PrefetchLoader&) = delete;

  /// The item of `step` (the next one in order); waits for a worker when it is not ready yet.
  T take(int64_t step) {
    if (threads_.empty()) return make_(step);
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return ready_.count(step) > 0 || failed_.count(step) > 0; });
    wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    next_to_take_ = step + 1;
    if (auto f = failed_.find(step); f != failed_.end()) {
      const auto error = f->second;
      stopping_ = true;
      lock.unlock();
      changed_.notify_all();
      std::rethrow_exception(error);
    }
    T item = std::move(ready_.at(step));
    ready_.erase(step);
    lock.unlock();
    changed_.notify_all();
    return item;
  }

  /// Seconds take() has waited for workers so far (the loader's share of the step time).
  double wait_seconds() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return wait_seconds_;
  }

 private:
  void work() {
    for (;;) {
      int64_t step;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(
            lock, [&] { return stopping_ || (next_to_claim_ < end_ && next_to_claim_ < next_to_take_ + capacity_); });
        if (stopping_ || next_to_claim_ >= end_) return;
        step = next_to_claim_++;
      }
      try {
        T item = make_(step);
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.emplace(step, std::move(item));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        failed_.emplace(step, std::current_exception());
      }
      changed_.notify_all();
    }
  }

  std::function<T(int64_t)> make_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int64_t, T> ready_;
  std::map<int64_t, std::exception_ptr> failed_;
  int64_t next_to_take_, next_to_claim_, end_, capacity_;
  bool stopping_ = false;
  double wait_seconds_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace graphmae2::models::engine
