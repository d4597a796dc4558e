#include "cache/delivered_ids.h"

namespace wsg {

namespace {

// 1 to 16 lowercase hex digits without a leading zero (except "0" itself): exactly fmt's {:x}.
std::optional<uint64_t> canonical_hex(std::string_view s) {
  if (s.empty() || s.size() > 16 || (s.size() > 1 && s.front() == '0')) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else return std::nullopt;
    v = (v << 4) | d;
  }
  return v;
}

}  // namespace

std::optional<DeliveredIds::Key> DeliveredIds::compact(std::string_view id) {
  const auto dash = id.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto hi = canonical_hex(id.substr(0, dash));
  auto lo = canonical_hex(id.substr(dash + 1));
  if (!hi || !lo) return std::nullopt;
  return Key{*hi, *lo};
}

std::size_t DeliveredIds::KeyHash::operator()(const Key& k) const noexcept {
  // Counters are sequential: mix both halves (the flat set also post-mixes).
  uint64_t h = k.lo * 0x9e3779b97f4a7c15ULL;
  h ^= k.hi + 0x7f4a7c159e3779b9ULL + (h << 6) + (h >> 2);
  return static_cast<std::size_t>(h);
}

bool DeliveredIds::contains(std::string_view id) const {
  if (auto k = compact(id)) return keys_.contains(*k);
  return strings_.contains(std::string(id));
}

void DeliveredIds::remember(std::string_view id, int64_t now_ms, int64_t keep_ms) {
  if (auto k = compact(id)) {
    if (keys_.insert(*k).second) order_.push_back(Entry{now_ms + keep_ms, *k, false});
  } else {
    std::string s(id);
    if (strings_.insert(s).second) {
      order_.push_back(Entry{now_ms + keep_ms, Key{}, true});
      strings_order_.push_back(std::move(s));
    }
  }
  forget(now_ms, order_.size() > window_ ? order_.size() - window_ : 0);
}

void DeliveredIds::forget(int64_t now_ms, std::size_t at_least) {
  while (!order_.empty() && (at_least > 0 || order_.front().forget_at <= now_ms)) {
    const Entry& e = order_.front();
    if (e.is_string) {
      strings_.erase(strings_order_.front());
      strings_order_.pop_front();
    } else {
      keys_.erase(e.key);
    }
    order_.pop_front();
    if (at_least > 0) --at_least;
  }
}

}  // namespace wsg
