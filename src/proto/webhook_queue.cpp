#include "proto/webhook_queue.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace wsg::webhook {

std::size_t EventQueue::trim() {
  std::size_t dropped = 0;
  // The newest event stays, whatever its size.
  while (events_.size() > 1 && (events_.size() > max_events_ || bytes_ > max_bytes_)) {
    bytes_ -= events_.front().weight();
    events_.pop_front();
    ++dropped;
  }
  return dropped;
}

std::size_t EventQueue::push(Event event) {
  bytes_ += event.weight();
  events_.push_back(std::move(event));
  return trim();
}

std::vector<Event> EventQueue::take(std::size_t max_events, std::size_t max_bytes) {
  std::vector<Event> batch;
  std::size_t bytes = 0;
  while (!events_.empty() && batch.size() < max_events) {
    const std::size_t w = events_.front().weight();
    if (!batch.empty() && bytes + w > max_bytes) break;
    bytes += w;
    bytes_ -= w;
    batch.push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return batch;
}

std::size_t EventQueue::put_back(std::vector<Event> batch) {
  for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
    bytes_ += it->weight();
    events_.push_front(std::move(*it));
  }
  return trim();
}

Verdict judge(unsigned status) {
  if (status >= 200 && status < 300) return Verdict::sent;
  if (status == 408 || status == 429 || (status >= 500 && status < 600)) return Verdict::retry;
  return Verdict::drop;
}

int64_t backoff_ms(unsigned attempt, int64_t initial_ms, int64_t max_ms, uint64_t random) {
  initial_ms = std::max<int64_t>(1, initial_ms);
  max_ms = std::max(initial_ms, max_ms);
  int64_t d = initial_ms;
  for (unsigned i = 1; i < attempt && d < max_ms; ++i) d = std::min(max_ms, d * 2);
  d = std::min(d, max_ms);
  const int64_t half = d / 2;
  const int64_t jitter = static_cast<int64_t>(random % static_cast<uint64_t>(half + 1));
  return std::max<int64_t>(1, d - half + jitter);
}

}  // namespace wsg::webhook
