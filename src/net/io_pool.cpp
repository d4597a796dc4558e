#include "net/io_pool.h"

#include <algorithm>
#include <thread>

namespace wsg {

namespace asio = boost::asio;

IoPool::IoPool(std::size_t threads) {
  threads = std::max<std::size_t>(1, threads);
  contexts_.reserve(threads);
  guards_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    // Concurrency hint 1 (Context): one thread runs it, so Asio keeps the handlers a handler
    // posts to its own context on that thread's private queue instead of waking another thread.
    contexts_.push_back(std::make_unique<Context>());
    guards_.emplace_back(asio::make_work_guard(*contexts_.back()));
  }
}

IoPool::~IoPool() {
  guards_.clear();
  for (auto& c : contexts_) c->shutdown();  // every context's services stay alive for this
  while (!contexts_.empty()) contexts_.pop_back();
}

asio::io_context& IoPool::next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void IoPool::run() {
  std::vector<std::thread> threads;
  threads.reserve(contexts_.size() - 1);
  for (std::size_t i = 1; i < contexts_.size(); ++i) {
    threads.emplace_back([ctx = contexts_[i].get()] { ctx->run(); });
  }
  contexts_.front()->run();
  for (auto& t : threads) t.join();
}

void IoPool::stop() {
  for (auto& c : contexts_) c->stop();
}

}  // namespace wsg
