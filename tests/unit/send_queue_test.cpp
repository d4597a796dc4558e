// SendQueue: FIFO order across pushes, pops, compaction and push_front; no storage while empty.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "net/send_queue.h"

namespace {
wsg::SendQueue::Frame frame(int i) { return std::make_shared<const std::string>(std::to_string(i)); }
}  // namespace

TEST_CASE("send queue: a new queue holds no storage") {
  wsg::SendQueue q;
  CHECK(q.empty());
  CHECK(q.size() == 0);
  CHECK(q.capacity() == 0);
}

TEST_CASE("send queue: frames come out in the order they went in, across compactions") {
  wsg::SendQueue q;
  int next_in = 0;
  int next_out = 0;
  // Interleave bursts of pushes with partial drains so the dead prefix is compacted many times.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 37; ++i) q.push_back(frame(next_in++));
    for (int i = 0; i < 29; ++i) {
      REQUIRE(!q.empty());
      CHECK(*q.front() == std::to_string(next_out++));
      q.pop_front();
    }
    CHECK(q.size() == static_cast<std::size_t>(next_in - next_out));
  }
  while (!q.empty()) {
    CHECK(*q.front() == std::to_string(next_out++));
    q.pop_front();
  }
  CHECK(next_out == next_in);
  // A drained queue gives a burst's storage back.
  CHECK(q.capacity() <= 8);
}

TEST_CASE("send queue: push_front puts the welcome before frames queued earlier") {
  wsg::SendQueue q;
  q.push_back(frame(1));
  q.push_back(frame(2));
  q.push_front(frame(0));
  for (int i = 0; i < 3; ++i) {
    CHECK(*q.front() == std::to_string(i));
    q.pop_front();
  }
  CHECK(q.empty());
}

TEST_CASE("send queue: popping releases the frame; clear releases everything") {
  wsg::SendQueue q;
  auto f = frame(7);
  std::weak_ptr<const std::string> w = f;
  q.push_back(std::move(f));
  q.push_back(frame(8));
  q.pop_front();
  CHECK(w.expired());
  q.clear();
  CHECK(q.empty());
  CHECK(q.capacity() == 0);
}
