// IoPool: one io_context per I/O thread (node.threads of them), each run by exactly one thread.
// Context 0 is the "main" one: the router's strand, the listener, the signals and the timers live
// there, and its thread is the caller of run(). Sessions are spread over all contexts round-robin
// (next()), so a session's handlers, its socket and its timers stay on one thread; only what crosses
// between a session and the router is posted from one context to another. Measured against one
// io_context shared by all threads in docs/optimisation-log.md ("One io_context per thread").
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
  // Tears down in two phases: first every context is shut down (its pending handlers
  // destroyed, which releases the sessions, the router and the listener they hold), then the
  // contexts are deleted. Objects of one context are held by handlers of another (an accept on
  // context 0 owns the socket made for context k; the router on context 0 holds sessions of every
  // context), so no order of plain destruction would be safe.
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
  // An io_context whose shutdown() (protected in execution_context) the pool may call.
  class Context : public boost::asio::io_context {
   public:
    Context() : boost::asio::io_context(1) {}
    using boost::asio::io_context::shutdown;
  };
  std::vector<std::unique_ptr<Context>> contexts_;
  std::vector<Guard> guards_;  // a context without sessions must not return from run()
  std::atomic<std::size_t> next_{0};
};

}  // namespace wsg
