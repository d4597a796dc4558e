#include <catch2/catch.hpp>

#include <string>

#include "cache/delivered_ids.h"

using wsg::DeliveredIds;

TEST_CASE("delivered ids: canonical wsg ids are compacted exactly, others are not") {
  auto k = DeliveredIds::compact("1f-a");
  REQUIRE(k);
  CHECK(k->hi == 0x1f);
  CHECK(k->lo == 0xa);
  CHECK(DeliveredIds::compact("0-0"));
  CHECK(DeliveredIds::compact("ffffffffffffffff-ffffffffffffffff"));
  // Leading zeros, upper case, too long, missing parts, extra dashes: kept as strings instead.
  CHECK_FALSE(DeliveredIds::compact("01f-a"));
  CHECK_FALSE(DeliveredIds::compact("1F-a"));
  CHECK_FALSE(DeliveredIds::compact("1ffffffffffffffff-a"));
  CHECK_FALSE(DeliveredIds::compact("-a"));
  CHECK_FALSE(DeliveredIds::compact("1f-"));
  CHECK_FALSE(DeliveredIds::compact("1f"));
  CHECK_FALSE(DeliveredIds::compact("1-2-3"));
  CHECK_FALSE(DeliveredIds::compact(""));
}

TEST_CASE("delivered ids: remembered ids are found, others not, in both forms") {
  DeliveredIds ids(100);
  ids.remember("abc-1", 0, 1000);
  ids.remember("not a wsg id", 0, 1000);
  ids.remember("0abc-1", 0, 1000);  // non-canonical twin of a canonical id: a different id
  CHECK(ids.contains("abc-1"));
  CHECK(ids.contains("not a wsg id"));
  CHECK(ids.contains("0abc-1"));
  CHECK_FALSE(ids.contains("abc-2"));
  CHECK_FALSE(ids.contains("abc-10"));
  CHECK_FALSE(ids.contains("0abc-2"));
  CHECK_FALSE(ids.contains("not a wsg"));
  CHECK(ids.size() == 3);
  ids.remember("abc-1", 5, 1000);  // again: no second entry
  CHECK(ids.size() == 3);
}

TEST_CASE("delivered ids: forgotten when their time is up") {
  DeliveredIds ids(100);
  ids.remember("1-1", 0, 100);
  ids.remember("odd-id", 50, 100);
  ids.remember("1-2", 60, 100);
  ids.forget(99);
  CHECK(ids.contains("1-1"));
  ids.forget(100);
  CHECK_FALSE(ids.contains("1-1"));
  CHECK(ids.contains("odd-id"));
  ids.forget(150);
  CHECK_FALSE(ids.contains("odd-id"));
  CHECK(ids.contains("1-2"));
  ids.forget(160);
  CHECK(ids.size() == 0);
  CHECK_FALSE(ids.contains("1-2"));
}

TEST_CASE("delivered ids: the window bound forgets the oldest first, strings included") {
  DeliveredIds ids(3);
  ids.remember("a-1", 0, 1000000);
  ids.remember("x", 1, 1000000);
  ids.remember("a-2", 2, 1000000);
  ids.remember("a-3", 3, 1000000);  // over the window: "a-1" goes
  CHECK(ids.size() == 3);
  CHECK_FALSE(ids.contains("a-1"));
  CHECK(ids.contains("x"));
  ids.remember("y", 4, 1000000);  // "x" goes
  CHECK_FALSE(ids.contains("x"));
  CHECK(ids.contains("a-2"));
  CHECK(ids.contains("a-3"));
  CHECK(ids.contains("y"));
  for (int i = 0; i < 1000; ++i) ids.remember("b-" + std::to_string(i), 5, 1000000);
  CHECK(ids.size() == 3);
  CHECK(ids.contains("b-999"));
  CHECK_FALSE(ids.contains("y"));
}
