#include "cache/room_table.h"

#include <algorithm>
#include <utility>

namespace wsg {

namespace {

// Below this capacity a vector is never shrunk: small rooms keep their slots.
constexpr std::size_t kShrinkFloor = 64;

// Gives memory back once a vector is a quarter full: amortised O(1), since the next reallocation
// (growth to twice the size, or another shrink) needs as many operations as this one copied.
template <typename T>
void maybe_shrink(std::vector<T>& v) {
  if (v.capacity() >= kShrinkFloor && v.size() <= v.capacity() / 4) v.shrink_to_fit();
}

}  // namespace

RoomTable::Index RoomTable::find_room(std::string_view name) const {
  auto it = room_index_.find(name);
  return it == room_index_.end() ? kNone : it->second;
}

RoomTable::Index RoomTable::add_room(std::string_view name) {
  Index r;
  if (!free_rooms_.empty()) {
    r = free_rooms_.back();
    free_rooms_.pop_back();
  } else {
    rooms_.emplace_back();
    r = static_cast<Index>(rooms_.size() - 1);
  }
  RoomRec& rec = rooms_[r];
  rec.name = std::string(name);
  rec.in_use = true;
  room_index_.emplace(rec.name, r);
  return r;
}

void RoomTable::free_room(Index r) {
  RoomRec& rec = rooms_[r];
  room_index_.erase(std::string_view(rec.name));
  std::string().swap(rec.name);
  std::vector<Member>().swap(rec.members);
  std::vector<Index>().swap(rec.entry_of);
  rec.in_use = false;
  free_rooms_.push_back(r);
}

RoomTable::Index RoomTable::find_entry(const Entries& entries, Index r) {
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (entries[i].room == r) return static_cast<Index>(i);
  return kNone;
}

bool RoomTable::remove_member(Index r, Index pos) {
  RoomRec& rec = rooms_[r];
  const Index last = static_cast<Index>(rec.members.size() - 1);
  if (pos != last) {
    rec.members[pos] = rec.members[last];
    rec.entry_of[pos] = rec.entry_of[last];
    // The moved member's entry follows it to its new position.
    sessions_.find(rec.members[pos].session)->second[rec.entry_of[pos]].pos = pos;
  }
  rec.members.pop_back();
  rec.entry_of.pop_back();
  --membership_count_;
  if (rec.members.empty()) {
    free_room(r);
    return true;
  }
  maybe_shrink(rec.members);
  maybe_shrink(rec.entry_of);
  return false;
}

RoomTable::JoinOutcome RoomTable::join(SessionKey session, std::string_view room, bool echo, bool notices,
                                       std::size_t max_rooms, std::size_t max_members) {
  Index r = find_room(room);
  auto s = sessions_.find(session);
  const std::size_t rooms_of_session = s == sessions_.end() ? 0 : s->second.size();
  if (r != kNone && s != sessions_.end()) {
    const Index e = find_entry(s->second, r);
    if (e != kNone) {
      Member& m = rooms_[r].members[s->second[e].pos];
      m.echo = echo;
      m.notices = notices;
      return {JoinResult::already_member, false};
    }
  }
  if (max_rooms != 0 && rooms_of_session >= max_rooms) return {JoinResult::too_many_rooms, false};
  if (max_members != 0 && r != kNone && rooms_[r].members.size() >= max_members) return {JoinResult::room_full, false};
  const bool first_local = r == kNone;
  if (first_local) r = add_room(room);
  if (s == sessions_.end()) s = sessions_.emplace(session, Entries{}).first;
  RoomRec& rec = rooms_[r];
  const Index pos = static_cast<Index>(rec.members.size());
  rec.members.push_back(Member{session, echo, notices});
  rec.entry_of.push_back(static_cast<Index>(s->second.size()));
  s->second.push_back(Entry{r, pos});
  ++membership_count_;
  return {JoinResult::joined, first_local};
}

RoomTable::LeaveOutcome RoomTable::leave(SessionKey session, std::string_view room) {
  const Index r = find_room(room);
  auto s = sessions_.find(session);
  if (r == kNone || s == sessions_.end()) return {};
  Entries& entries = s->second;
  const Index e = find_entry(entries, r);
  if (e == kNone) return {};
  const Index pos = entries[e].pos;
  // Swap-remove the entry first (the room's record of the moved entry follows it), then the member.
  const Index last = static_cast<Index>(entries.size() - 1);
  if (e != last) {
    entries[e] = entries[last];
    rooms_[entries[e].room].entry_of[entries[e].pos] = e;
  }
  entries.pop_back();
  if (entries.empty()) sessions_.erase(s);
  const bool emptied = remove_member(r, pos);
  return {true, emptied};
}

std::vector<std::string> RoomTable::leave_all(SessionKey session) {
  std::vector<std::string> emptied;
  auto s = sessions_.find(session);
  if (s == sessions_.end()) return emptied;
  // Take the list: its entries are dropped all at once, so none of them needs to follow a move.
  const Entries entries = std::move(s->second);
  sessions_.erase(s);
  for (const Entry& entry : entries) {
    if (rooms_[entry.room].members.size() == 1) emptied.push_back(rooms_[entry.room].name);  // about to be freed
    remove_member(entry.room, entry.pos);
  }
  std::sort(emptied.begin(), emptied.end());
  return emptied;
}

const std::vector<RoomTable::Member>* RoomTable::members(std::string_view room) const {
  const Index r = find_room(room);
  return r == kNone ? nullptr : &rooms_[r].members;
}

const RoomTable::Member* RoomTable::member(SessionKey session, std::string_view room) const {
  const Index r = find_room(room);
  auto s = sessions_.find(session);
  if (r == kNone || s == sessions_.end()) return nullptr;
  const Index e = find_entry(s->second, r);
  return e == kNone ? nullptr : &rooms_[r].members[s->second[e].pos];
}

std::size_t RoomTable::room_count_of(SessionKey session) const {
  auto s = sessions_.find(session);
  return s == sessions_.end() ? 0 : s->second.size();
}

std::vector<std::string> RoomTable::rooms_of(SessionKey session) const {
  std::vector<std::string> out;
  auto s = sessions_.find(session);
  if (s == sessions_.end()) return out;
  out.reserve(s->second.size());
  for (const Entry& entry : s->second) out.push_back(rooms_[entry.room].name);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> RoomTable::rooms() const {
  std::vector<std::string> out;
  out.reserve(room_index_.size());
  for (const auto& [name, r] : room_index_) out.emplace_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace wsg
