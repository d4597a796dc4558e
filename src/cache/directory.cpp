#include "cache/directory.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

namespace wsg {

// ---------------------------------------------------------------------------------------------
// CompactId

Directory::CompactId::CompactId(std::string_view s) {
  if (s.size() <= sizeof inline_) {
    std::memcpy(inline_, s.data(), s.size());
    tag_ = static_cast<unsigned char>(s.size());
  } else {
    heap_.data = new char[s.size()];
    std::memcpy(heap_.data, s.data(), s.size());
    heap_.size = static_cast<uint32_t>(s.size());
    tag_ = kHeap;
  }
}

Directory::CompactId::CompactId(CompactId&& other) noexcept : tag_(other.tag_) {
  std::memcpy(inline_, other.inline_, sizeof inline_);
  other.tag_ = 0;
}

Directory::CompactId& Directory::CompactId::operator=(CompactId&& other) noexcept {
  if (this != &other) {
    release();
    std::memcpy(inline_, other.inline_, sizeof inline_);
    tag_ = other.tag_;
    other.tag_ = 0;
  }
  return *this;
}

void Directory::CompactId::release() noexcept {
  if (tag_ == kHeap) delete[] heap_.data;
  tag_ = 0;
}

std::string_view Directory::CompactId::view() const {
  if (tag_ == kHeap) return {heap_.data, heap_.size};
  return {inline_, tag_};
}

// ---------------------------------------------------------------------------------------------
// Nodes

Directory::Index Directory::find_node(std::string_view id) const {
  auto it = node_ids_.find(id);
  return it == node_ids_.end() ? kNone : it->second;
}

Directory::HelloResult Directory::hello(const std::string& node_id, uint64_t incarnation, const std::string& ws_url,
                                        const std::string& events, int64_t now_ms, const std::string& public_url) {
  const Index n = find_node(node_id);
  if (n == kNone) {
    NodeSlot slot;
    slot.info.id = node_id;
    slot.info.incarnation = incarnation;
    slot.info.ws_url = ws_url;
    slot.info.events = events;
    slot.info.public_url = public_url;
    slot.info.alive = true;
    slot.info.last_heartbeat_ms = now_ms;
    nodes_.push_back(std::move(slot));
    node_ids_.emplace(node_id, static_cast<Index>(nodes_.size() - 1));
    return HelloResult::accepted;
  }
  NodeInfo& info = nodes_[n].info;
  if (info.alive && info.incarnation != incarnation) return HelloResult::duplicate;
  if (!info.alive) {
    // mark_dead() already dropped its sessions; this keeps the invariant "dead => empty" explicit.
    drop_sessions(n);
    info.incarnation = incarnation;
    info.alive = true;
  }
  info.ws_url = ws_url;
  info.events = events;
  info.public_url = public_url;
  info.last_heartbeat_ms = now_ms;
  return HelloResult::accepted;
}

bool Directory::touch(std::string_view node_id, int64_t now_ms) {
  const Index n = find_node(node_id);
  if (n == kNone || !nodes_[n].info.alive) return false;
  nodes_[n].info.last_heartbeat_ms = now_ms;
  return true;
}

bool Directory::is_alive(std::string_view node_id) const {
  const Index n = find_node(node_id);
  return n != kNone && nodes_[n].info.alive;
}

std::vector<const Directory::NodeInfo*> Directory::nodes() const {
  std::vector<const NodeInfo*> out;
  out.reserve(node_ids_.size());
  for (const auto& [id, n] : node_ids_) out.push_back(&nodes_[n].info);
  return out;
}

const Directory::NodeInfo* Directory::node(std::string_view id) const {
  const Index n = find_node(id);
  return n == kNone ? nullptr : &nodes_[n].info;
}

// ---------------------------------------------------------------------------------------------
// Users and sessions

Directory::Index Directory::find_user(std::string_view name) const {
  auto it = user_index_.find(name);
  return it == user_index_.end() ? kNone : it->second;
}

Directory::Index Directory::add_user(std::string_view name) {
  Index u;
  if (!free_users_.empty()) {
    u = free_users_.back();
    free_users_.pop_back();
  } else {
    users_.emplace_back();
    u = static_cast<Index>(users_.size() - 1);
  }
  UserRec& r = users_[u];
  r.name = CompactId(name);
  r.first = kNone;
  r.near_watchers = 0;
  r.everyone = r.far_watchers = r.changed = false;
  r.in_use = true;
  user_index_.emplace(r.name.view(), u);
  return u;
}

void Directory::maybe_free_user(Index u) {
  UserRec& r = users_[u];
  if (!r.in_use || r.first != kNone || r.changed) return;
  clear_watchers(u);
  user_index_.erase(r.name.view());
  r.name = CompactId();
  r.in_use = false;
  free_users_.push_back(u);
}

Directory::Index Directory::add_session(std::string_view id, Index user, Index node) {
  Index s;
  if (free_sessions_ != kNone) {
    s = free_sessions_;
    free_sessions_ = sessions_[s].next;
  } else {
    sessions_.emplace_back();
    s = static_cast<Index>(sessions_.size() - 1);
  }
  SessionRec& rec = sessions_[s];
  rec.id = CompactId(id);
  rec.user = user;
  rec.node = node;
  rec.next = users_[user].first;
  if (users_[user].first == kNone) ++user_count_;  // the user comes online
  users_[user].first = s;
  auto& list = nodes_[node].sessions;
  rec.node_pos = static_cast<Index>(list.size());
  list.push_back(s);
  ++nodes_[node].info.sessions;
  ++session_count_;
  return s;
}

void Directory::remove_session(Index s, Index prev) {
  SessionRec& rec = sessions_[s];
  if (prev == kNone) users_[rec.user].first = rec.next;
  else sessions_[prev].next = rec.next;
  if (users_[rec.user].first == kNone) --user_count_;  // the user goes offline
  // Swap-remove from the node's list, keeping the moved session's position right.
  auto& list = nodes_[rec.node].sessions;
  const Index last = list.back();
  list[rec.node_pos] = last;
  sessions_[last].node_pos = rec.node_pos;
  list.pop_back();
  if (list.empty()) std::vector<Index>().swap(list);
  NodeInfo& info = nodes_[rec.node].info;
  if (info.sessions > 0) --info.sessions;
  --session_count_;
  rec.id = CompactId();
  rec.user = rec.node = rec.node_pos = kNone;
  rec.next = free_sessions_;
  free_sessions_ = s;
}

bool Directory::user_on_node(Index u, Index node) const {
  for (Index s = users_[u].first; s != kNone; s = sessions_[s].next)
    if (sessions_[s].node == node) return true;
  return false;
}

bool Directory::register_session(const std::string& node_id, const std::string& user, const std::string& session) {
  const Index n = find_node(node_id);
  if (n == kNone || !nodes_[n].info.alive) return false;
  Index u = find_user(user);
  if (u == kNone) u = add_user(user);
  bool node_new = true;
  for (Index s = users_[u].first; s != kNone; s = sessions_[s].next) {
    if (sessions_[s].node != n) continue;
    if (sessions_[s].id.view() == session) return false;  // already registered: nothing changed
    node_new = false;
  }
  add_session(session, u, n);
  if (node_new) mark_changed(u);
  return true;
}

bool Directory::unregister_session(const std::string& node_id, const std::string& user, const std::string& session) {
  const Index u = find_user(user);
  const Index n = find_node(node_id);
  if (u == kNone || n == kNone) return false;
  Index prev = kNone;
  Index s = users_[u].first;
  while (s != kNone && !(sessions_[s].node == n && sessions_[s].id.view() == session)) {
    prev = s;
    s = sessions_[s].next;
  }
  if (s == kNone) return false;
  remove_session(s, prev);
  if (!user_on_node(u, n)) mark_changed(u);
  maybe_free_user(u);
  return true;
}

std::vector<const Directory::NodeInfo*> Directory::nodes_for(std::string_view user) const {
  std::vector<const NodeInfo*> out;
  const Index u = find_user(user);
  if (u == kNone) return out;
  for (Index s = users_[u].first; s != kNone; s = sessions_[s].next) {
    const NodeInfo* info = &nodes_[sessions_[s].node].info;
    if (info->alive && std::find(out.begin(), out.end(), info) == out.end()) out.push_back(info);
  }
  std::sort(out.begin(), out.end(), [](const NodeInfo* a, const NodeInfo* b) { return a->id < b->id; });
  return out;
}

std::vector<std::pair<std::string, std::string>> Directory::sessions_of(std::string_view user) const {
  std::vector<std::pair<std::string, std::string>> out;
  const Index u = find_user(user);
  if (u == kNone) return out;
  for (Index s = users_[u].first; s != kNone; s = sessions_[s].next)
    out.emplace_back(nodes_[sessions_[s].node].info.id, std::string(sessions_[s].id.view()));
  std::sort(out.begin(), out.end());
  return out;
}

bool Directory::online(std::string_view user) const {
  const Index u = find_user(user);
  return u != kNone && users_[u].first != kNone;
}

std::vector<std::string> Directory::users_on(std::string_view node_id) const {
  std::vector<std::string> out;
  const Index n = find_node(node_id);
  if (n == kNone) return out;
  std::vector<Index> users;
  users.reserve(nodes_[n].sessions.size());
  for (const Index s : nodes_[n].sessions) users.push_back(sessions_[s].user);
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  out.reserve(users.size());
  for (const Index u : users) out.emplace_back(users_[u].name.view());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Watchers and invalidations

std::size_t Directory::watcher_count(Index u) const {
  std::size_t n = static_cast<std::size_t>(std::popcount(users_[u].near_watchers));
  if (users_[u].far_watchers) n += far_watchers_.at(u).size();
  return n;
}

void Directory::clear_watchers(Index u) {
  UserRec& r = users_[u];
  if (r.far_watchers) far_watchers_.erase(u);
  r.near_watchers = 0;
  r.everyone = r.far_watchers = false;
}

void Directory::note_lookup(const std::string& user, const std::string& node_id) {
  const Index n = find_node(node_id);
  if (n == kNone || !nodes_[n].info.alive) return;
  const Index u = find_user(user);
  if (u == kNone || users_[u].first == kNone) return;  // offline: nothing cached
  UserRec& r = users_[u];
  if (r.everyone) return;
  const bool known = n < 64 ? (r.near_watchers >> n) & 1u
                            : r.far_watchers && std::find(far_watchers_.at(u).begin(), far_watchers_.at(u).end(), n) !=
                                                    far_watchers_.at(u).end();
  if (known) return;
  if (watcher_count(u) >= kMaxWatchersPerUser) {
    clear_watchers(u);
    r.everyone = true;
    return;
  }
  if (n < 64) {
    r.near_watchers |= uint64_t{1} << n;
  } else {
    far_watchers_[u].push_back(n);
    r.far_watchers = true;
  }
}

void Directory::mark_changed(Index u) {
  // A user nobody looked up since its last change has no cached route to invalidate.
  UserRec& r = users_[u];
  if (!watched(r) || r.changed) return;
  r.changed = true;
  changed_.push_back(u);
}

std::vector<std::pair<std::string, std::vector<std::string>>> Directory::take_invalidations() {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  out.reserve(changed_.size());
  for (const Index u : changed_) {
    UserRec& r = users_[u];
    std::vector<std::string> targets;
    if (r.everyone) {
      for (const auto& [id, n] : node_ids_)
        if (nodes_[n].info.alive) targets.push_back(id);
    } else {
      for (uint64_t bits = r.near_watchers; bits != 0; bits &= bits - 1) {
        const auto n = static_cast<Index>(std::countr_zero(bits));
        if (nodes_[n].info.alive) targets.push_back(nodes_[n].info.id);
      }
      if (r.far_watchers)
        for (const Index n : far_watchers_.at(u))
          if (nodes_[n].info.alive) targets.push_back(nodes_[n].info.id);
      std::sort(targets.begin(), targets.end());
    }
    if (!targets.empty()) out.emplace_back(std::string(r.name.view()), std::move(targets));
    clear_watchers(u);
    r.changed = false;
    maybe_free_user(u);
  }
  changed_.clear();
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Node deaths

void Directory::drop_sessions(Index node) {
  // Take the list: remove_session() would swap-remove from it while we walk it.
  std::vector<Index> list;
  list.swap(nodes_[node].sessions);
  std::vector<Index> users;
  users.reserve(list.size());
  for (const Index s : list) {
    const Index u = sessions_[s].user;
    Index prev = kNone;
    for (Index it = users_[u].first; it != s; it = sessions_[it].next) prev = it;
    SessionRec& rec = sessions_[s];
    if (prev == kNone) users_[u].first = rec.next;
    else sessions_[prev].next = rec.next;
    if (users_[u].first == kNone) --user_count_;  // the user goes offline
    rec.id = CompactId();
    rec.user = rec.node = rec.node_pos = kNone;
    rec.next = free_sessions_;
    free_sessions_ = s;
    --session_count_;
    mark_changed(u);
    users.push_back(u);
  }
  nodes_[node].info.sessions = 0;
  // Users left without a session (and no invalidation pending) are freed once all are unlinked.
  for (const Index u : users) maybe_free_user(u);
}

void Directory::mark_dead(const std::string& node_id) {
  const Index n = find_node(node_id);
  if (n == kNone || !nodes_[n].info.alive) return;
  drop_sessions(n);
  nodes_[n].info.alive = false;
}

std::vector<std::string> Directory::expire(int64_t now_ms, int64_t timeout_ms) {
  std::vector<std::string> dead;
  const int64_t cutoff = now_ms - timeout_ms;
  for (const auto& [id, n] : node_ids_) {
    NodeInfo& info = nodes_[n].info;
    if (info.alive && info.last_heartbeat_ms < cutoff) {
      drop_sessions(n);
      info.alive = false;
      dead.push_back(id);
    }
  }
  return dead;
}

}  // namespace wsg
