#include "cache/route_cache.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace wsg {

RouteCache::RouteCache(std::size_t capacity, int64_t ttl_ms) : capacity_(capacity), ttl_ms_(ttl_ms) {
  if (capacity_ < 1) throw std::invalid_argument("route cache capacity must be >= 1");
  if (ttl_ms_ <= 0) throw std::invalid_argument("route cache ttl_ms must be > 0");
}

void RouteCache::drop(List::iterator it) {
  // The map key is a view of it->user: erase the map slot while the string is still alive.
  map_.erase(std::string_view(it->user));
  lru_.erase(it);
}

const std::vector<std::string>* RouteCache::get(std::string_view user, int64_t now_ms) {
  auto found = map_.find(user);
  if (found == map_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  List::iterator it = found->second;
  if (now_ms >= it->expires_ms) {  // expires_ms is exclusive: the entry is dead at that instant
    map_.erase(found);
    lru_.erase(it);
    ++stats_.expirations;
    ++stats_.misses;
    return nullptr;
  }
  if (it != lru_.begin()) lru_.splice(lru_.begin(), lru_, it);  // no allocation, iterators stay valid
  ++stats_.hits;
  return &it->nodes;
}

void RouteCache::put(std::string user, std::vector<std::string> nodes, int64_t now_ms) {
  const int64_t expires = now_ms + ttl_ms_;
  if (auto found = map_.find(std::string_view(user)); found != map_.end()) {
    List::iterator it = found->second;
    it->nodes = std::move(nodes);
    it->expires_ms = expires;
    if (it != lru_.begin()) lru_.splice(lru_.begin(), lru_, it);
    return;
  }
  while (map_.size() >= capacity_ && !lru_.empty()) {
    drop(std::prev(lru_.end()));
    ++stats_.evictions;
  }
  lru_.push_front(Entry{std::move(user), std::move(nodes), expires});
  try {
    map_.emplace(std::string_view(lru_.front().user), lru_.begin());
  } catch (...) {
    lru_.pop_front();  // keep map_ and lru_ in step if the map cannot grow
    throw;
  }
}

bool RouteCache::erase(std::string_view user) {
  auto found = map_.find(user);
  if (found == map_.end()) return false;
  List::iterator it = found->second;
  map_.erase(found);
  lru_.erase(it);
  ++stats_.invalidations;
  return true;
}

// O(size() * route length): a full scan, acceptable because it only runs on NODE_DOWN.
std::size_t RouteCache::erase_node(std::string_view node) {
  std::size_t touched = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    const std::size_t removed = std::erase_if(it->nodes, [node](const std::string& n) { return n == node; });
    if (removed > 0) {
      ++touched;
      if (it->nodes.empty()) {
        drop(it);
        ++stats_.invalidations;
      }
    }
    it = next;
  }
  return touched;
}

void RouteCache::clear() {
  stats_.invalidations += map_.size();
  map_.clear();
  lru_.clear();
}

}  // namespace wsg
