// wsg-bench's log-linear histogram and the worker report that carries it (bench/load).
#include <catch2/catch.hpp>

#include "histogram.h"
#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using wsg::bench::Histogram;
using wsg::bench::WorkerResult;

namespace {

// The exact value at percentile p of sorted values, by the same rank rule as the histogram.
uint64_t exact_percentile(const std::vector<uint64_t>& sorted, double p) {
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<uint64_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void check_within_1_percent(const Histogram& h, std::vector<uint64_t> values) {
  std::sort(values.begin(), values.end());
  for (double p : {0.0, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = static_cast<double>(exact_percentile(values, p));
    const double got = static_cast<double>(h.percentile(p));
    INFO("p" << p << ": exact " << exact << ", histogram " << got);
    CHECK(std::abs(got - exact) <= exact * 0.01);
  }
}

}  // namespace

TEST_CASE("bench histogram: every bucket is at most 1/128 of its values wide", "[bench]") {
  for (std::size_t i = 0; i < Histogram::kBuckets; ++i) {
    const uint64_t low = Histogram::bucket_low(i);
    const uint64_t width = Histogram::bucket_width(i);
    INFO("bucket " << i << " low " << low << " width " << width);
    REQUIRE(Histogram::index_of(low) == i);
    REQUIRE(Histogram::index_of(low + width - 1) == i);
    if (i + 1 < Histogram::kBuckets) REQUIRE(Histogram::index_of(low + width) == i + 1);
    if (low >= 128) REQUIRE(width * 128 <= low);
  }
  // Beyond the tracked range: the last bucket.
  CHECK(Histogram::index_of(uint64_t{1} << 40) == Histogram::kBuckets - 1);
  CHECK(Histogram::index_of(UINT64_MAX) == Histogram::kBuckets - 1);
}

TEST_CASE("bench histogram: percentiles within 1 % of the exact ones", "[bench]") {
  std::mt19937_64 rng(42);
  SECTION("log-uniform from 1 us to 60 s, in ns") {
    std::uniform_real_distribution<double> exponent(3.0, std::log10(60e9));
    Histogram h;
    std::vector<uint64_t> values;
    for (int i = 0; i < 100000; ++i) {
      const auto v = static_cast<uint64_t>(std::pow(10.0, exponent(rng)));
      values.push_back(v);
      h.record(v);
    }
    check_within_1_percent(h, values);
  }
  SECTION("a narrow cluster with a long tail") {
    std::lognormal_distribution<double> d(std::log(250e3), 0.5);
    Histogram h;
    std::vector<uint64_t> values;
    for (int i = 0; i < 50000; ++i) {
      const auto v = static_cast<uint64_t>(d(rng));
      values.push_back(v);
      h.record(v);
    }
    check_within_1_percent(h, values);
  }
  SECTION("small values are exact") {
    Histogram h;
    for (uint64_t v = 0; v < 100; ++v) h.record(v);
    CHECK(h.percentile(50) == 49);
    CHECK(h.percentile(100) == 99);
    CHECK(h.percentile(0) == 0);
  }
}

TEST_CASE("bench histogram: count, min, max and mean are exact; empty is all zero", "[bench]") {
  Histogram h;
  CHECK(h.count() == 0);
  CHECK(h.percentile(50) == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0.0);
  h.record(1000);
  h.record(3000);
  h.record(123456789);
  CHECK(h.count() == 3);
  CHECK(h.min() == 1000);
  CHECK(h.max() == 123456789);
  CHECK(h.mean() == Approx((1000.0 + 3000.0 + 123456789.0) / 3.0));
  CHECK(h.percentile(100) == 123456789);  // clamped to the exact max
  CHECK(h.percentile(0) == 1000);         // and to the exact min
  Histogram big;
  big.record(uint64_t{1} << 45);  // beyond 2^36: last bucket, max still exact
  CHECK(big.max() == uint64_t{1} << 45);
  CHECK(big.percentile(50) == uint64_t{1} << 45);
}

TEST_CASE("bench histogram: merging equals recording everything in one", "[bench]") {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> d(1000, 50'000'000);
  Histogram a, b, all;
  std::vector<uint64_t> values;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t v = d(rng);
    (i % 3 ? a : b).record(v);
    all.record(v);
    values.push_back(v);
  }
  Histogram merged;
  merged.merge(a);
  merged.merge(b);
  CHECK(merged.count() == all.count());
  CHECK(merged.min() == all.min());
  CHECK(merged.max() == all.max());
  CHECK(merged.mean() == Approx(all.mean()));
  for (double p : {50.0, 99.0, 99.9}) CHECK(merged.percentile(p) == all.percentile(p));
  check_within_1_percent(merged, values);
  // Merging an empty histogram changes nothing.
  merged.merge(Histogram{});
  CHECK(merged.count() == all.count());
  CHECK(merged.min() == all.min());
}

TEST_CASE("bench histogram: the JSON form round-trips and malformed input is refused", "[bench]") {
  Histogram h;
  for (uint64_t v : {5u, 700u, 70000u, 7000000u, 7000000u}) h.record(v);
  const Histogram back = Histogram::from_json(h.to_json());
  CHECK(back.count() == h.count());
  CHECK(back.min() == h.min());
  CHECK(back.max() == h.max());
  CHECK(back.mean() == Approx(h.mean()));
  CHECK(back.percentile(50) == h.percentile(50));
  CHECK(Histogram::from_json(Histogram{}.to_json()).count() == 0);

  auto broken = h.to_json();
  broken.as_object()["n"] = 99;  // buckets do not add up
  CHECK_THROWS(Histogram::from_json(broken));
  CHECK_THROWS(Histogram::from_json(boost::json::value("nope")));
  broken = h.to_json();
  broken.as_object()["b"] = boost::json::array{boost::json::array{Histogram::kBuckets, 5}};
  CHECK_THROWS(Histogram::from_json(broken));
}

TEST_CASE("bench worker report: JSON round trip and merge", "[bench]") {
  WorkerResult a;
  a.opened = 4;
  a.failed = 1;
  a.failures["connect"] = 1;
  a.sent = 100;
  a.delivered = 98;
  a.errors = 2;
  a.error_codes["rate_limited"] = 2;
  a.acks_delivered = 97;
  a.end_ns = 1000;
  a.latency.record(250000);
  a.problems.push_back("one");
  const WorkerResult back = WorkerResult::from_json(a.to_json());
  CHECK(back.opened == 4);
  CHECK(back.failures.at("connect") == 1);
  CHECK(back.lost() == 2);
  CHECK(back.error_codes.at("rate_limited") == 2);
  CHECK(back.latency.count() == 1);
  CHECK(back.problems == std::vector<std::string>{"one"});

  WorkerResult b;
  b.opened = 2;
  b.failures["connect"] = 3;
  b.failures["http_503"] = 1;
  b.sent = 10;
  b.delivered = 10;
  b.end_ns = 2000;
  b.latency.record(100000);
  WorkerResult total;
  total.merge(back);
  total.merge(b);
  CHECK(total.opened == 6);
  CHECK(total.failures.at("connect") == 4);
  CHECK(total.failures.at("http_503") == 1);
  CHECK(total.sent == 110);
  CHECK(total.lost() == 2);
  CHECK(total.end_ns == 2000);
  CHECK(total.latency.count() == 2);
  CHECK_THROWS(WorkerResult::from_json(boost::json::object{{"opened", 1}}));
}
