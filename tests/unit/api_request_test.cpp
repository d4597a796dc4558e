// The server API's request validation and answers (src/proto/api_request.h).
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "proto/api_request.h"

using namespace wsg::proto;
using namespace wsg::proto::api;

namespace {

Limits small_limits() {
  Limits l;
  l.max_users = 3;
  l.max_batch = 2;
  l.max_body_bytes = 32;
  return l;
}

const Error& error_of(const std::variant<PublishRequest, Error>& r) {
  REQUIRE(std::holds_alternative<Error>(r));
  return std::get<Error>(r);
}

const Publish& only_publish(const std::variant<PublishRequest, Error>& r) {
  REQUIRE(std::holds_alternative<PublishRequest>(r));
  const auto& req = std::get<PublishRequest>(r);
  REQUIRE(req.items.size() == 1);
  REQUIRE(std::holds_alternative<Publish>(req.items[0]));
  return std::get<Publish>(req.items[0]);
}

}  // namespace

TEST_CASE("api publish: to one user, body kept verbatim, default from", "[api]") {
  const auto r = parse_publish(R"({"to":"alice","body": {"n": 1.50, "s":"\u00e9"} ,"id":"c1"})", Limits{});
  const auto& p = only_publish(r);
  CHECK(!std::get<PublishRequest>(r).batch);
  CHECK(p.target == Publish::Target::user);
  CHECK(p.users == std::vector<std::string>{"alice"});
  CHECK(p.body == R"({"n": 1.50, "s":"\u00e9"})");
  CHECK(p.ref == std::optional<std::string>("c1"));
  CHECK(p.from == "server");
}

TEST_CASE("api publish: users deduplicated, room, from", "[api]") {
  const auto r = parse_publish(R"({"users":["a","b","a"],"body":null,"from":"billing"})", Limits{});
  const auto& p = only_publish(r);
  CHECK(p.target == Publish::Target::users);
  CHECK(p.users == std::vector<std::string>{"a", "b"});
  CHECK(p.body == "null");
  CHECK(p.from == "billing");
  CHECK(!p.ref);
  const auto r2 = parse_publish(R"({"room":"lobby/1","body":"hi"})", Limits{});
  const auto& q = only_publish(r2);
  CHECK(q.target == Publish::Target::room);
  CHECK(q.room == "lobby/1");
  CHECK(q.body == "\"hi\"");
}

TEST_CASE("api publish: refusals", "[api]") {
  const auto l = small_limits();
  CHECK(error_of(parse_publish("{not json", l)).code == "bad_json");
  CHECK(error_of(parse_publish("", l)).code == "bad_json");
  CHECK(error_of(parse_publish(R"("text")", l)).code == "bad_request");
  CHECK(error_of(parse_publish(R"({"body":1})", l)).code == "bad_request");                      // no target
  CHECK(error_of(parse_publish(R"({"to":"a","room":"r","body":1})", l)).code == "bad_request");  // two targets
  CHECK(error_of(parse_publish(R"({"to":"a b","body":1})", l)).code == "bad_request");
  CHECK(error_of(parse_publish(R"({"to":7,"body":1})", l)).code == "bad_request");
  CHECK(error_of(parse_publish(R"({"to":"a"})", l)).code == "bad_request");  // no body
  CHECK(error_of(parse_publish(R"({"room":"bad room","body":1})", l)).code == "bad_request");
  CHECK(error_of(parse_publish(R"({"users":[],"body":1})", l)).code == "bad_request");
  CHECK(error_of(parse_publish(R"({"users":["a",2],"body":1})", l)).code == "bad_request");
  CHECK(error_of(parse_publish(R"({"to":"a","body":1,"from":"no spaces"})", l)).code == "bad_request");
  CHECK(error_of(parse_publish(R"({"to":"a","body":1,"id":5})", l)).code == "bad_request");
  CHECK(error_of(parse_publish(R"({"to":"a","body":1,"id":")" + std::string(65, 'x') + "\"}", l)).code ==
        "bad_request");
  const Error many = error_of(parse_publish(R"({"users":["a","b","c","d"],"body":1})", l));
  CHECK(many.code == "too_large");
  CHECK(many.status == 413);
  const Error big = error_of(parse_publish(R"({"to":"a","body":")" + std::string(40, 'x') + "\"}", l));
  CHECK(big.code == "too_large");
  // Nesting is bounded.
  CHECK(error_of(parse_publish(R"({"to":"a","body":)" + std::string(100, '[') + std::string(100, ']') + "}", Limits{}))
            .code == "bad_json");
}

TEST_CASE("api publish: arrays and batches answer per item", "[api]") {
  const auto l = small_limits();
  const auto r = parse_publish(R"([{"to":"a","body":[1, 2]}, {"to":"bad id","body":1}])", l);
  REQUIRE(std::holds_alternative<PublishRequest>(r));
  const auto& req = std::get<PublishRequest>(r);
  CHECK(req.batch);
  REQUIRE(req.items.size() == 2);
  REQUIRE(std::holds_alternative<Publish>(req.items[0]));
  CHECK(std::get<Publish>(req.items[0]).body == "[1, 2]");
  REQUIRE(std::holds_alternative<Error>(req.items[1]));
  CHECK(std::get<Error>(req.items[1]).code == "bad_request");

  const auto b = parse_batch(R"({"requests":[{"room":"r","body":{"x":"}"}}]})", l);
  REQUIRE(std::holds_alternative<PublishRequest>(b));
  REQUIRE(std::get<PublishRequest>(b).items.size() == 1);
  CHECK(std::get<Publish>(std::get<PublishRequest>(b).items[0]).body == R"({"x":"}"})");

  CHECK(error_of(parse_batch(R"({"requests":[{},{},{}]})", l)).code == "too_large");  // over max_batch
  CHECK(error_of(parse_batch(R"({"requests":[]})", l)).code == "bad_request");
  CHECK(error_of(parse_batch(R"({"requests":{}})", l)).code == "bad_request");
  CHECK(error_of(parse_batch(R"([])", l)).code == "bad_request");
  CHECK(error_of(parse_publish(R"([])", l)).code == "bad_request");
}

TEST_CASE("api user operations", "[api]") {
  auto d = parse_user_op(UserOpKind::disconnect, R"({"user":"alice","code":4001,"reason":"banned"})");
  REQUIRE(std::holds_alternative<UserOp>(d));
  CHECK(std::get<UserOp>(d).user == "alice");
  CHECK(std::get<UserOp>(d).code == 4001);
  CHECK(std::get<UserOp>(d).reason == "banned");
  auto dflt = parse_user_op(UserOpKind::disconnect, R"({"user":"alice"})");
  REQUIRE(std::holds_alternative<UserOp>(dflt));
  CHECK(std::get<UserOp>(dflt).code == 4000);
  for (const char* bad :
       {R"({"user":"alice","code":1000})", R"({"user":"alice","code":5000})", R"({"user":"alice","code":"4000"})",
        R"({"user":"alice","code":4000.5})", R"({"code":4000})", R"({"user":"a","reason":5})"}) {
    INFO(bad);
    auto e = parse_user_op(UserOpKind::disconnect, bad);
    REQUIRE(std::holds_alternative<Error>(e));
    CHECK(std::get<Error>(e).code == "bad_request");
  }
  auto long_reason = parse_user_op(UserOpKind::disconnect, R"({"user":"a","reason":")" + std::string(124, 'r') + "\"}");
  CHECK(std::holds_alternative<Error>(long_reason));
  auto j = parse_user_op(UserOpKind::join, R"({"user":"alice","room":"lobby"})");
  REQUIRE(std::holds_alternative<UserOp>(j));
  CHECK(std::get<UserOp>(j).room == "lobby");
  CHECK(std::holds_alternative<Error>(parse_user_op(UserOpKind::leave, R"({"user":"alice"})")));
  CHECK(std::get<Error>(parse_user_op(UserOpKind::join, "[")).code == "bad_json");
}

TEST_CASE("api presence and members queries", "[api]") {
  auto u = presence_users({"a", "b", "a"});
  REQUIRE(std::holds_alternative<std::vector<std::string>>(u));
  CHECK(std::get<std::vector<std::string>>(u) == std::vector<std::string>{"a", "b"});
  CHECK(std::holds_alternative<Error>(presence_users({})));
  CHECK(std::holds_alternative<Error>(presence_users({"a", "b c"})));
  CHECK(std::get<Error>(presence_users(std::vector<std::string>(kMaxPresenceUsers + 1, "a"))).status == 413);

  auto m = members_query("lobby", "bob", "10");
  REQUIRE(std::holds_alternative<MembersFrame>(m));
  CHECK(std::get<MembersFrame>(m).after == "bob");
  CHECK(std::get<MembersFrame>(m).limit == 10);
  CHECK(std::get<MembersFrame>(members_query("lobby", "", "")).limit == kDefaultMembersLimit);
  CHECK(std::holds_alternative<Error>(members_query("bad room", "", "")));
  CHECK(std::holds_alternative<Error>(members_query("lobby", "", "0")));
  CHECK(std::holds_alternative<Error>(members_query("lobby", "", "1001")));
  CHECK(std::holds_alternative<Error>(members_query("lobby", "", "10x")));
  CHECK(std::holds_alternative<Error>(members_query("lobby", "x y", "")));
}

TEST_CASE("api answers", "[api]") {
  namespace json = boost::json;
  CHECK(json::parse(encode_error("bad_json", "no \"quote\"")) ==
        json::parse(R"({"error":"bad_json","message":"no \"quote\""})"));
  Publish p;
  p.target = Publish::Target::users;
  p.users = {"a", "b"};
  p.ref = "c1";
  std::vector<UserResult> users{{"a", AckStatus::delivered, "m1", ""}, {"b", AckStatus::failed, "m2", "timeout"}};
  CHECK(json::parse(encode_publish_answer(p, users, {})) ==
        json::parse(R"({"ref":"c1","results":[{"user":"a","status":"delivered","id":"m1"},
                        {"user":"b","status":"failed","id":"m2","reason":"timeout"}]})"));
  p.target = Publish::Target::user;
  p.ref.reset();
  CHECK(json::parse(encode_publish_answer(p, {{"a", AckStatus::offline, "m1", ""}}, {})) ==
        json::parse(R"({"user":"a","status":"offline","id":"m1"})"));
  p.target = Publish::Target::room;
  p.room = "lobby";
  CHECK(json::parse(encode_publish_answer(p, {}, RoomResult{PublishStatus::no_members, 0, "r1", ""})) ==
        json::parse(R"({"room":"lobby","status":"no_members","sessions":0,"id":"r1"})"));
  CHECK(json::parse(encode_user_op_answer("a", AckStatus::offline, "")) ==
        json::parse(R"({"user":"a","status":"offline"})"));
}

TEST_CASE("json spans of validated text", "[api]") {
  CHECK(json_member_text(R"({"a":1,"body" : [1,{"b":"]"}] , "c":2})", "body") == R"([1,{"b":"]"}])");
  CHECK(json_member_text(R"({"body":1,"body":"2"})", "body") == "\"2\"");
  CHECK(json_member_text(R"([1])", "body").empty());
  const auto els = json_array_elements(R"( [ {"a":[1,2]} , "x,y" ,3 ] )");
  REQUIRE(els.size() == 3);
  CHECK(els[0] == R"({"a":[1,2]})");
  CHECK(els[1] == "\"x,y\"");
  CHECK(els[2] == "3");
  CHECK(json_array_elements("[]").empty());
  CHECK(json_array_elements("{}").empty());
}
