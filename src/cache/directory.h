// The master's directory: which nodes are alive and which user has sessions on which node,
// plus, per user, the nodes that looked the user up since its last change (to invalidate them).
// No I/O, no clock of its own: owned by the master's single ZeroMQ thread.
//
// Memory (docs/architecture.md, "Master"): the master holds every session of the cluster, so a
// session costs as little as it can. Users and sessions are records in slabs, found by index;
// a user's sessions are a linked list through the session records; a node lists its sessions by
// index (for its death); ids up to 23 bytes are stored inline; the watchers of a user are a
// 64-bit mask of node indices (nodes past the 64th that watch a user spill into a side table).
// About 120 bytes per session of a user with one session, instead of ~500 with node-based
// standard containers.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
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
    std::string public_url;  // node.public_url (wire v5), "" when the node gave none
    bool alive = true;
    int64_t last_heartbeat_ms = 0;  // absolute time of the last message from the node
    std::size_t sessions = 0;
  };

  Directory() = default;
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  enum class HelloResult { accepted, duplicate };
  // A node (re)introduces itself. A live node with the same id and another incarnation makes
  // this a duplicate (refused, nothing changes). A dead node's id, or the same incarnation
  // again, is accepted and refreshes the URLs and the heartbeat time. The same incarnation of
  // an alive node keeps its sessions; a node that was dead (whatever its incarnation) comes
  // back with no sessions, since mark_dead() dropped them: it has to re-register them.
  HelloResult hello(const std::string& node_id, uint64_t incarnation, const std::string& ws_url,
                    const std::string& events, int64_t now_ms, const std::string& public_url = {});

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
  // The distinct users with at least one session on `node_id` (unordered; empty for an unknown or
  // dead node). O(sessions of the node): for the master's webhooks, before the node's death.
  std::vector<std::string> users_on(std::string_view node_id) const;

  // Remembers that `node_id` looked `user` up (it may now cache the route). Ignored when the
  // node is unknown or dead, or the user is offline: nodes never cache an empty route (an
  // `offline` ack needs a fresh lookup), which keeps the watchers bounded by the online users.
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
  std::size_t user_count() const { return user_count_; }
  // Every known node (alive or dead), ordered by id.
  std::vector<const NodeInfo*> nodes() const;
  const NodeInfo* node(std::string_view id) const;

 private:
  using Index = uint32_t;
  static constexpr Index kNone = UINT32_MAX;

  // An id of up to 23 bytes in place, a longer one (user ids go up to 128 bytes) on the heap:
  // 24 bytes either way. Its bytes never move while it lives (the records are in deques), so the
  // user index can key on views of them.
  class CompactId {
   public:
    CompactId() = default;
    explicit CompactId(std::string_view s);
    CompactId(const CompactId&) = delete;
    CompactId& operator=(const CompactId&) = delete;
    CompactId(CompactId&& other) noexcept;
    CompactId& operator=(CompactId&& other) noexcept;
    ~CompactId() { release(); }
    std::string_view view() const;

   private:
    static constexpr unsigned char kHeap = 0xff;
    void release() noexcept;
    struct Heap {
      char* data;
      uint32_t size;
    };
    union {
      char inline_[23];
      Heap heap_;
    };
    unsigned char tag_ = 0;  // inline length 0..23, or kHeap
  };

  struct SessionRec {
    CompactId id;
    Index user = kNone;
    Index node = kNone;
    Index next = kNone;      // the user's next session (kNone: last; the free list when unused)
    Index node_pos = kNone;  // where it sits in its node's `sessions`
  };
  struct UserRec {
    CompactId name;
    Index first = kNone;         // the user's first session (kNone: no session)
    uint64_t near_watchers = 0;  // bit i: node index i (< 64) looked the user up
    bool everyone = false;       // watched by every node
    bool far_watchers = false;   // has an entry in far_watchers_ (node indices >= 64)
    bool changed = false;        // in changed_
    bool in_use = false;
  };
  struct NodeSlot {
    NodeInfo info;
    std::vector<Index> sessions;  // its sessions (for its death)
  };
  struct SvHash {
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  Index find_node(std::string_view id) const;
  Index find_user(std::string_view name) const;
  Index add_user(std::string_view name);
  // Frees the user's record when it has no session and no invalidation pending.
  void maybe_free_user(Index u);
  Index add_session(std::string_view id, Index user, Index node);
  // Unlinks session `s` from its user's list (prev: the session before it, or kNone) and from its
  // node, and frees it.
  void remove_session(Index s, Index prev);
  bool user_on_node(Index u, Index node) const;
  bool watched(const UserRec& r) const { return r.near_watchers != 0 || r.everyone || r.far_watchers; }
  std::size_t watcher_count(Index u) const;
  void clear_watchers(Index u);
  // Records a change of the user's node set, if anyone watches the user.
  void mark_changed(Index u);
  // Removes every session of the node, marking the users changed.
  void drop_sessions(Index node);

  std::deque<NodeSlot> nodes_;                          // by node index, never removed
  std::map<std::string, Index, std::less<>> node_ids_;  // id -> node index, ordered
  std::deque<UserRec> users_;                           // by user index
  std::vector<Index> free_users_;
  boost::unordered_flat_map<std::string_view, Index, SvHash> user_index_;  // name (in users_) -> index
  std::deque<SessionRec> sessions_;                                        // by session index
  Index free_sessions_ = kNone;                                            // chained through `next`
  boost::unordered_flat_map<Index, std::vector<Index>> far_watchers_;      // user -> node indices >= 64
  std::vector<Index> changed_;                                             // users with `changed` set
  std::size_t session_count_ = 0;
  std::size_t user_count_ = 0;  // users with at least one session
};

}  // namespace wsg
