// ReceiptVerifier: receipts for DELIVERs from origins the master has not named to this node. The
// DELIVER's word alone does not get a socket: its receipts are held (bounded) while the master is
// asked where the sender's user is; if the answer lists the origin at that events address, it is
// a real peer and the receipts go; if not, or not in time, they are dropped and counted. Only
// nodes the master vouches for ever get a socket from us. Owned by the Router, on its strand: the
// Router sends the lookups (AskMaster) and the receipts this hands back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proto/cluster_codec.h"
#include "telemetry/logging.h"

namespace wsg {

class ReceiptVerifier {
 public:
  // A full table evicts its oldest entry: a real peer is verified within one master round trip
  // (its sender is registered), so made-up origins can push it out only at a rate of
  // kMaxUnverifiedOrigins new origins per round trip.
  static constexpr std::size_t kMaxUnverifiedOrigins = 1024;
  static constexpr std::size_t kMaxUnverifiedReceipts = 65536;  // held in all

  // Sends a LOOKUP of `user` to the master, or when `user` is empty a NODE_QUERY of `origin`
  // (wire v4); returns its seq, or 0 when the link refused it.
  using AskMaster = std::function<uint64_t(const std::string& user, const std::string& origin)>;

  // Held receipts are dropped after `timeout_ms` without an answer.
  ReceiptVerifier(int64_t timeout_ms, AskMaster ask);

  // Holds `items`, receipts for a DELIVER from `origin` at `events` whose first sender is `from`.
  // The first for an origin asks the master, unless `can_ask` is false (the master is away, or the
  // DELIVER named no sender): then they are dropped.
  void hold(const std::string& origin, const std::string& events, const std::string& from,
            std::vector<cluster::ReceiptItem> items, bool can_ask, int64_t now);
  // The same for rooms (wire v3): receipts of a ROOM_DELIVER, and a MEMBERS_REPLY (one message,
  // sent as it is once verified). Each held item or message counts one in kMaxUnverifiedReceipts.
  void hold_room(const std::string& origin, const std::string& events, const std::string& from,
                 std::vector<cluster::RoomReceiptItem> items, bool can_ask, int64_t now);
  void hold_message(const std::string& origin, const std::string& events, const std::string& from,
                    cluster::Message message, bool can_ask, int64_t now);
  // Whether the LOOKUP `seq` was sent by hold().
  bool asked(uint64_t seq) const { return verify_seqs_.count(seq) > 0; }
  struct Verified {
    std::string origin;
    std::string events;
    std::vector<cluster::ReceiptItem> receipts;
    std::vector<cluster::RoomReceiptItem> room_receipts;
    std::vector<cluster::Message> messages;
  };
  // The master answered the LOOKUP or NODE_QUERY `seq` (asked(seq)), and `peer_events` (node id
  // -> events address) already holds what it named: the receipts to send when it lists the origin
  // at the address its DELIVERs gave. When a LOOKUP of the sender does not (the sender is a server
  // API call's service name, which is no registered user, or it left meanwhile), the master is
  // asked once more, for the origin node itself (NODE_QUERY), within the same deadline; when that
  // does not either, they are dropped.
  std::optional<Verified> on_reply(uint64_t seq, const std::unordered_map<std::string, std::string>& peer_events);
  // Drops what waited past its deadline.
  void sweep(int64_t now);
  // The node died: its held receipts are dropped.
  void forget(const std::string& origin) { forget(origin, true); }

  // Receipts dropped so far (wsg_bound_hits_total{bound="unverified_receipts"}).
  uint64_t dropped() const { return dropped_; }
  std::size_t held_receipts() const { return held_receipts_; }
  std::size_t origins() const { return unverified_.size(); }

 private:
  struct Unverified {
    std::string events;
    std::vector<cluster::ReceiptItem> receipts;
    uint64_t seq = 0;  // the verifying lookup
    int64_t deadline_ms = 0;
    bool node_asked = false;  // the NODE_QUERY fallback was sent (seq is its)
    std::vector<cluster::RoomReceiptItem> room_receipts;
    std::vector<cluster::Message> messages;
    std::size_t count() const { return receipts.size() + room_receipts.size() + messages.size(); }
  };
  // The held entry of `origin` at `events` (asking the master for a new one), or null: then the
  // `n` items are counted as dropped.
  Unverified* slot(const std::string& origin, const std::string& events, const std::string& from, bool can_ask,
                   int64_t now, std::size_t n);
  // Moves items into `held` while the total bound allows; counts the rest as dropped.
  template <class T>
  void keep(std::vector<T>& held, std::vector<T>& items);
  // Forgets an origin's held receipts (counted as dropped unless they were sent).
  void forget(const std::string& origin, bool count_dropped);

  int64_t timeout_ms_;
  AskMaster ask_;
  std::unordered_map<std::string, Unverified> unverified_;         // origin node id -> held receipts
  std::unordered_map<uint64_t, std::string> verify_seqs_;          // lookup seq -> origin node id
  std::deque<std::pair<uint64_t, std::string>> unverified_order_;  // (seq, origin), oldest first
  std::size_t held_receipts_ = 0;                                  // in all of unverified_
  uint64_t dropped_ = 0;
  logging::Throttle warning_{std::chrono::seconds(10)};
};

}  // namespace wsg
