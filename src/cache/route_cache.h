// The node's route cache: user -> the nodes holding that user's sessions.
// An LRU bounded by capacity, with a TTL as a safety net. No I/O, no clock of its own
// (the time is passed in), single-threaded: owned by the node's router strand.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wsg {

class RouteCache {
 public:
  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;      // dropped for capacity
    uint64_t expirations = 0;    // dropped for TTL
    uint64_t invalidations = 0;  // dropped by erase()/erase_node()/clear()
  };

  // capacity >= 1; ttl_ms > 0 (std::invalid_argument otherwise).
  RouteCache(std::size_t capacity, int64_t ttl_ms);

  // The cached node ids for `user`, or nullptr on a miss or an expired entry (which is removed).
  // A hit makes the entry the most recently used. The pointer is valid until the next mutation.
  // An entry put at time t lives while now_ms < t + ttl_ms: at now_ms == t + ttl_ms it has expired.
  // Every get() counts as exactly one hit or one miss; an expired entry is a miss that also
  // counts one expiration. Never allocates on a hit.
  const std::vector<std::string>* get(std::string_view user, int64_t now_ms);
  // Inserts or replaces (a replaced entry gets a fresh TTL, becomes the most recently used, and
  // counts nothing); evicts the least recently used entry past capacity.
  void put(std::string user, std::vector<std::string> nodes, int64_t now_ms);
  // Removes `user`; returns whether it was cached.
  bool erase(std::string_view user);
  // Removes `node` from every route; a route left empty is removed. Returns routes touched
  // (shrunk or removed). O(size() * route length): it only runs on NODE_DOWN, which is rare.
  // Only removed routes count as invalidations; a shrunk route keeps its TTL and recency.
  std::size_t erase_node(std::string_view node);
  // Removes every entry; each counts as an invalidation.
  void clear();

  std::size_t size() const { return map_.size(); }
  std::size_t capacity() const { return capacity_; }
  const Stats& stats() const { return stats_; }

 private:
  struct Entry {
    std::string user;
    std::vector<std::string> nodes;
    int64_t expires_ms;
  };
  using List = std::list<Entry>;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
  };

  // Drops one entry (map first: its key views the list entry's string).
  void drop(List::iterator it);

  std::size_t capacity_;
  int64_t ttl_ms_;
  List lru_;  // front = most recently used
  // Keys view Entry::user inside lru_ (std::list nodes never move), so a user id is stored once
  // and a get() with a string_view never builds a std::string.
  std::unordered_map<std::string_view, List::iterator, Hash, Eq> map_;
  Stats stats_;
};

}  // namespace wsg
