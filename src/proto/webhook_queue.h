// The webhook sender's policy, without I/O (docs/api.md, "Webhooks"; docs/architecture.md,
// "Bounds"): the bounded event queue that drops its oldest events when full, how a batch is cut
// from it, how an HTTP answer is judged, and the back-off between retries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "proto/webhook_event.h"

namespace wsg::webhook {

// Events waiting to be sent, oldest first. At most `max_events` events and `max_bytes` bytes
// (Event::weight): a push past either bound drops the oldest events first (the newest always fits,
// whatever its size). Not thread-safe: the sender guards it with a mutex.
class EventQueue {
 public:
  EventQueue(std::size_t max_events, std::size_t max_bytes) : max_events_(max_events), max_bytes_(max_bytes) {}

  // Appends `event`; returns how many of the oldest events were dropped to make room.
  std::size_t push(Event event);
  // Takes the oldest events: at most `max_events`, and at most `max_bytes` unless the first event
  // alone is larger (it is then sent alone). Empty when the queue is.
  std::vector<Event> take(std::size_t max_events, std::size_t max_bytes);
  // Puts a batch that will be retried back in front, in its order; returns how many of the oldest
  // events were dropped (the batch's first) if the queue is then over its bounds.
  std::size_t put_back(std::vector<Event> batch);

  const Event& front() const { return events_.front(); }  // not empty()
  std::size_t size() const { return events_.size(); }
  std::size_t bytes() const { return bytes_; }
  bool empty() const { return events_.empty(); }

 private:
  std::size_t trim();
  std::deque<Event> events_;
  std::size_t bytes_ = 0;
  std::size_t max_events_;
  std::size_t max_bytes_;
};

// What to do with a batch after an HTTP answer with status `status`.
enum class Verdict { sent, retry, drop };
// 2xx: sent. 408, 429 and 5xx: retry. Anything else (1xx, 3xx: redirects are not followed; other
// 4xx): the receiver refuses the batch and will refuse it again, so it is dropped.
Verdict judge(unsigned status);

// The wait before retry number `attempt` (1 for the first retry): d = min(max_ms, initial_ms x
// 2^(attempt-1)), then "equal jitter": d/2 + (random mod (d/2 + 1)), so in [d/2, d]. Never below 1 ms.
int64_t backoff_ms(unsigned attempt, int64_t initial_ms, int64_t max_ms, uint64_t random);

}  // namespace wsg::webhook
