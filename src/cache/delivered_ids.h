// DeliveredIds: the receiving node's memory of the message ids it delivered recently, so that a
// retry of a DELIVER (after a bounce elsewhere, or a resend) never reaches a session twice.
// Bounded in time (each id is kept `keep_ms`) and in count (at most `window` ids: when full, the
// oldest is forgotten first). No I/O, no clock of its own: the caller passes the time.
//
// Ids minted by wsg nodes are "<incarnation hex>-<counter hex>" (lowercase, no leading zeros):
// those are kept as two integers in an open-addressing set (no allocation per id). Any other id
// (from an untrusted or future peer) is kept as a string in a second set. The mapping is exact in
// both directions, so there are no false positives: a message is never dropped for a collision.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include <boost/unordered/unordered_flat_set.hpp>

namespace wsg {

class DeliveredIds {
 public:
  explicit DeliveredIds(std::size_t window) : window_(window) {}

  bool contains(std::string_view id) const;
  // Remembers `id` until now_ms + keep_ms, then forgets what expired and what exceeds the window.
  void remember(std::string_view id, int64_t now_ms, int64_t keep_ms);
  // Forgets the ids whose time is up, and at least `at_least` of the oldest.
  void forget(int64_t now_ms, std::size_t at_least = 0);
  std::size_t size() const { return order_.size(); }

  struct Key {
    uint64_t hi = 0;
    uint64_t lo = 0;
    bool operator==(const Key&) const = default;
  };
  // The compact form of a canonical wsg id, if it is one.
  static std::optional<Key> compact(std::string_view id);

 private:
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  struct Entry {
    int64_t forget_at;
    Key key;
    bool is_string;  // the id is the front of strings_order_
  };

  std::size_t window_;
  boost::unordered_flat_set<Key, KeyHash> keys_;
  boost::unordered_flat_set<std::string> strings_;
  std::deque<Entry> order_;                // oldest first
  std::deque<std::string> strings_order_;  // the string ids of order_, in the same order
};

}  // namespace wsg
