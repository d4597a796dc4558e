// SendQueue: a session's FIFO of frames waiting to be written. Unlike std::deque (whose libstdc++
// implementation allocates a 512-byte block and its map as soon as it is constructed), it
// allocates nothing while empty: an idle session holds no queue storage at all. Amortised O(1):
// popped slots are reclaimed when the queue runs empty, or when the dead prefix is at least half
// of the storage.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace wsg {

class SendQueue {
 public:
  using Frame = std::shared_ptr<const std::string>;

  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  const Frame& front() const { return items_[head_]; }

  void push_back(Frame frame) { items_.push_back(std::move(frame)); }
  // Only before the first write (the welcome), so the shift is of a short queue.
  void push_front(Frame frame) {
    if (head_ > 0) items_[--head_] = std::move(frame);
    else items_.insert(items_.begin(), std::move(frame));
  }
  void pop_front() {
    items_[head_].reset();
    ++head_;
    if (head_ == items_.size()) {
      head_ = 0;
      // Keep a little storage for the next frames; give a burst's storage back.
      if (items_.capacity() > kKeepCapacity) release();
      else items_.clear();
    } else if (head_ >= kCompactAfter && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    release();
    head_ = 0;
  }
  // Storage held (for tests).
  std::size_t capacity() const { return items_.capacity(); }

 private:
  // (`items_ = {}` would keep the capacity: it is the initializer_list assignment.)
  void release() { std::vector<Frame>().swap(items_); }

  static constexpr std::size_t kKeepCapacity = 8;
  static constexpr std::size_t kCompactAfter = 32;
  std::vector<Frame> items_;
  std::size_t head_ = 0;  // items_[0, head_) are popped (empty)
};

}  // namespace wsg
