// IoPool: one io_context per I/O thread (node.threads of them), each run by exactly one thread.
// Context 0 is the "main" one: the router's strand, the listener, the signals and the timers live
// there, and its thread is the caller of run(). Sessions are spread over all contexts round-robin
// (next()), so a session's handlers, its socket and its timers stay on one thread; only what crosses
// between a session and the router is posted from one context to another. Measured against one
// io_context shared by all threads in docs/benchmarks.md ("One io_context per thread").
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace wsg {

class IoPool {
 public:
  // threads >= 1 (a smaller value counts as 1).
  explicit IoPool(std::size_t threads);
  // Destroys the contexts last to first, so context 0 (the router's timers) outlives the
  // sessions that pending handlers of the others may still hold.
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  boost::asio::io_context& main() { return *contexts_.front(); }
  // The context for the next session (any thread).
  boost::asio::io_context& next();
  std::size_t size() const { return contexts_.size(); }

  // Runs contexts 1.. on threads of their own and context 0 on the caller; returns once stop()
  // was called and every thread has returned.
  void run();
  // Any thread: stops every context (their run() return as soon as their current handler ends).
  void stop();

 private:
  using Guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<Guard> guards_;  // a context without sessions must not return from run()
  std::atomic<std::size_t> next_{0};
};

}  // namespace wsg
