#include "routing/receipt_verifier.h"

namespace wsg {

ReceiptVerifier::ReceiptVerifier(int64_t timeout_ms, AskMaster ask) : timeout_ms_(timeout_ms), ask_(std::move(ask)) {}

void ReceiptVerifier::hold(const std::string& origin, const std::string& events, const std::string& from,
                           std::vector<cluster::ReceiptItem> items, bool can_ask, int64_t now) {
  // Ask the master where the sender's user is; if the answer lists the origin at this address, it
  // is a real peer. Bounded: kMaxUnverifiedOrigins origins (the oldest evicted when full) and
  // kMaxUnverifiedReceipts receipts in all; beyond, receipts are dropped and counted.
  auto it = unverified_.find(origin);
  if (it != unverified_.end() && it->second.events != events) {
    forget(origin, true);
    it = unverified_.end();
  }
  if (it == unverified_.end()) {
    if (!can_ask) {
      dropped_ += items.size();
      return;
    }
    while (unverified_.size() >= kMaxUnverifiedOrigins && !unverified_order_.empty()) {
      auto [seq, old_origin] = std::move(unverified_order_.front());
      unverified_order_.pop_front();
      auto old = unverified_.find(old_origin);
      if (old != unverified_.end() && old->second.seq == seq) forget(old_origin, true);
    }
    const uint64_t seq = ask_ ? ask_(from) : 0;
    if (seq == 0) {
      dropped_ += items.size();
      return;
    }
    it = unverified_.emplace(origin, Unverified{events, {}, seq, now + timeout_ms_}).first;
    verify_seqs_[seq] = origin;
    unverified_order_.emplace_back(seq, origin);
  }
  auto& held = it->second.receipts;
  for (auto& item : items) {
    if (held_receipts_ >= kMaxUnverifiedReceipts) {
      ++dropped_;
      continue;
    }
    held.push_back(std::move(item));
    ++held_receipts_;
  }
}

void ReceiptVerifier::forget(const std::string& origin, bool count_dropped) {
  auto it = unverified_.find(origin);
  if (it == unverified_.end()) return;
  if (count_dropped) dropped_ += it->second.receipts.size();
  held_receipts_ -= it->second.receipts.size();
  verify_seqs_.erase(it->second.seq);
  unverified_.erase(it);
  // unverified_order_ keeps a stale (seq, origin) pair: skipped when it reaches the front.
  if (unverified_.empty()) unverified_order_.clear();
}

std::optional<ReceiptVerifier::Verified> ReceiptVerifier::on_reply(
    uint64_t seq, const std::unordered_map<std::string, std::string>& peer_events) {
  auto v = verify_seqs_.find(seq);
  if (v == verify_seqs_.end()) return std::nullopt;
  const std::string origin = std::move(v->second);
  verify_seqs_.erase(v);
  auto it = unverified_.find(origin);
  if (it == unverified_.end() || it->second.seq != seq) return std::nullopt;
  auto known = peer_events.find(origin);
  if (known == peer_events.end() || known->second != it->second.events) {
    // Not a node the master knows at that address (or the sender left meanwhile): no socket.
    const std::size_t n = it->second.receipts.size();
    forget(origin, true);
    if (uint64_t skipped = 0; warning_.allow(skipped)) {
      logging::get("router")->warn(
          "dropped {} receipts for '{}': the master does not know that node at that "
          "address ({} more such origins since the last warning)",
          n, logging::printable(origin), skipped);
    }
    return std::nullopt;
  }
  // Sent, so no longer held: they leave the count here (forget() sees an empty list).
  held_receipts_ -= it->second.receipts.size();
  Verified out{origin, it->second.events, std::move(it->second.receipts)};
  it->second.receipts.clear();
  forget(origin, false);
  return out;
}

void ReceiptVerifier::sweep(int64_t now) {
  while (!unverified_order_.empty()) {
    auto it = unverified_.find(unverified_order_.front().second);
    if (it != unverified_.end() && it->second.seq == unverified_order_.front().first) {
      if (it->second.deadline_ms > now) break;  // in insertion order: the rest are younger
      const std::string origin = unverified_order_.front().second;
      unverified_order_.pop_front();
      forget(origin, true);
    } else {
      unverified_order_.pop_front();
    }
  }
}

}  // namespace wsg
