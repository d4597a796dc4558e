#include "histogram.h"

#include <boost/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

namespace wsg::bench {

namespace json = boost::json;

namespace {
constexpr uint64_t kSub = uint64_t{1} << Histogram::kSubBits;
}

Histogram::Histogram() : buckets_(kBuckets, 0) {}

std::size_t Histogram::index_of(uint64_t value) {
  if (value < kSub) return static_cast<std::size_t>(value);
  const int exponent = 63 - std::countl_zero(value);  // >= kSubBits
  if (exponent > kMaxExponent - 1) return kBuckets - 1;
  const int shift = exponent - kSubBits;
  const uint64_t mantissa = (value >> shift) & (kSub - 1);
  return static_cast<std::size_t>(kSub + static_cast<uint64_t>(shift) * kSub + mantissa);
}

uint64_t Histogram::bucket_low(std::size_t index) {
  if (index < kSub) return index;
  const uint64_t shift = (index - kSub) / kSub;
  const uint64_t mantissa = (index - kSub) % kSub;
  return (kSub + mantissa) << shift;
}

uint64_t Histogram::bucket_width(std::size_t index) {
  if (index < kSub) return 1;
  return uint64_t{1} << ((index - kSub) / kSub);
}

void Histogram::record(uint64_t value) {
  ++buckets_[index_of(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  if (rank == 1) return min_;  // the smallest and largest values are known exactly
  if (rank == count_) return max_;
  uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      const uint64_t middle = bucket_low(i) + (bucket_width(i) - 1) / 2;
      return std::clamp(middle, min_, max_);
    }
  }
  return max_;
}

json::value Histogram::to_json() const {
  json::array b;
  for (std::size_t i = 0; i < kBuckets; ++i)
    if (buckets_[i]) b.push_back(json::array{i, buckets_[i]});
  return json::object{{"n", count_}, {"sum", sum_}, {"min", min()}, {"max", max_}, {"b", std::move(b)}};
}

Histogram Histogram::from_json(const json::value& v) {
  try {
    const auto& o = v.as_object();
    Histogram h;
    h.count_ = json::value_to<uint64_t>(o.at("n"));
    h.sum_ = json::value_to<uint64_t>(o.at("sum"));
    h.max_ = json::value_to<uint64_t>(o.at("max"));
    h.min_ = h.count_ ? json::value_to<uint64_t>(o.at("min")) : UINT64_MAX;
    uint64_t total = 0;
    for (const auto& e : o.at("b").as_array()) {
      const auto& pair = e.as_array();
      const auto index = json::value_to<uint64_t>(pair.at(0));
      if (index >= kBuckets) throw std::runtime_error("bucket index out of range");
      h.buckets_[index] += json::value_to<uint64_t>(pair.at(1));
      total += json::value_to<uint64_t>(pair.at(1));
    }
    if (total != h.count_) throw std::runtime_error("bucket counts do not add up to n");
    return h;
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("malformed histogram: ") + e.what());
  }
}

}  // namespace wsg::bench
