// PeerOutbox: the node's per-peer batching of DELIVER and RECEIPT items. Items queued during one
// strand turn go out as one ZeroMQ message per peer and kind, flushed by a post at the end of the
// turn (or after the coalescing interval while traffic flows), or at once when a batch reaches
// kOutboxItems items / kOutboxBytes bytes. It owns the batches and is the Router's only user of
// PeerLink; runs on the Router's strand (no locks of its own).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "proto/cluster_codec.h"
#include "routing/outgoing.h"
#include "routing/peer_link.h"

namespace wsg {

class PeerOutbox {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  // At most this many items per DELIVER or RECEIPT message.
  static constexpr std::size_t kOutboxItems = 512;
  // A DELIVER batch is cut once its items reach this many bytes (estimated), so a peer message is
  // at most this plus one item: what cluster::max_peer_message_bytes and the PULL sockets allow.
  static constexpr std::size_t kOutboxBytes = 256 * 1024;
  static_assert(static_cast<int64_t>(2 * kOutboxBytes) <= cluster::max_peer_message_bytes(0),
                "a full DELIVER batch plus one item's envelope must fit the peers' PULL limit");

  struct Options {
    std::string node_id;  // this node, the origin of what it sends
    std::string events;   // this node's PULL address, where receipts come back
    // A batch goes out at once when the previous flush is at least this old, else at previous
    // flush + this (so under load each wake-up of libzmq's I/O threads and of the peer carries
    // many messages; an isolated message is never delayed). 0 = never wait.
    std::chrono::microseconds coalesce{200};
  };
  // A DELIVER batch the link refused (the peer's high-water mark): `outs` never left this node,
  // no receipt from `node` will come for them. Called on the strand, from a flush.
  using RefusedHandler = std::function<void(const std::string& node, std::vector<std::shared_ptr<Outgoing>> outs)>;
  // Keeps the owner alive while a flush is posted or its timer waits (the Router's
  // shared_from_this; may return null when the owner outlives the io_context's run, as in tests).
  using KeepAlive = std::function<std::shared_ptr<void>()>;

  PeerOutbox(Strand strand, Options options, PeerLink& link, RefusedHandler on_refused, KeepAlive keep_alive);

  // Room items (ROOM_DELIVER) the link refused: their message ids, for the RoomRouter.
  using RoomRefusedHandler = std::function<void(const std::string& node, std::vector<std::string> msg_ids)>;
  void set_room_refused_handler(RoomRefusedHandler handler) { on_room_refused_ = std::move(handler); }

  // Queues `out` for `node` (its PULL socket at `events`). A peer that moved gets what was queued
  // for its old address first.
  void queue_deliver(const std::string& node, const std::string& events, const std::shared_ptr<Outgoing>& out);
  void queue_receipt(const std::string& node, const std::string& events, cluster::ReceiptItem item);
  // Rooms (wire v3): a publish or notice for `node`'s members of item.room, batched like DELIVERs
  // (cut at kOutboxItems items / kOutboxBytes bytes), and the receipts answering them.
  void queue_room(const std::string& node, const std::string& events, cluster::RoomItem item);
  void queue_room_receipt(const std::string& node, const std::string& events, cluster::RoomReceiptItem item);
  // One message at once, not batched (MEMBERS_QUERY / MEMBERS_REPLY). False when the link refused it.
  bool send_now(const std::string& node, const std::string& events, const cluster::Message& message) {
    return link_.send_to_peer(node, events, message);
  }
  // Sends everything queued now (drain).
  void flush();
  // The node died: forgets its batches and its link. Returns the deliveries queued for it that
  // never left this node (they certainly did not arrive there).
  // The message ids of the room items queued for it are added to `unsent_rooms` when given.
  std::vector<std::shared_ptr<Outgoing>> drop_peer(const std::string& node,
                                                   std::vector<std::string>* unsent_rooms = nullptr);

  // DELIVER items the link accepted (wsg_messages_remote_total).
  uint64_t delivered_items() const { return delivered_items_; }
  // Peers with something queued (tests).
  std::size_t queued_peers() const { return boxes_.size(); }

 private:
  struct Box {
    std::string deliver_events;  // where the DELIVERs go
    std::vector<cluster::DeliverItem> delivers;
    std::vector<std::shared_ptr<Outgoing>> deliver_outs;  // parallel to `delivers`
    std::size_t deliver_bytes = 0;
    std::string receipt_events;  // the origin's events address
    std::vector<cluster::ReceiptItem> receipts;
    std::string room_events;  // where the ROOM_DELIVERs go
    std::vector<cluster::RoomItem> rooms;
    std::size_t room_bytes = 0;
    std::string room_receipt_events;
    std::vector<cluster::RoomReceiptItem> room_receipts;
    bool empty() const { return delivers.empty() && receipts.empty() && rooms.empty() && room_receipts.empty(); }
  };

  void schedule_flush();
  void on_flush_due();
  void flush_peer(const std::string& node);

  Strand strand_;
  Options opt_;
  PeerLink& link_;
  RefusedHandler on_refused_;
  RoomRefusedHandler on_room_refused_;
  KeepAlive keep_alive_;
  std::unordered_map<std::string, Box> boxes_;  // node id -> what waits for the turn's end
  bool flush_scheduled_ = false;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point last_flush_{};
  uint64_t delivered_items_ = 0;
};

}  // namespace wsg
