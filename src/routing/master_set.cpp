#include "routing/master_set.h"

#include <algorithm>

namespace wsg {

namespace {

// A master that accepted this node less than this long ago may still be waiting for the other
// nodes' replays (its recovery window is at most 1.5 s): asked only when no settled one is.
constexpr int64_t kSettleMs = 1500;

uint64_t mix(uint64_t x) {
  // splitmix64's finaliser: spreads the key hash over every bit before it is combined per master.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Calls `done` once every one of `n` parts has called its part.
std::function<void()> join(std::size_t n, std::function<void()> done) {
  if (!done) return nullptr;
  auto left = std::make_shared<std::size_t>(n);
  auto cb = std::make_shared<std::function<void()>>(std::move(done));
  return [left, cb] {
    if (*left > 0 && --*left == 0 && *cb) {
      auto f = std::move(*cb);
      f();
    }
  };
}

// The key a read is spread by, and its seq; false for a message that is not a read.
bool read_key(const cluster::Message& m, std::string& key, uint64_t& seq) {
  if (auto* q = std::get_if<cluster::Lookup>(&m)) return key = q->user, seq = q->seq, true;
  if (auto* q = std::get_if<cluster::NodeQuery>(&m)) return key = q->node_id, seq = q->seq, true;
  if (auto* q = std::get_if<cluster::PresenceQuery>(&m)) {
    key = q->users.empty() ? std::string() : q->users.front();
    seq = q->seq;
    return true;
  }
  if (auto* q = std::get_if<cluster::StatusQuery>(&m)) return key = q->user, seq = q->seq, true;
  if (auto* q = std::get_if<cluster::RoomLookup>(&m)) return key = q->room, seq = q->seq, true;
  return false;
}

}  // namespace

MasterSet::MasterSet(Strand strand, MasterSession::Options options, std::vector<MasterLink*> links, Handlers handlers,
                     KeepAlive keep_alive) {
  hedge_ms_ = std::clamp<int64_t>(options.delivery_timeout_ms / 4, 20, 500);
  // The node stops once, whichever master refused it.
  auto fatal = std::make_shared<std::function<void(const std::string&)>>(std::move(handlers.fatal));
  for (std::size_t i = 0; i < links.size(); ++i) {
    Handlers h;
    h.routes_stale = handlers.routes_stale;
    h.replay = [this, i, replay = handlers.replay] {
      // Only master i lost our registrations: register_session() goes to it alone.
      const bool was = in_replay_;
      const std::size_t before = replaying_;
      in_replay_ = true;
      replaying_ = i;
      if (replay) replay();
      in_replay_ = was;
      replaying_ = before;
    };
    h.fatal = [fatal](const std::string& reason) {
      if (!*fatal) return;
      auto f = std::move(*fatal);
      *fatal = nullptr;
      f(reason);
    };
    h.load = handlers.load;
    sessions_.push_back(std::make_unique<MasterSession>(strand, options, *links[i], std::move(h), keep_alive));
  }
}

void MasterSet::start() {
  for (auto& s : sessions_) s->start();
}

void MasterSet::stop() {
  for (auto& s : sessions_) s->stop();
}

void MasterSet::drain() {
  for (auto& s : sessions_) s->drain();
}

// ---------------------------------------------------------------- registrations

void MasterSet::add_session(const LocalSession& s, std::function<void()> on_registered) {
  auto part = join(sessions_.size(), std::move(on_registered));
  for (auto& m : sessions_) m->add_session(s, part);
}

void MasterSet::remove_session(const LocalSession& s) {
  for (auto& m : sessions_) m->remove_session(s);
}

void MasterSet::register_session(const LocalSession& s) {
  if (in_replay_) return sessions_[replaying_]->register_session(s);
  for (auto& m : sessions_) m->register_session(s);
}

void MasterSet::flush() {
  for (auto& m : sessions_) m->flush();
}

void MasterSet::register_room(const std::string& room, std::function<void()> on_registered) {
  if (in_replay_) return sessions_[replaying_]->register_room(room, std::move(on_registered));
  auto part = join(sessions_.size(), std::move(on_registered));
  for (auto& m : sessions_) m->register_room(room, part);
}

void MasterSet::wait_room(const std::string& room, std::function<void()> on_registered) {
  auto part = join(sessions_.size(), std::move(on_registered));
  for (auto& m : sessions_) m->wait_room(room, part);
}

void MasterSet::unregister_room(const std::string& room) {
  for (auto& m : sessions_) m->unregister_room(room);
}

std::size_t MasterSet::pending_room_waits() const {
  std::size_t n = 0;
  for (auto& m : sessions_) n += m->pending_room_waits();
  return n;
}

std::size_t MasterSet::pending_welcomes() const {
  std::size_t n = 0;
  for (auto& m : sessions_) n += m->pending_welcomes();
  return n;
}

// ---------------------------------------------------------------- state

bool MasterSet::ready() const {
  return std::any_of(sessions_.begin(), sessions_.end(), [](const auto& m) { return m->ready(); });
}

bool MasterSet::reachable(int64_t now) const {
  return std::any_of(sessions_.begin(), sessions_.end(), [now](const auto& m) { return m->reachable(now); });
}

std::size_t MasterSet::reachable_count(int64_t now) const {
  return static_cast<std::size_t>(
      std::count_if(sessions_.begin(), sessions_.end(), [now](const auto& m) { return m->reachable(now); }));
}

// ---------------------------------------------------------------- reads

std::vector<std::size_t> MasterSet::order_for(const std::string& key, int64_t now) const {
  const uint64_t h = std::hash<std::string>{}(key);
  std::vector<std::pair<uint64_t, std::size_t>> ranked;  // (rank, index): lower first
  for (std::size_t i = 0; i < sessions_.size(); ++i) {
    const auto& m = *sessions_[i];
    if (!m.reachable(now)) continue;
    const bool settled = now - m.registered_since_ms() >= kSettleMs;
    // Settled masters first (top bit clear), then the rendezvous weight of (key, master).
    const uint64_t weight = mix(h ^ mix(i + 1)) >> 1;
    ranked.emplace_back((settled ? 0 : (1ULL << 63)) | (~weight & ((1ULL << 63) - 1)), i);
  }
  std::sort(ranked.begin(), ranked.end());
  std::vector<std::size_t> out;
  out.reserve(ranked.size());
  for (auto& r : ranked) out.push_back(r.second);
  return out;
}

void MasterSet::track(uint64_t seq, cluster::Message message, std::string key, std::size_t asked, int64_t now) {
  if (reads_.size() >= kMaxTrackedReads) {
    ++stats_.untracked_reads;
    return;
  }
  reads_[seq] = Read{std::move(message), std::move(key), 1u << asked, 0, std::nullopt};
  hedges_.emplace_back(now + hedge_ms_, seq);
}

bool MasterSet::send_read(const cluster::Message& message, const std::string& key, uint64_t seq) {
  if (sessions_.size() == 1) return sessions_[0]->link().send_to_master(message);
  const int64_t now = MasterSession::steady_ms();
  for (std::size_t i : order_for(key, now)) {
    if (!sessions_[i]->link().send_to_master(message)) continue;
    track(seq, message, key, i, now);
    return true;
  }
  return false;
}

bool MasterSet::ask_next(uint64_t seq, Read& read, int64_t now) {
  for (std::size_t i : order_for(read.key, now)) {
    if (read.asked & (1u << i)) continue;
    read.asked |= 1u << i;
    if (!sessions_[i]->link().send_to_master(read.message)) continue;
    hedges_.emplace_back(now + hedge_ms_, seq);
    return true;
  }
  return false;
}

bool MasterSet::confirm_empty(uint64_t seq, std::optional<cluster::Message> reply) {
  auto it = reads_.find(seq);
  if (it == reads_.end()) return false;
  Read& read = it->second;
  read.answered |= 1u << current_;
  if (!read.empty && reply) read.empty.emplace(current_, std::move(*reply));
  // A master asked before (a hedge) has not answered yet: its answer may name the user. Waited
  // for until the next hedge time at most (sweep()).
  if ((read.asked & ~read.answered) != 0) return true;
  if (ask_next(seq, read, MasterSession::steady_ms())) {
    ++stats_.confirmed_reads;
    return true;
  }
  reads_.erase(it);
  return false;
}

bool MasterSet::send(const cluster::Message& message) {
  std::string key;
  uint64_t seq = 0;
  if (read_key(message, key, seq)) return send_read(message, key, seq);
  if (auto* batch = std::get_if<cluster::LookupBatch>(&message)) {
    // The batch goes to one master (picked by its first user); each lookup is remembered alone.
    if (sessions_.size() == 1 || batch->lookups.empty()) return sessions_[0]->link().send_to_master(message);
    const int64_t now = MasterSession::steady_ms();
    for (std::size_t i : order_for(batch->lookups.front().user, now)) {
      if (!sessions_[i]->link().send_to_master(message)) continue;
      for (const auto& l : batch->lookups) track(l.seq, l, l.user, i, now);
      return true;
    }
    return false;
  }
  if (std::holds_alternative<cluster::InvalidateAck>(message) ||
      std::holds_alternative<cluster::RoomInvalidateAck>(message) ||
      std::holds_alternative<cluster::RoomCountReply>(message)) {
    return sessions_[current_]->link().send_to_master(message);
  }
  bool any = false;
  for (auto& m : sessions_) any = m->link().send_to_master(message) || any;
  return any;
}

// ---------------------------------------------------------------- sweep

std::vector<std::pair<std::size_t, cluster::Message>> MasterSet::sweep(int64_t now) {
  for (auto& m : sessions_) m->sweep_welcomes(now);
  std::vector<std::pair<std::size_t, cluster::Message>> give_up;
  // Bounded by what was due: each entry is looked at once, and re-queued at most once per master.
  while (!hedges_.empty() && hedges_.front().first <= now) {
    const uint64_t seq = hedges_.front().second;
    hedges_.pop_front();
    auto it = reads_.find(seq);
    if (it == reads_.end()) continue;
    if (ask_next(seq, it->second, now)) {
      ++stats_.hedged_reads;
      continue;
    }
    // Nobody left to ask: an empty answer kept while another master's was awaited is the answer.
    if (it->second.empty) give_up.push_back(std::move(*it->second.empty));
    reads_.erase(it);
  }
  return give_up;
}

}  // namespace wsg
