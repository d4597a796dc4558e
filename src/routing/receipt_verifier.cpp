#include "routing/receipt_verifier.h"

namespace wsg {

ReceiptVerifier::ReceiptVerifier(int64_t timeout_ms, AskMaster ask) : timeout_ms_(timeout_ms), ask_(std::move(ask)) {}

ReceiptVerifier::Unverified* ReceiptVerifier::slot(const std::string& origin, const std::string& events,
                                                   const std::string& from, bool can_ask, int64_t now, std::size_t n) {
  // Ask the master where the sender's user is; if the answer lists the origin at this address, it
  // is a real peer. Bounded: kMaxUnverifiedOrigins origins (the oldest evicted when full) and
  // kMaxUnverifiedReceipts receipts in all; beyond, receipts are dropped and counted.
  auto it = unverified_.find(origin);
  if (it != unverified_.end() && it->second.events != events) {
    forget(origin, true);
    it = unverified_.end();
  }
  if (it != unverified_.end()) return &it->second;
  if (!can_ask) {
    dropped_ += n;
    return nullptr;
  }
  while (unverified_.size() >= kMaxUnverifiedOrigins && !unverified_order_.empty()) {
    auto [seq, old_origin] = std::move(unverified_order_.front());
    unverified_order_.pop_front();
    auto old = unverified_.find(old_origin);
    if (old != unverified_.end() && old->second.seq == seq) forget(old_origin, true);
  }
  const uint64_t seq = ask_ ? ask_(from, origin) : 0;
  if (seq == 0) {
    dropped_ += n;
    return nullptr;
  }
  it = unverified_.emplace(origin, Unverified{events, {}, seq, now + timeout_ms_, from.empty(), {}, {}}).first;
  verify_seqs_[seq] = origin;
  unverified_order_.emplace_back(seq, origin);
  return &it->second;
}

template <class T>
void ReceiptVerifier::keep(std::vector<T>& held, std::vector<T>& items) {
  for (auto& item : items) {
    if (held_receipts_ >= kMaxUnverifiedReceipts) {
      ++dropped_;
      continue;
    }
    held.push_back(std::move(item));
    ++held_receipts_;
  }
}

void ReceiptVerifier::hold(const std::string& origin, const std::string& events, const std::string& from,
                           std::vector<cluster::ReceiptItem> items, bool can_ask, int64_t now) {
  if (auto* u = slot(origin, events, from, can_ask, now, items.size())) keep(u->receipts, items);
}

void ReceiptVerifier::hold_room(const std::string& origin, const std::string& events, const std::string& from,
                                std::vector<cluster::RoomReceiptItem> items, bool can_ask, int64_t now) {
  if (auto* u = slot(origin, events, from, can_ask, now, items.size())) keep(u->room_receipts, items);
}

void ReceiptVerifier::hold_message(const std::string& origin, const std::string& events, const std::string& from,
                                   cluster::Message message, bool can_ask, int64_t now) {
  std::vector<cluster::Message> one;
  one.push_back(std::move(message));
  if (auto* u = slot(origin, events, from, can_ask, now, 1)) keep(u->messages, one);
}

void ReceiptVerifier::forget(const std::string& origin, bool count_dropped) {
  auto it = unverified_.find(origin);
  if (it == unverified_.end()) return;
  if (count_dropped) dropped_ += it->second.count();
  held_receipts_ -= it->second.count();
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
  if ((known == peer_events.end() || known->second != it->second.events) && !it->second.node_asked) {
    // The sender is not placed on the origin: ask for the origin itself, under the same deadline
    // (the entry keeps its place in unverified_order_ under its new seq).
    const uint64_t again = ask_ ? ask_(std::string(), origin) : 0;
    if (again != 0) {
      it->second.seq = again;
      it->second.node_asked = true;
      verify_seqs_[again] = origin;
      for (auto& entry : unverified_order_) {
        if (entry.first == seq && entry.second == origin) entry.first = again;
      }
      return std::nullopt;
    }
  }
  if (known == peer_events.end() || known->second != it->second.events) {
    // Not a node the master knows at that address (or the sender left meanwhile): no socket.
    const std::size_t n = it->second.count();
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
  held_receipts_ -= it->second.count();
  Verified out{origin, it->second.events, std::move(it->second.receipts), std::move(it->second.room_receipts),
               std::move(it->second.messages)};
  it->second.receipts.clear();
  it->second.room_receipts.clear();
  it->second.messages.clear();
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
