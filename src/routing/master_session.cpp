#include "routing/master_session.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/post.hpp>

#include "telemetry/logging.h"

namespace wsg {

namespace asio = boost::asio;

MasterSession::MasterSession(Strand strand, Options options, MasterLink& link, Handlers handlers, KeepAlive keep_alive)
    : strand_(std::move(strand)),
      opt_(std::move(options)),
      link_(link),
      on_(std::move(handlers)),
      keep_alive_(std::move(keep_alive)),
      heartbeat_timer_(strand_) {}

int64_t MasterSession::steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void MasterSession::start() {
  send_hello();
  arm_heartbeat();
}

void MasterSession::stop() {
  stopped_ = true;
  heartbeat_timer_.cancel();
}

void MasterSession::drain() {
  draining_ = true;
  ready_ = false;
}

bool MasterSession::lost(int64_t now) const {
  return now - last_master_ms_ > std::max<int64_t>(3 * opt_.heartbeat_ms, 1500);
}

// ---------------------------------------------------------------- sessions

void MasterSession::add_session(const LocalSession& s, std::function<void()> on_registered) {
  const int64_t now = steady_ms();
  // Queued even while the master is away: the DEALER keeps it for the master's return, and a
  // new master (or a lost one heard again) gets a full replay anyway.
  if (hello_ok_) queue_register(s);
  if (!hello_ok_ || lost(now)) {
    // Master away: the client gets its welcome now (docs/protocol.md, "The welcome frame").
    if (on_registered) on_registered();
    return;
  }
  pending_welcome_[s.session_id()] = PendingWelcome{std::move(on_registered), now + opt_.delivery_timeout_ms};
}

void MasterSession::remove_session(const LocalSession& s) {
  pending_welcome_.erase(s.session_id());
  if (hello_ok_) queue_unregister(s);
}

void MasterSession::sweep_welcomes(int64_t now) {
  sweep_room_waits(now);
  for (auto it = pending_welcome_.begin(); it != pending_welcome_.end();) {
    if (it->second.deadline_ms <= now) {
      auto cb = std::move(it->second.callback);
      it = pending_welcome_.erase(it);
      if (cb) cb();
    } else {
      ++it;
    }
  }
}

// ---------------------------------------------------------------- rooms

void MasterSession::register_room(const std::string& room, std::function<void()> on_registered) {
  const int64_t now = steady_ms();
  if (hello_ok_) {
    room_ops_.push_back(RoomOp{true, room});
    if (room_ops_.size() >= opt_.register_batch) flush_registrations();
    else schedule_flush();
  }
  if (!hello_ok_ || lost(now)) {
    if (on_registered) on_registered();
    return;
  }
  auto it = room_waits_.find(room);
  if (!on_registered && it == room_waits_.end()) return;  // a replay: nobody waits
  auto& wait = it != room_waits_.end() ? it->second : room_waits_[room];
  wait.seq = 0;  // this registration is the one to wait for
  if (on_registered) wait.callbacks.push_back(PendingWelcome{std::move(on_registered), now + opt_.delivery_timeout_ms});
}

void MasterSession::wait_room(const std::string& room, std::function<void()> on_registered) {
  auto it = room_waits_.find(room);
  if (it == room_waits_.end() || lost(steady_ms())) {
    if (on_registered) on_registered();
    return;
  }
  if (on_registered) {
    it->second.callbacks.push_back(PendingWelcome{std::move(on_registered), steady_ms() + opt_.delivery_timeout_ms});
  }
}

void MasterSession::unregister_room(const std::string& room) {
  if (auto it = room_waits_.find(room); it != room_waits_.end()) {
    auto callbacks = std::move(it->second.callbacks);
    room_waits_.erase(it);
    for (auto& c : callbacks) {
      if (c.callback) c.callback();
    }
  }
  if (!hello_ok_) return;
  // A registration of the room still queued: the two cancel out (the room was not registered
  // before it, or it would not have been queued).
  for (auto it = room_ops_.rbegin(); it != room_ops_.rend(); ++it) {
    if (it->room != room) continue;
    if (it->add) {
      room_ops_.erase(std::next(it).base());
      return;
    }
    break;
  }
  room_ops_.push_back(RoomOp{false, room});
  if (room_ops_.size() >= opt_.register_batch) flush_registrations();
  else schedule_flush();
}

void MasterSession::flush_rooms() {
  // Runs of one kind, in order, at most register_batch rooms each. A refused message stays
  // queued with what follows it (retried at the next heartbeat).
  const std::size_t per = std::max<std::size_t>(opt_.register_batch, 1);
  std::size_t done = 0;
  while (done < room_ops_.size()) {
    const bool add = room_ops_[done].add;
    std::vector<std::string> rooms;
    std::size_t end = done;
    while (end < room_ops_.size() && room_ops_[end].add == add && rooms.size() < per) {
      rooms.push_back(room_ops_[end].room);
      ++end;
    }
    const uint64_t seq = next_seq();
    bool sent;
    if (add) {
      sent = link_.send_to_master(cluster::RoomRegister{seq, rooms});
      if (sent) {
        for (auto& r : rooms) {
          if (auto w = room_waits_.find(r); w != room_waits_.end() && w->second.seq == 0) w->second.seq = seq;
        }
        room_inflight_[seq] = std::move(rooms);
      }
    } else {
      sent = link_.send_to_master(cluster::RoomUnregister{seq, std::move(rooms)});
    }
    if (!sent) {
      registrations_refused_ = true;
      break;
    }
    done = end;
  }
  room_ops_.erase(room_ops_.begin(), room_ops_.begin() + static_cast<std::ptrdiff_t>(done));
}

void MasterSession::room_registered(const std::string& room, uint64_t seq) {
  auto it = room_waits_.find(room);
  if (it == room_waits_.end() || it->second.seq != seq) return;
  auto callbacks = std::move(it->second.callbacks);
  room_waits_.erase(it);
  for (auto& c : callbacks) {
    if (c.callback) c.callback();
  }
}

void MasterSession::sweep_room_waits(int64_t now) {
  for (auto it = room_waits_.begin(); it != room_waits_.end();) {
    auto& cbs = it->second.callbacks;
    std::vector<std::function<void()>> due;
    for (auto c = cbs.begin(); c != cbs.end();) {
      if (c->deadline_ms <= now) {
        due.push_back(std::move(c->callback));
        c = cbs.erase(c);
      } else {
        ++c;
      }
    }
    // A registration with nobody waiting any more is forgotten (its ack finds nothing).
    if (cbs.empty()) it = room_waits_.erase(it);
    else ++it;
    for (auto& cb : due) {
      if (cb) cb();
    }
  }
}

// ---------------------------------------------------------------- HELLO, epoch, silence

void MasterSession::send_hello() {
  // Without a public URL the v1 HELLO, which every master reads (docs/wire-encoding.md, "Rollout of
  // version 5").
  if (opt_.public_url.empty()) {
    link_.send_to_master(cluster::Hello{opt_.node_id, opt_.incarnation, opt_.ws_url, opt_.events});
  } else {
    link_.send_to_master(
        cluster::HelloPublic{opt_.node_id, opt_.incarnation, opt_.ws_url, opt_.events, opt_.public_url});
  }
}

void MasterSession::reintroduce() {
  if (!hello_ok_) return;
  hello_ok_ = false;
  ready_ = false;
  send_hello();
}

void MasterSession::heard_from_master() {
  const int64_t now = steady_ms();
  const bool was_lost = hello_ok_ && lost(now);
  last_master_ms_ = now;
  if (was_lost) {
    // Back after a silence (a pause, a partition): registrations may have been dropped on the
    // way, and invalidations missed. Replaying is idempotent at the master.
    logging::get("router")->info("master reachable again: replaying {} sessions", on_.load ? on_.load().sessions : 0);
    registered_since_ms_ = now;
    if (on_.routes_stale) on_.routes_stale();
    replay_sessions();
  }
}

void MasterSession::check_epoch(uint64_t epoch) {
  heard_from_master();
  if (epoch_ != 0 && epoch != epoch_ && hello_ok_) {
    logging::get("router")->warn("master epoch changed ({:x} -> {:x}): re-registering", epoch_, epoch);
    hello_ok_ = false;
    ready_ = false;
    if (on_.routes_stale) on_.routes_stale();
    send_hello();
  }
}

void MasterSession::on_hello_reply(const cluster::HelloReply& reply) {
  heard_from_master();
  if (!reply.accepted) {
    if (on_.fatal) {
      auto f = std::move(on_.fatal);
      on_.fatal = nullptr;
      f(reply.reason);
    }
    return;
  }
  if (hello_ok_ && reply.epoch == epoch_) return;  // a duplicate reply
  // A new master, or one that declared us dead meanwhile: any invalidation sent while we were
  // not registered was missed, so no cached route is trusted.
  if (on_.routes_stale) on_.routes_stale();
  epoch_ = reply.epoch;
  hello_ok_ = true;
  registered_since_ms_ = steady_ms();
  ready_ = !draining_;
  logging::get("router")->info("registered at the master (epoch {:x}); replaying {} sessions", epoch_,
                               on_.load ? on_.load().sessions : 0);
  replay_sessions();
}

void MasterSession::on_heartbeat_reply(const cluster::HeartbeatReply& reply) {
  check_epoch(reply.epoch);
  if (!reply.known) reintroduce();
}

// ---------------------------------------------------------------- registration batches

void MasterSession::replay_sessions() {
  reg_batch_.clear();
  unreg_batch_.clear();
  room_ops_.clear();
  room_inflight_.clear();
  if (on_.replay) on_.replay();
  flush_registrations();
}

void MasterSession::queue_register(const LocalSession& s) {
  reg_batch_.push_back(cluster::SessionRef{s.user(), s.session_id()});
  if (reg_batch_.size() >= opt_.register_batch) flush_registrations();
  else schedule_flush();
}

void MasterSession::queue_unregister(const LocalSession& s) {
  // A session registered and removed within one batch needs neither message.
  auto it = std::find_if(reg_batch_.begin(), reg_batch_.end(),
                         [&](const cluster::SessionRef& r) { return r.session == s.session_id(); });
  if (it != reg_batch_.end()) {
    reg_batch_.erase(it);
    return;
  }
  unreg_batch_.push_back(cluster::SessionRef{s.user(), s.session_id()});
  if (unreg_batch_.size() >= opt_.register_batch) flush_registrations();
  else schedule_flush();
}

void MasterSession::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  asio::post(strand_, [this, keep = keep()] {
    flush_scheduled_ = false;
    flush_registrations();
  });
}

void MasterSession::flush_registrations() {
  // In messages of at most register_batch sessions. A batch the link refuses (its queue to the
  // master is full) stays queued, with what follows it, and goes again at the next heartbeat
  // tick; the welcomes of its sessions wait for the master's ack (at most delivery_timeout_ms).
  const std::size_t per = std::max<std::size_t>(opt_.register_batch, 1);
  while (!reg_batch_.empty()) {
    const std::size_t n = std::min(per, reg_batch_.size());
    std::vector<cluster::SessionRef> part(reg_batch_.begin(), reg_batch_.begin() + static_cast<std::ptrdiff_t>(n));
    const uint64_t seq = next_seq();
    std::vector<std::string> ids;
    ids.reserve(n);
    for (auto& r : part) ids.push_back(r.session);
    reg_inflight_[seq] = std::move(ids);
    if (!link_.send_to_master(cluster::RegisterSessions{seq, std::move(part)})) {
      reg_inflight_.erase(seq);
      registrations_refused_ = true;
      return;
    }
    reg_batch_.erase(reg_batch_.begin(), reg_batch_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  while (!unreg_batch_.empty()) {
    const std::size_t n = std::min(per, unreg_batch_.size());
    std::vector<cluster::SessionRef> part(unreg_batch_.begin(), unreg_batch_.begin() + static_cast<std::ptrdiff_t>(n));
    if (!link_.send_to_master(cluster::UnregisterSessions{next_seq(), std::move(part)})) {
      registrations_refused_ = true;
      return;
    }
    unreg_batch_.erase(unreg_batch_.begin(), unreg_batch_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  flush_rooms();
}

void MasterSession::on_ack(const cluster::Ack& ack) {
  check_epoch(ack.epoch);
  auto it = reg_inflight_.find(ack.seq);
  auto rooms = room_inflight_.find(ack.seq);
  if (!ack.ok) {
    // The master does not know us (it restarted): introduce ourselves again; the replay
    // registers every session and room, including these.
    if (it != reg_inflight_.end()) reg_inflight_.erase(it);
    if (rooms != room_inflight_.end()) room_inflight_.erase(rooms);
    reintroduce();
    return;
  }
  if (rooms != room_inflight_.end()) {
    auto names = std::move(rooms->second);
    room_inflight_.erase(rooms);
    for (auto& r : names) room_registered(r, ack.seq);
    return;
  }
  if (it == reg_inflight_.end()) return;
  for (auto& id : it->second) {
    auto w = pending_welcome_.find(id);
    if (w == pending_welcome_.end()) continue;
    auto cb = std::move(w->second.callback);
    pending_welcome_.erase(w);
    if (cb) cb();
  }
  reg_inflight_.erase(it);
}

// ---------------------------------------------------------------- heartbeat

void MasterSession::arm_heartbeat() {
  if (stopped_) return;
  heartbeat_timer_.expires_after(std::chrono::milliseconds(opt_.heartbeat_ms));
  heartbeat_timer_.async_wait([this, keep = keep()](boost::system::error_code ec) {
    if (ec || stopped_) return;
    on_heartbeat();
    arm_heartbeat();
  });
}

void MasterSession::on_heartbeat() {
  const int64_t now = steady_ms();
  if (!hello_ok_) {
    send_hello();
  } else {
    if (registrations_refused_) {
      registrations_refused_ = false;
      flush_registrations();
    }
    const Load load = on_.load ? on_.load() : Load{};
    link_.send_to_master(cluster::Heartbeat{opt_.node_id, load.sessions, load.messages_accepted});
  }
  if (lost(now)) {
    if (ready_) logging::get("router")->warn("master unreachable");
    ready_ = false;
  } else if (hello_ok_ && !draining_) {
    ready_ = true;
  }
}

}  // namespace wsg
