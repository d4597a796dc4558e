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

  // capacity >= 1; ttl_ms > 0.
  RouteCache(std::size_t capacity, int64_t ttl_ms);

  // The cached node ids for `user`, or nullptr on a miss or an expired entry (which is removed).
  // A hit makes the entry the most recently used. The pointer is valid until the next mutation.
  const std::vector<std::string>* get(std::string_view user, int64_t now_ms);
  // Inserts or replaces; evicts the least recently used entry past capacity.
  void put(std::string user, std::vector<std::string> nodes, int64_t now_ms);
  // Removes `user`; returns whether it was cached.
  bool erase(std::string_view user);
  // Removes `node` from every route; a route left empty is removed. Returns routes touched.
  std::size_t erase_node(std::string_view node);
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

  std::size_t capacity_;
  int64_t ttl_ms_;
  List lru_;   // front = most recently used
  std::unordered_map<std::string, List::iterator, Hash, Eq> map_;
  Stats stats_;
};

}  // namespace wsg
