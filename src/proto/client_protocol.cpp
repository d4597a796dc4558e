// Client protocol v1 (docs/protocol.md). See client_protocol.h.
//
// Decoding runs Boost.JSON's parser over the frame (the parser json::parse uses, same options and
// limits, bounded nesting depth) with a handler that keeps only the few facts the frame rules need
// instead of building a tree, and never throws on bad input. A send or publish frame's body is then
// copied out verbatim: a small scanner over the validated text finds the span of the body member's
// value (no re-serialisation, so numbers and whitespace keep the client's spelling). Encoding
// writes the compact JSON text directly into one reserved std::string.
#include "proto/client_protocol.h"

#include <array>
#include <charconv>
#include <cstring>
#include <new>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include "text/text_quote.h"

namespace wsg::proto {

namespace json = boost::json;

namespace {

// Nesting limit for a client frame: the frame object is depth 1, so a body may nest 62 levels.
constexpr std::size_t kMaxJsonDepth = 64;

// ---------------------------------------------------------------------------------------------
// JSON string escaping: text::append_json_escaped (text_quote.h), shared with the JSON log lines.

using text::append_json_escaped;

// Appends `"s"` (quoted and escaped).
void append_string(std::string& out, std::string_view s) {
  out.push_back('"');
  append_json_escaped(out, s);
  out.push_back('"');
}

// Appends `,"key":"value"`; `key` must not need escaping.
void append_field(std::string& out, std::string_view key, std::string_view value) {
  out.append(",\"");
  out.append(key);
  out.append("\":");
  append_string(out, value);
}

// Room for a value once escaped: most strings need none, and the string grows if it must.
std::size_t estimate(std::string_view s) { return s.size() + 8; }

// Appends an integer in decimal.
template <class Int>
void append_integer(std::string& out, Int v) {
  char num[24];
  const auto res = std::to_chars(num, num + sizeof num, v);
  out.append(num, res.ptr);
}

// Appends `,"body":BODY`: JSON text already (validated when the sender's frame was decoded), written
// verbatim; an empty body is written as null.
void append_body(std::string& out, std::string_view body) {
  out.append(",\"body\":");
  if (body.empty()) {
    out.append("null");
  } else {
    out.append(body);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding helpers.

DecodeError make_error(ErrorCode code, std::string message, const std::optional<std::string>& ref) {
  return DecodeError{code, std::move(message), ref};
}

// ---------------------------------------------------------------------------------------------
// Locating a member's value in the frame text.
//
// These helpers run only on text that Boost.JSON has already accepted with the options above (so:
// strict JSON, valid UTF-8, no comments, no trailing commas, an object at the root). They still
// check every index against the end of the text, so a broken precondition yields "not found"
// rather than an out-of-bounds read. No recursion (nesting is tracked with a counter), no I/O, no
// allocation. Strings, most of a frame's bytes, are crossed with memchr.

// Byte classes (bit flags) for the scanner.
constexpr unsigned char kScanQuote = 1;  // '"'
constexpr unsigned char kScanOpen = 2;   // '{' '['
constexpr unsigned char kScanClose = 4;  // '}' ']'
constexpr unsigned char kScanWs = 8;     // the four JSON whitespace bytes
constexpr unsigned char kScanEnd = 16;   // ends a number or literal: ',' '}' ']' or whitespace

constexpr std::array<unsigned char, 256> make_scan_table() {
  std::array<unsigned char, 256> t{};
  t['"'] = kScanQuote;
  t['{'] = kScanOpen;
  t['['] = kScanOpen;
  t['}'] = kScanClose | kScanEnd;
  t[']'] = kScanClose | kScanEnd;
  t[','] = kScanEnd;
  for (char c : {' ', '\t', '\n', '\r'}) t[static_cast<unsigned char>(c)] = kScanWs | kScanEnd;
  return t;
}
constexpr std::array<unsigned char, 256> kScan = make_scan_table();

unsigned char scan_class(std::string_view t, std::size_t i) { return kScan[static_cast<unsigned char>(t[i])]; }

std::size_t skip_ws(std::string_view t, std::size_t i) {
  while (i < t.size() && (scan_class(t, i) & kScanWs) != 0) ++i;
  return i;
}

// `i` is at an opening '"'; returns the index just past the closing '"' (or t.size()).
// A '"' inside the string closes it unless escaped, i.e. unless an odd number of backslashes
// precede it (`\"` is escaped, `\\"` is an escaped backslash then the end). The run of backslashes
// cannot reach back past the opening quote.
std::size_t skip_string(std::string_view t, std::size_t i) {
  const char* const p = t.data();
  const std::size_t first = i + 1;
  std::size_t from = first;
  while (from < t.size()) {
    const void* q = std::memchr(p + from, '"', t.size() - from);
    if (q == nullptr) break;
    const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(q) - p);
    std::size_t run = at;
    while (run > first && p[run - 1] == '\\') --run;
    if (((at - run) & 1U) == 0) return at + 1;
    from = at + 1;
  }
  return t.size();
}

// `i` is at the first byte of a value; returns the index just past it (or t.size()).
std::size_t skip_value(std::string_view t, std::size_t i) {
  if (i >= t.size()) return t.size();
  const unsigned char first = scan_class(t, i);
  if (first == kScanQuote) return skip_string(t, i);
  if (first == kScanOpen) {
    std::size_t depth = 0;
    while (i < t.size()) {
      const unsigned char k = scan_class(t, i) & (kScanQuote | kScanOpen | kScanClose);
      if (k == 0) {
        ++i;
      } else if (k == kScanQuote) {
        i = skip_string(t, i);
      } else if (k == kScanOpen) {
        ++depth;
        ++i;
      } else {
        if (--depth == 0) return i + 1;
        ++i;
      }
    }
    return t.size();
  }
  // A number, true, false or null: runs up to a delimiter.
  while (i < t.size() && (scan_class(t, i) & kScanEnd) == 0) ++i;
  return i;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Whether the raw contents of a JSON string (between the quotes, escapes not yet decoded) decode
// to `want`, which must be plain ASCII (a member name such as "body"). An escape that decodes to a
// code point above U+007F can never match an ASCII name, so it is a mismatch; raw bytes (UTF-8
// included) are compared as they are.
bool decoded_equals_ascii(std::string_view raw, std::string_view want) {
  std::size_t i = 0;
  std::size_t k = 0;
  while (i < raw.size()) {
    char c = raw[i];
    if (c == '\\') {
      if (i + 1 >= raw.size()) return false;
      switch (raw[i + 1]) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
          if (i + 6 > raw.size()) return false;
          unsigned cp = 0;
          for (std::size_t h = i + 2; h < i + 6; ++h) {
            const int d = hex_digit(raw[h]);
            if (d < 0) return false;
            cp = cp * 16 + static_cast<unsigned>(d);
          }
          if (cp > 0x7F) return false;
          c = static_cast<char>(cp);
          i += 4;  // the 4 hex digits; the 2-byte head is skipped below
          break;
        }
        default: return false;
      }
      i += 2;
    } else {
      ++i;
    }
    if (k >= want.size() || want[k] != c) return false;
    ++k;
  }
  return k == want.size();
}

// The exact text of the value of the frame object's top-level member named `name` (compared on the
// decoded key, so "b\u006fdy" is "body"), or an empty view when there is none. Members of nested
// values and look-alikes inside strings are skipped. When a name appears more than once the LAST
// occurrence is returned: the rule FrameHandler applies to every member, and the one json::parse
// keeps (boost/json/impl/object.ipp, "keeping the last of any duplicate keys"), so the body is
// always the member the other checks saw. A unit test pins this behaviour.
std::string_view top_level_member_text(std::string_view t, std::string_view name) {
  std::string_view found;
  std::size_t i = skip_ws(t, 0);
  if (i >= t.size() || t[i] != '{') return found;
  i = skip_ws(t, i + 1);
  while (i < t.size() && t[i] == '"') {
    const std::size_t key_end = skip_string(t, i);
    if (key_end < i + 2) return {};
    const std::string_view raw_key = t.substr(i + 1, key_end - i - 2);
    i = skip_ws(t, key_end);
    if (i >= t.size() || t[i] != ':') return {};
    const std::size_t value_begin = skip_ws(t, i + 1);
    const std::size_t value_end = skip_value(t, value_begin);
    if (value_end <= value_begin) return {};
    if (decoded_equals_ascii(raw_key, name)) {
      found = t.substr(value_begin, value_end - value_begin);
    }
    i = skip_ws(t, value_end);
    if (i < t.size() && t[i] == ',') i = skip_ws(t, i + 1);
  }
  return found;
}

}  // namespace

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_json: return "bad_json";
    case ErrorCode::bad_request: return "bad_request";
    case ErrorCode::unknown_type: return "unknown_type";
    case ErrorCode::bad_recipient: return "bad_recipient";
    case ErrorCode::rate_limited: return "rate_limited";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::binary_unsupported: return "binary_unsupported";
    case ErrorCode::internal: return "internal";
    case ErrorCode::bad_room: return "bad_room";
    case ErrorCode::too_many_rooms: return "too_many_rooms";
    case ErrorCode::not_allowed: return "not_allowed";
    case ErrorCode::not_joined: return "not_joined";
    case ErrorCode::room_full: return "room_full";
  }
  return "internal";
}

std::string_view to_string(AckStatus status) {
  switch (status) {
    case AckStatus::delivered: return "delivered";
    case AckStatus::offline: return "offline";
    case AckStatus::failed: return "failed";
  }
  return "failed";
}

std::string_view to_string(PublishStatus status) {
  switch (status) {
    case PublishStatus::delivered: return "delivered";
    case PublishStatus::no_members: return "no_members";
    case PublishStatus::failed: return "failed";
  }
  return "failed";
}

namespace {

// ---------------------------------------------------------------------------------------------
// Frame facts, gathered while Boost.JSON's parser validates the frame.
//
// json::basic_parser is the very parser json::parse runs (same grammar, options and limits: the
// handler below declares the same maximum sizes as Boost.JSON's own DOM handler), so a frame is
// accepted or refused exactly as by json::parse. Instead of building a DOM tree, the handler
// records only what the frame rules look at: the kind of the root value and, for the root
// object's members id, type, to, body, users, room, echo, notices, after and limit, their kind and
// (small) string, boolean or integer values. A member that appears more than once counts by its
// last occurrence, as in the tree json::parse builds.
// Strings are gathered into fixed buffers; a string too long for its buffer only records that it
// was too long (it is invalid for its field anyway).

template <std::size_t N>
struct SmallString {
  std::array<char, N> buf;
  std::size_t len = 0;
  bool too_long = false;

  void clear() {
    len = 0;
    too_long = false;
  }
  void append(json::string_view s) {
    if (too_long || s.size() > N - len) {
      too_long = true;
      return;
    }
    std::memcpy(buf.data() + len, s.data(), s.size());
    len += s.size();
  }
  std::string_view view() const { return {buf.data(), len}; }
};

enum class Field : unsigned char { other, id, type, to, body, users, room, echo, notices, after, limit };
// `integer`: a number the parser read as an int64 or uint64 (no fraction, no exponent, in range);
// any other number is `other`.
enum class Kind : unsigned char { object, array, string, boolean, integer, other };

struct MemberFacts {
  bool seen = false;
  Kind kind = Kind::other;
};

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

struct FrameFacts {
  bool root_is_object = false;
  MemberFacts id, type, to, body, users;
  SmallString<kMaxClientIdBytes> id_text;
  SmallString<8> type_text;  // "presence" is the longest known type
  SmallString<kMaxUserIdBytes> to_text;
  // Rooms:
  MemberFacts room, echo, notices, after, limit;
  SmallString<kMaxRoomNameBytes> room_text;
  SmallString<kMaxUserIdBytes> after_text;
  bool echo_value = false;        // when echo.kind is boolean
  bool notices_value = false;     // when notices.kind is boolean
  std::uint64_t limit_value = 0;  // when limit.kind is integer; a negative integer is 0
  // users, when it is an array:
  std::size_t user_count = 0;
  std::size_t first_non_string = kNone;
  std::size_t first_invalid = kNone;
  std::vector<std::string> user_names;  // the valid names of the first kMaxPresenceUsers, deduplicated
};

class FrameHandler {
 public:
  // The same limits as Boost.JSON's DOM handler (boost/json/detail/handler.hpp).
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  FrameFacts facts;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code&) {
    begin_value(Kind::object);
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    --depth_;
    return true;
  }
  bool on_array_begin(json::error_code&) {
    begin_value(Kind::array);
    if (depth_ == 1 && field_ == Field::users) in_users_ = true;
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    --depth_;
    if (depth_ == 1) in_users_ = false;
    return true;
  }

  // Keys: only the root object's (depth 1) matter; they arrive decoded, possibly in parts.
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (depth_ == 1) key_.append(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    if (depth_ == 1) {
      key_.append(s);
      field_ = classify(key_);
      key_.clear();
    }
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (!in_string_) {
      begin_value(Kind::string);
      in_string_ = true;
    }
    append_string(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    if (!in_string_) begin_value(Kind::string);
    in_string_ = false;
    append_string(s);
    if (target_ == Target::user) end_user_name();
    target_ = Target::none;
    return true;
  }

  // A number is one value whatever the parts it arrives in: it is counted at its end, once its
  // kind (integer or not) is known. Nothing else happens between its parts.
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t v, json::string_view, json::error_code&) {
    begin_value(Kind::integer, v < 0 ? 0 : static_cast<std::uint64_t>(v));
    return true;
  }
  bool on_uint64(std::uint64_t v, json::string_view, json::error_code&) {
    begin_value(Kind::integer, v);
    return true;
  }
  bool on_double(double, json::string_view, json::error_code&) {
    begin_value(Kind::other);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    begin_value(Kind::boolean, b ? 1 : 0);
    return true;
  }
  bool on_null(json::error_code&) {
    begin_value(Kind::other);
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }  // comments are refused
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  enum class Target : unsigned char { none, id, type, to, user, room, after };

  // The longest key looked at is "notices" (7 bytes).
  static Field classify(const SmallString<8>& key) {
    if (key.too_long) return Field::other;
    const std::string_view k = key.view();
    if (k == "id") return Field::id;
    if (k == "type") return Field::type;
    if (k == "to") return Field::to;
    if (k == "body") return Field::body;
    if (k == "users") return Field::users;
    if (k == "room") return Field::room;
    if (k == "echo") return Field::echo;
    if (k == "notices") return Field::notices;
    if (k == "after") return Field::after;
    if (k == "limit") return Field::limit;
    return Field::other;
  }

  // Called once at the start of every value, before depth_ counts it if it is a container (for a
  // number or a boolean: once, with its value in `scalar`, 1 for true).
  void begin_value(Kind kind, std::uint64_t scalar = 0) {
    FrameFacts& f = facts;
    if (depth_ == 0) {
      f.root_is_object = kind == Kind::object;
      return;
    }
    if (depth_ == 1) {  // the value of the root member whose key was last seen
      switch (field_) {
        case Field::id:
          f.id = {true, kind};
          f.id_text.clear();
          if (kind == Kind::string) target_ = Target::id;
          break;
        case Field::type:
          f.type = {true, kind};
          f.type_text.clear();
          if (kind == Kind::string) target_ = Target::type;
          break;
        case Field::to:
          f.to = {true, kind};
          f.to_text.clear();
          if (kind == Kind::string) target_ = Target::to;
          break;
        case Field::body: f.body = {true, kind}; break;
        case Field::users:
          f.users = {true, kind};
          f.user_count = 0;
          f.first_non_string = kNone;
          f.first_invalid = kNone;
          f.user_names.clear();
          break;
        case Field::room:
          f.room = {true, kind};
          f.room_text.clear();
          if (kind == Kind::string) target_ = Target::room;
          break;
        case Field::echo:
          f.echo = {true, kind};
          f.echo_value = kind == Kind::boolean && scalar != 0;
          break;
        case Field::notices:
          f.notices = {true, kind};
          f.notices_value = kind == Kind::boolean && scalar != 0;
          break;
        case Field::after:
          f.after = {true, kind};
          f.after_text.clear();
          if (kind == Kind::string) target_ = Target::after;
          break;
        case Field::limit:
          f.limit = {true, kind};
          f.limit_value = kind == Kind::integer ? scalar : 0;
          break;
        case Field::other: break;
      }
      return;
    }
    if (depth_ == 2 && in_users_) {  // an element of the users array
      const std::size_t index = f.user_count++;
      if (kind != Kind::string) {
        if (f.first_non_string == kNone) f.first_non_string = index;
      } else {
        user_.clear();
        target_ = Target::user;
      }
    }
  }

  void append_string(json::string_view s) {
    switch (target_) {
      case Target::none: break;
      case Target::id: facts.id_text.append(s); break;
      case Target::type: facts.type_text.append(s); break;
      case Target::to: facts.to_text.append(s); break;
      case Target::user: user_.append(s); break;
      case Target::room: facts.room_text.append(s); break;
      case Target::after: facts.after_text.append(s); break;
    }
  }

  void end_user_name() {
    FrameFacts& f = facts;
    const std::size_t index = f.user_count - 1;
    if (user_.too_long || !valid_user_id(user_.view())) {
      if (f.first_invalid == kNone) f.first_invalid = index;
      return;
    }
    // Past kMaxPresenceUsers the frame is refused: only count. At most 100 names: a linear scan
    // for duplicates is cheaper than a set.
    if (index >= kMaxPresenceUsers) return;
    const std::string_view name = user_.view();
    for (const std::string& prev : f.user_names) {
      if (prev == name) return;
    }
    f.user_names.emplace_back(name);
  }

  std::size_t depth_ = 0;  // containers open around the next value
  Field field_ = Field::other;
  Target target_ = Target::none;
  bool in_users_ = false;  // inside the root's users array (at depth_ 2)
  bool in_string_ = false;
  SmallString<8> key_;
  SmallString<kMaxUserIdBytes> user_;
};

// join, leave, publish and members, once the type and id are known good: the room first (missing or
// ill-typed: bad_request; an invalid name: bad_room), then the type's own fields.
DecodeResult decode_room_frame(std::string_view text, std::string_view type, FrameFacts& f,
                               std::optional<std::string> id) {
  if (!f.room.seen) {
    return make_error(ErrorCode::bad_request, "missing field 'room'", id);
  }
  if (f.room.kind != Kind::string) {
    return make_error(ErrorCode::bad_request, "field 'room' must be a string", id);
  }
  if (f.room_text.too_long || !valid_room_name(f.room_text.view())) {
    return make_error(ErrorCode::bad_room, "field 'room' is not a valid room name (1-128 bytes of [A-Za-z0-9._@:/-])",
                      id);
  }
  std::string room(f.room_text.view());

  if (type == "join") {
    if (f.echo.seen && f.echo.kind != Kind::boolean) {
      return make_error(ErrorCode::bad_request, "field 'echo' must be a boolean", id);
    }
    if (f.notices.seen && f.notices.kind != Kind::boolean) {
      return make_error(ErrorCode::bad_request, "field 'notices' must be a boolean", id);
    }
    JoinFrame out;
    out.room = std::move(room);
    out.echo = f.echo.seen && f.echo_value;
    out.notices = f.notices.seen && f.notices_value;
    out.id = std::move(id);
    return out;
  }

  if (type == "leave") {
    return LeaveFrame{std::move(room), std::move(id)};
  }

  if (type == "publish") {
    if (!f.body.seen) {  // present-but-null is a valid body, as in a send
      return make_error(ErrorCode::bad_request, "missing field 'body'", id);
    }
    // The body exactly as the client wrote it, the last "body" member (see the send frame).
    const std::string_view body_text = top_level_member_text(text, "body");
    if (body_text.empty()) {
      // Unreachable while the scanner agrees with the parser (the tests check that it does).
      return make_error(ErrorCode::internal, "body not located", id);
    }
    PublishFrame out;
    out.room = std::move(room);
    out.body.assign(body_text);
    out.id = std::move(id);
    return out;
  }

  // members
  if (f.after.seen && (f.after.kind != Kind::string || f.after_text.too_long || !valid_user_id(f.after_text.view()))) {
    return make_error(ErrorCode::bad_request, "field 'after' must be a valid user id", id);
  }
  if (f.limit.seen && (f.limit.kind != Kind::integer || f.limit_value < 1 || f.limit_value > kMaxMembersLimit)) {
    return make_error(ErrorCode::bad_request, "field 'limit' must be an integer from 1 to 1000", id);
  }
  MembersFrame out;
  out.room = std::move(room);
  if (f.after.seen) out.after.assign(f.after_text.view());
  if (f.limit.seen) out.limit = static_cast<std::size_t>(f.limit_value);
  out.id = std::move(id);
  return out;
}

DecodeResult decode_impl(std::string_view text) {
  json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  opts.allow_comments = false;
  opts.allow_trailing_commas = false;
  opts.allow_invalid_utf8 = false;

  // What json::parse does, without the tree: one complete write, nothing may follow the value.
  json::basic_parser<FrameHandler> parser(opts);
  json::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec || used < text.size()) {
    return make_error(ErrorCode::bad_json, "frame is not valid JSON", std::nullopt);
  }
  FrameFacts& f = parser.handler().facts;
  if (!f.root_is_object) {
    return make_error(ErrorCode::bad_request, "frame must be a JSON object", std::nullopt);
  }

  // The id first: when it is valid, every refusal of this frame echoes it as `ref`.
  std::optional<std::string> id;
  bool id_invalid = false;
  if (f.id.seen) {
    if (f.id.kind != Kind::string || f.id_text.too_long) {
      id_invalid = true;
    } else {
      id.emplace(f.id_text.view());
    }
  }

  if (!f.type.seen) {
    return make_error(ErrorCode::bad_request, "missing field 'type'", id);
  }
  if (f.type.kind != Kind::string) {
    return make_error(ErrorCode::bad_request, "field 'type' must be a string", id);
  }
  // A type longer than the buffer is none of the known ones.
  const std::string_view type = f.type_text.too_long ? std::string_view() : f.type_text.view();
  const bool room_frame = type == "join" || type == "leave" || type == "publish" || type == "members";
  if (type != "send" && type != "presence" && type != "ping" && !room_frame) {
    return make_error(ErrorCode::unknown_type, "unknown frame type", id);
  }
  if (id_invalid) {
    return make_error(ErrorCode::bad_request, "field 'id' must be a string of at most 64 bytes", std::nullopt);
  }

  if (type == "ping") {
    return PingFrame{std::move(id)};
  }

  if (type == "send") {
    if (!f.to.seen) {
      return make_error(ErrorCode::bad_request, "missing field 'to'", id);
    }
    if (f.to.kind != Kind::string) {
      return make_error(ErrorCode::bad_request, "field 'to' must be a string", id);
    }
    if (!f.body.seen) {  // present-but-null is a valid body
      return make_error(ErrorCode::bad_request, "missing field 'body'", id);
    }
    if (f.to_text.too_long || !valid_user_id(f.to_text.view())) {
      return make_error(ErrorCode::bad_recipient, "field 'to' is not a valid user id (1-128 bytes of [A-Za-z0-9._@:-])",
                        id);
    }
    // The body exactly as the client wrote it. The parser has validated the whole frame, so the
    // slice is valid JSON text (valid UTF-8, whitespace only of the four JSON kinds). Duplicate
    // "body" members are accepted, as before; the last one counts (see top_level_member_text).
    const std::string_view body_text = top_level_member_text(text, "body");
    if (body_text.empty()) {
      // Unreachable while the scanner agrees with the parser (the tests check that it does).
      return make_error(ErrorCode::internal, "body not located", id);
    }
    SendFrame out;
    out.to.assign(f.to_text.view());
    out.body.assign(body_text);
    out.id = std::move(id);
    return out;
  }

  if (room_frame) {
    return decode_room_frame(text, type, f, std::move(id));
  }

  // presence
  if (!f.users.seen) {
    return make_error(ErrorCode::bad_request, "missing field 'users'", id);
  }
  if (f.users.kind != Kind::array) {
    return make_error(ErrorCode::bad_request, "field 'users' must be an array of strings", id);
  }
  if (f.user_count > kMaxPresenceUsers) {
    return make_error(ErrorCode::bad_request, "field 'users' lists more than 100 users", id);
  }
  // Structure first (every element a string), then validity: an ill-typed element is bad_request
  // even when an earlier element is an invalid id.
  if (f.first_non_string != kNone) {
    return make_error(ErrorCode::bad_request, "users[" + std::to_string(f.first_non_string) + "] must be a string", id);
  }
  if (f.first_invalid != kNone) {
    return make_error(ErrorCode::bad_recipient, "users[" + std::to_string(f.first_invalid) + "] is not a valid user id",
                      id);
  }
  PresenceFrame out;
  out.users = std::move(f.user_names);  // first-seen order, duplicates dropped
  out.id = std::move(id);
  return out;
}

}  // namespace

DecodeResult decode_client_frame(std::string_view text) {
  try {
    return decode_impl(text);
  } catch (...) {
    // Only allocation failure can get here (Boost.JSON reports bad input through error codes).
    // The message fits the small-string buffer so building the error does not allocate.
    return DecodeError{ErrorCode::internal, "out of memory", std::nullopt};
  }
}

// ---------------------------------------------------------------------------------------------
// Encoders.

std::string encode_welcome(std::string_view user, std::string_view session, std::string_view node) {
  std::string out;
  out.reserve(48 + estimate(user) + estimate(session) + estimate(node));
  out.append("{\"type\":\"welcome\"");
  append_field(out, "user", user);
  append_field(out, "session", session);
  append_field(out, "node", node);
  out.push_back('}');
  return out;
}

std::string encode_message(std::string_view id, std::string_view from, std::string_view to, std::string_view body,
                           int64_t ts_ms) {
  std::string out;
  out.reserve(64 + estimate(id) + estimate(from) + estimate(to) + body.size() + 20);
  out.append("{\"type\":\"message\"");
  append_field(out, "id", id);
  append_field(out, "from", from);
  append_field(out, "to", to);
  append_body(out, body);
  out.append(",\"ts\":");
  append_integer(out, ts_ms);
  out.push_back('}');
  return out;
}

std::string encode_ack(std::string_view ref, std::string_view id, AckStatus status, std::string_view reason) {
  std::string out;
  out.reserve(64 + estimate(ref) + estimate(id) + estimate(reason));
  out.append("{\"type\":\"ack\"");
  append_field(out, "ref", ref);
  append_field(out, "id", id);
  append_field(out, "status", to_string(status));
  if (!reason.empty()) append_field(out, "reason", reason);
  out.push_back('}');
  return out;
}

std::string encode_presence(const std::optional<std::string>& ref,
                            const std::vector<std::pair<std::string, bool>>& users) {
  std::size_t need = 40 + (ref ? estimate(*ref) : 0);
  for (const auto& [name, online] : users) need += estimate(name) + 6;
  std::string out;
  out.reserve(need);
  out.append("{\"type\":\"presence\"");
  if (ref) append_field(out, "ref", *ref);
  out.append(",\"users\":{");
  bool first = true;
  for (const auto& [name, online] : users) {
    if (!first) out.push_back(',');
    first = false;
    append_string(out, name);
    out.append(online ? ":true" : ":false");
  }
  out.append("}}");
  return out;
}

std::string encode_pong(const std::optional<std::string>& ref) {
  std::string out;
  out.reserve(24 + (ref ? estimate(*ref) : 0));
  out.append("{\"type\":\"pong\"");
  if (ref) append_field(out, "ref", *ref);
  out.push_back('}');
  return out;
}

std::string encode_error(ErrorCode code, std::string_view message, const std::optional<std::string>& ref) {
  std::string out;
  out.reserve(56 + estimate(message) + (ref ? estimate(*ref) : 0));
  out.append("{\"type\":\"error\"");
  append_field(out, "code", to_string(code));
  append_field(out, "message", message);
  if (ref) append_field(out, "ref", *ref);
  out.push_back('}');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Room encoders.

std::string encode_room_ack(std::string_view ref, std::string_view status, std::string_view room) {
  std::string out;
  out.reserve(48 + estimate(ref) + estimate(status) + estimate(room));
  out.append("{\"type\":\"ack\"");
  append_field(out, "ref", ref);
  append_field(out, "status", status);
  append_field(out, "room", room);
  out.push_back('}');
  return out;
}

std::string encode_room_by_server(std::string_view status, std::string_view room) {
  std::string out;
  out.reserve(48 + estimate(status) + estimate(room));
  out.append("{\"type\":");
  append_string(out, status);
  append_field(out, "room", room);
  out.append(",\"by\":\"server\"}");
  return out;
}

std::string encode_publish_ack(std::string_view ref, std::string_view id, std::string_view room, PublishStatus status,
                               uint64_t sessions, std::string_view reason) {
  std::string out;
  out.reserve(96 + estimate(ref) + estimate(id) + estimate(room) + estimate(reason));
  out.append("{\"type\":\"ack\"");
  append_field(out, "ref", ref);
  append_field(out, "id", id);
  append_field(out, "status", to_string(status));
  append_field(out, "room", room);
  out.append(",\"sessions\":");
  append_integer(out, sessions);
  if (!reason.empty()) append_field(out, "reason", reason);
  out.push_back('}');
  return out;
}

std::string encode_room_message(std::string_view room, std::string_view id, std::string_view from,
                                std::string_view body, int64_t ts_ms) {
  std::string out;
  out.reserve(64 + estimate(room) + estimate(id) + estimate(from) + body.size() + 20);
  out.append("{\"type\":\"message\"");
  append_field(out, "room", room);
  append_field(out, "id", id);
  append_field(out, "from", from);
  append_body(out, body);
  out.append(",\"ts\":");
  append_integer(out, ts_ms);
  out.push_back('}');
  return out;
}

std::string encode_room_notice(std::string_view room, std::string_view event, std::string_view user, int64_t ts_ms) {
  std::string out;
  out.reserve(64 + estimate(room) + estimate(event) + estimate(user) + 20);
  out.append("{\"type\":\"notice\"");
  append_field(out, "room", room);
  append_field(out, "event", event);
  append_field(out, "user", user);
  out.append(",\"ts\":");
  append_integer(out, ts_ms);
  out.push_back('}');
  return out;
}

std::string encode_members(const std::optional<std::string>& ref, std::string_view room,
                           const std::vector<std::string>& users, std::string_view next, bool partial) {
  std::size_t need = 64 + (ref ? estimate(*ref) : 0) + estimate(room) + estimate(next);
  for (const std::string& name : users) need += estimate(name) + 1;
  std::string out;
  out.reserve(need);
  out.append("{\"type\":\"members\"");
  if (ref) append_field(out, "ref", *ref);
  append_field(out, "room", room);
  out.append(",\"users\":[");
  bool first = true;
  for (const std::string& name : users) {
    if (!first) out.push_back(',');
    first = false;
    append_string(out, name);
  }
  out.push_back(']');
  if (!next.empty()) append_field(out, "next", next);
  if (partial) out.append(",\"partial\":true");
  out.push_back('}');
  return out;
}

}  // namespace wsg::proto
