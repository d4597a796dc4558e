// Route cache: LRU order, capacity, TTL with injected times, invalidation and exact stats.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cache/route_cache.h"

// Allocation counting for the "get() hit never allocates" test. The replacements are weak so that
// they never clash with another test file's; the test checks first that the hook is in effect.
// Sanitizer runtimes bring their own operator new family (nothrow, aligned...), which a partial
// replacement would mismatch: there the hook is left out and the check is skipped.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WSG_TEST_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define WSG_TEST_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef WSG_TEST_COUNT_ALLOCATIONS
#define WSG_TEST_COUNT_ALLOCATIONS 1
#endif

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

#if WSG_TEST_COUNT_ALLOCATIONS
// libstdc++'s nothrow and array forms call these, so replacing them covers the whole family
// except the aligned forms, which keep their own matching pair.
__attribute__((weak)) void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
__attribute__((weak)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((weak)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {

using wsg::RouteCache;
using Nodes = std::vector<std::string>;

Nodes route(RouteCache& c, std::string_view user, int64_t now) {
  const Nodes* n = c.get(user, now);
  return n ? *n : Nodes{};
}

bool cached(RouteCache& c, std::string_view user, int64_t now) { return c.get(user, now) != nullptr; }

}  // namespace

TEST_CASE("route cache: constructor refuses a zero capacity or a non-positive ttl", "[route_cache]") {
  CHECK_THROWS_AS(RouteCache(0, 1000), std::invalid_argument);
  CHECK_THROWS_AS(RouteCache(10, 0), std::invalid_argument);
  CHECK_THROWS_AS(RouteCache(10, -5), std::invalid_argument);
  RouteCache c(7, 1000);
  CHECK(c.capacity() == 7);
  CHECK(c.size() == 0);
}

TEST_CASE("route cache: miss, put, hit", "[route_cache]") {
  RouteCache c(4, 1000);
  CHECK(c.get("alice", 0) == nullptr);
  c.put("alice", {"node-1", "node-2"}, 0);
  const Nodes* n = c.get("alice", 10);
  REQUIRE(n != nullptr);
  CHECK(*n == Nodes{"node-1", "node-2"});
  CHECK(c.get("bob", 10) == nullptr);
  CHECK(c.size() == 1);
  CHECK(c.stats().hits == 1);
  CHECK(c.stats().misses == 2);
}

TEST_CASE("route cache: lookup by a string_view that is not NUL-terminated", "[route_cache]") {
  RouteCache c(4, 1000);
  c.put("ali", {"n1"}, 0);
  c.put("alice", {"n2"}, 0);
  const std::string buffer = "alicexyz";
  CHECK(route(c, std::string_view(buffer).substr(0, 3), 1) == Nodes{"n1"});
  CHECK(route(c, std::string_view(buffer).substr(0, 5), 1) == Nodes{"n2"});
  CHECK_FALSE(cached(c, std::string_view(buffer).substr(0, 4), 1));
}

TEST_CASE("route cache: the least recently used entry is evicted, get refreshes recency", "[route_cache]") {
  RouteCache c(3, 1000);
  c.put("a", {"n1"}, 0);
  c.put("b", {"n1"}, 1);
  c.put("c", {"n1"}, 2);
  REQUIRE(c.get("a", 3) != nullptr);  // order now (MRU first): a c b
  c.put("d", {"n1"}, 4);              // evicts b
  CHECK(c.size() == 3);
  CHECK(c.stats().evictions == 1);
  CHECK_FALSE(cached(c, "b", 5));
  // order: d a c -> touching c then inserting e must evict a
  REQUIRE(cached(c, "c", 6));  // order: c d a
  c.put("e", {"n1"}, 7);       // evicts a
  CHECK(c.stats().evictions == 2);
  CHECK_FALSE(cached(c, "a", 8));
  CHECK(cached(c, "c", 8));
  CHECK(cached(c, "d", 8));
  CHECK(cached(c, "e", 8));
  CHECK(c.size() == 3);
}

TEST_CASE("route cache: capacity 1 keeps only the last entry", "[route_cache]") {
  RouteCache c(1, 1000);
  c.put("a", {"n1"}, 0);
  CHECK(cached(c, "a", 1));
  c.put("b", {"n2"}, 2);
  CHECK(c.size() == 1);
  CHECK(c.stats().evictions == 1);
  CHECK_FALSE(cached(c, "a", 3));
  CHECK(route(c, "b", 3) == Nodes{"n2"});
  c.put("b", {"n3"}, 4);  // replacing the only entry evicts nothing
  CHECK(c.stats().evictions == 1);
  CHECK(route(c, "b", 5) == Nodes{"n3"});
}

TEST_CASE("route cache: TTL expiry, expires_ms is exclusive", "[route_cache]") {
  // An entry put at t lives while now < t + ttl; at exactly t + ttl it has expired.
  RouteCache c(4, 100);
  c.put("a", {"n1"}, 1000);
  CHECK(cached(c, "a", 1000));
  CHECK(cached(c, "a", 1099));  // a hit does not extend the TTL
  CHECK(c.stats().hits == 2);
  CHECK(c.get("a", 1100) == nullptr);
  CHECK(c.size() == 0);  // the expired entry was removed
  CHECK(c.stats().expirations == 1);
  CHECK(c.stats().misses == 1);        // an expired get is a miss too
  CHECK(c.get("a", 1101) == nullptr);  // now a plain miss, no second expiration
  CHECK(c.stats().expirations == 1);
  CHECK(c.stats().misses == 2);
  CHECK(c.stats().hits == 2);
}

TEST_CASE("route cache: times before the put and far in the future", "[route_cache]") {
  RouteCache c(4, 30000);
  c.put("a", {"n1"}, 5000);
  CHECK(cached(c, "a", 0));  // a clock that went backwards still sees the entry as fresh
  CHECK(c.get("a", 5000 + 30000) == nullptr);
  CHECK(c.stats().expirations == 1);
}

TEST_CASE("route cache: replacing an entry", "[route_cache]") {
  RouteCache c(2, 100);
  c.put("a", {"n1"}, 0);
  c.put("b", {"n1"}, 10);
  c.put("a", {"n2", "n3"}, 50);  // new route, fresh TTL, most recently used
  CHECK(c.size() == 2);
  CHECK(c.stats().evictions == 0);
  CHECK(c.stats().invalidations == 0);
  c.put("c", {"n4"}, 60);  // evicts b (a was refreshed by the replace)
  CHECK(c.stats().evictions == 1);
  CHECK_FALSE(cached(c, "b", 61));
  CHECK(route(c, "a", 149) == Nodes{"n2", "n3"});  // alive until 50 + 100
  CHECK(c.get("a", 150) == nullptr);
  CHECK(c.stats().expirations == 1);
}

TEST_CASE("route cache: erase", "[route_cache]") {
  RouteCache c(4, 1000);
  c.put("a", {"n1"}, 0);
  c.put("b", {"n2"}, 0);
  CHECK(c.erase("a"));
  CHECK_FALSE(c.erase("a"));
  CHECK_FALSE(c.erase("zzz"));
  CHECK(c.size() == 1);
  CHECK(c.stats().invalidations == 1);
  CHECK_FALSE(cached(c, "a", 1));
  CHECK(cached(c, "b", 1));
  c.put("a", {"n3"}, 2);  // re-insert after erase works
  CHECK(route(c, "a", 3) == Nodes{"n3"});
}

TEST_CASE("route cache: erase_node shrinks routes and drops the empty ones", "[route_cache]") {
  RouteCache c(8, 1000);
  c.put("a", {"n1", "n2"}, 0);
  c.put("b", {"n1"}, 0);
  c.put("c", {"n3"}, 0);
  c.put("d", {"n2", "n1", "n3"}, 0);
  CHECK(c.erase_node("n1") == 3);  // a, b, d touched
  CHECK(c.size() == 3);
  CHECK(c.stats().invalidations == 1);  // only b was dropped
  CHECK(route(c, "a", 1) == Nodes{"n2"});
  CHECK_FALSE(cached(c, "b", 1));
  CHECK(route(c, "c", 1) == Nodes{"n3"});
  CHECK(route(c, "d", 1) == Nodes{"n2", "n3"});
  CHECK(c.erase_node("n1") == 0);
  CHECK(c.erase_node("unknown") == 0);
  CHECK(c.erase_node("n2") == 2);  // a dropped, d shrunk
  CHECK(c.size() == 2);
  CHECK(c.stats().invalidations == 2);
  CHECK(route(c, "d", 1) == Nodes{"n3"});
  CHECK(c.erase_node("n3") == 2);  // c and d dropped
  CHECK(c.size() == 0);
  CHECK(c.stats().invalidations == 4);
  // the cache is still usable and consistent at capacity afterwards
  for (int i = 0; i < 10; ++i) c.put("u" + std::to_string(i), {"n"}, 2);
  CHECK(c.size() == 8);
  CHECK(c.stats().evictions == 2);
}

TEST_CASE("route cache: clear", "[route_cache]") {
  RouteCache c(8, 1000);
  c.put("a", {"n1"}, 0);
  c.put("b", {"n1"}, 0);
  c.put("c", {"n1"}, 0);
  c.clear();
  CHECK(c.size() == 0);
  CHECK(c.stats().invalidations == 3);
  CHECK_FALSE(cached(c, "a", 1));
  c.clear();
  CHECK(c.stats().invalidations == 3);  // clearing an empty cache invalidates nothing
  c.put("a", {"n2"}, 2);
  CHECK(route(c, "a", 3) == Nodes{"n2"});
}

TEST_CASE("route cache: every stats counter is exact", "[route_cache]") {
  RouteCache c(2, 100);
  c.get("x", 0);  // miss
  c.put("a", {"n1"}, 0);
  c.put("b", {"n1", "n2"}, 0);
  c.get("a", 10);          // hit
  c.get("a", 20);          // hit
  c.put("c", {"n2"}, 30);  // eviction (b)
  c.get("b", 31);          // miss
  c.get("a", 100);         // expiration + miss
  c.put("d", {"n1"}, 110);
  c.erase("c");  // invalidation
  c.erase("c");  // nothing
  c.put("e", {"n1"}, 120);
  c.erase_node("n1");  // d and e dropped: 2 invalidations
  c.put("f", {"n3"}, 130);
  c.clear();  // 1 invalidation
  const auto& s = c.stats();
  CHECK(s.hits == 2);
  CHECK(s.misses == 3);
  CHECK(s.evictions == 1);
  CHECK(s.expirations == 1);
  CHECK(s.invalidations == 4);
}

TEST_CASE("route cache: a get() hit does not allocate", "[route_cache]") {
  RouteCache c(16, 1000);
  const std::string long_user(100, 'u');  // beyond any small-string buffer
  c.put(long_user, {"node-1", "node-2"}, 0);
  c.put("short", {"node-3"}, 0);
  const std::string lookup_buffer = long_user;  // a different buffer, same bytes

  // Check the counting hook is the one in use (another file may define its own operator new).
  g_allocations = 0;
  g_counting = true;
  auto* probe = new std::string(200, 'p');
  g_counting = false;
  const long probe_count = g_allocations.load();
  delete probe;
  if (probe_count == 0) {
    WARN("operator new is not hooked in this binary: allocation check skipped");
    return;
  }

  g_allocations = 0;
  g_counting = true;
  const Nodes* a = c.get(std::string_view(lookup_buffer), 1);
  const Nodes* b = c.get("short", 2);
  const Nodes* a2 = c.get(std::string_view(lookup_buffer), 3);  // moves it back to the front
  g_counting = false;
  CHECK(g_allocations.load() == 0);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  REQUIRE(a2 != nullptr);
  CHECK(*a2 == Nodes{"node-1", "node-2"});
  CHECK(c.stats().hits == 3);
}
