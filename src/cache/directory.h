// The master's directory: which nodes are alive and which user has sessions on which node,
// plus, per user, the nodes that looked the user up since its last change (to invalidate them).
// No I/O, no clock of its own: owned by the master's single ZeroMQ thread.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace wsg {

class Directory {
 public:
  // Bound on the nodes remembered per user for invalidation. Past it the user is marked
  // "watched by everyone": its next change invalidates it at every alive node.
  static constexpr std::size_t kMaxWatchersPerUser = 64;

  struct NodeInfo {
    std::string id;
    uint64_t incarnation = 0;
    std::string ws_url;
    std::string events;
    bool alive = true;
    int64_t last_heartbeat_ms = 0;  // absolute time of the last message from the node
    std::size_t sessions = 0;
  };

  enum class HelloResult { accepted, duplicate };
  // A node (re)introduces itself. A live node with the same id and another incarnation makes
  // this a duplicate (refused, nothing changes). A dead node's id, or the same incarnation
  // again, is accepted and refreshes the URLs and the heartbeat time. The same incarnation of
  // an alive node keeps its sessions; a node that was dead (whatever its incarnation) comes
  // back with no sessions, since mark_dead() dropped them: it has to re-register them.
  HelloResult hello(const std::string& node_id, uint64_t incarnation, const std::string& ws_url,
                    const std::string& events, int64_t now_ms);

  // False when the node is unknown or dead. Otherwise refreshes its heartbeat time.
  bool touch(std::string_view node_id, int64_t now_ms);
  bool is_alive(std::string_view node_id) const;

  // Adds/removes one session of `user` on `node_id` (an alive node). Returns true when the
  // directory changed (false: unknown or dead node, session already there / not there).
  // A user whose set of *nodes* changed is reported by take_invalidations(); a session added or
  // removed on a node that keeps other sessions of the user changes no route, so no invalidation.
  bool register_session(const std::string& node_id, const std::string& user, const std::string& session);
  bool unregister_session(const std::string& node_id, const std::string& user, const std::string& session);

  // Alive nodes holding >= 1 session of `user`, ordered by id.
  std::vector<const NodeInfo*> nodes_for(std::string_view user) const;
  // (node id, session id) of every session of `user`, ordered.
  std::vector<std::pair<std::string, std::string>> sessions_of(std::string_view user) const;
  bool online(std::string_view user) const;

  // Remembers that `node_id` looked `user` up (it may now cache the route). Ignored when the
  // node is unknown or dead, or the user is offline: nodes never cache an empty route (an
  // `offline` ack needs a fresh lookup), which keeps watchers_ bounded by the online users.
  // Past kMaxWatchersPerUser distinct nodes the user is watched by everyone.
  void note_lookup(const std::string& user, const std::string& node_id);
  // For every watched user whose node set changed since the last call: the alive nodes to send
  // INVALIDATE(user) to (its alive watchers, or every alive node when watched by everyone),
  // ordered by user then node id. Users with no alive watcher are left out. Clears the watchers
  // of every changed user and the changed set.
  std::vector<std::pair<std::string, std::vector<std::string>>> take_invalidations();

  // Declares the node dead and drops its sessions (their users count as changed).
  void mark_dead(const std::string& node_id);
  // Alive nodes whose last heartbeat is older than now - timeout_ms: marks them dead, returns them.
  std::vector<std::string> expire(int64_t now_ms, int64_t timeout_ms);

  std::size_t session_count() const { return session_count_; }
  std::size_t user_count() const { return users_.size(); }
  // Every known node (alive or dead), ordered by id.
  std::vector<const NodeInfo*> nodes() const;
  const NodeInfo* node(std::string_view id) const;

 private:
  struct StrHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  template <class V>
  using StrMap = std::unordered_map<std::string, V, StrHash, std::equal_to<>>;
  using StrSet = std::unordered_set<std::string, StrHash, std::equal_to<>>;

  struct UserEntry {
    // node id -> sessions of this user on it (never an empty set)
    std::map<std::string, std::set<std::string>, std::less<>> by_node;
  };
  struct Watchers {
    std::set<std::string, std::less<>> nodes;  // empty when everyone
    bool everyone = false;
  };

  // Records a change of the user's node set, if anyone watches the user.
  void mark_changed(const std::string& user);
  // Removes every session of the node (which must be known), marking the users changed.
  void drop_sessions(NodeInfo& info);

  std::map<std::string, NodeInfo, std::less<>> nodes_;
  StrMap<UserEntry> users_;
  // node id -> (user -> sessions) for fast drops when a node dies (no empty maps or sets)
  StrMap<StrMap<std::set<std::string>>> by_node_;
  StrMap<Watchers> watchers_;
  StrSet changed_;  // only users with a watchers_ entry
  std::size_t session_count_ = 0;
};

}  // namespace wsg
