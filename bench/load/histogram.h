// wsg-bench: a log-linear histogram of non-negative integer values (HDR-style).
//
// Values below 128 have a bucket each; above, every power of two is split into 128 equal
// buckets, so a bucket is at most 1/128 of its values wide and a percentile (the middle of its
// bucket) is within 0.4 % of the true value. The largest tracked value is 2^36 - 1 (68.7 s in
// nanoseconds); larger values go to the last bucket, and count, sum, min and max stay exact.
// Histograms merge bucket-wise (workers' histograms into the parent's).
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <vector>

namespace wsg::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 7;       // 128 sub-buckets per octave
  static constexpr int kMaxExponent = 36;  // values < 2^36 are tracked
  static constexpr std::size_t kBuckets = (1u << kSubBits) * (kMaxExponent - kSubBits + 1);

  Histogram();

  void record(uint64_t value);
  void merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The value at percentile p (0..100): the middle of the bucket holding the ceil(p/100 * count)-th
  // smallest value, clamped to [min, max]; the exact min and max for the first and last ranks.
  // 0 when empty.
  uint64_t percentile(double p) const;

  // Sparse form for the workers' reports: {"n","sum","min","max","b":[[index,count],...]}.
  boost::json::value to_json() const;
  // Throws std::runtime_error on malformed input.
  static Histogram from_json(const boost::json::value& v);

  // Bucket arithmetic (exposed for the tests).
  static std::size_t index_of(uint64_t value);
  static uint64_t bucket_low(std::size_t index);
  static uint64_t bucket_width(std::size_t index);

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace wsg::bench
