// Static files on the node's port (`http.static_dir` in man/wsg.1; docs/demo.md, "How the node
// serves it"): the demo page of examples/web, then a temporary tree for what must never be served
// (traversal, symlinks out, hidden files).
#include "test_util.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <filesystem>
#include <fstream>

using namespace wsg::it;

namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

// One request with any method and a raw target (sent as given: no normalization), bounded.
HttpResponse request(uint16_t port, http::verb method, const std::string& target,
                     std::chrono::milliseconds timeout = 3000ms) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  HttpResponse out;
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::user_agent, "wsg-integration-tests");
  if (method == http::verb::post) req.body() = "x=1";
  req.prepare_payload();
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  if (method == http::verb::head) parser.skip(true);  // the answer to HEAD has no body
  const net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  stream.expires_after(timeout);
  stream.async_connect(ep, [&](beast::error_code ec) {
    if (ec) {
      out.error = "connect: " + ec.message();
      return;
    }
    http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
      if (ec) {
        out.error = "write: " + ec.message();
        return;
      }
      http::async_read(stream, buf, parser, [&](beast::error_code ec, std::size_t) {
        if (ec) {
          out.error = "read: " + ec.message();
          return;
        }
        auto& res = parser.get();
        out.status = res.result_int();
        out.body = res.body();
        for (const auto& f : res) {
          std::string name(f.name_string());
          for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          out.headers[name] = std::string(f.value());
        }
      });
    });
  });
  ioc.run();
  beast::error_code ignored;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << text;
}

ClusterOptions one_node_serving(const fs::path& dir) {
  ClusterOptions o;
  o.nodes = 1;
  o.node_specs = {NodeSpec{"", {"--static-dir", dir.string()}}};
  return o;
}

}  // namespace

TEST_CASE("static files: the demo page and its scripts are served from http.static_dir", "[integration]") {
  const fs::path web = repo_root() / "examples" / "web";
  Cluster c(one_node_serving(web));
  const uint16_t port = c.ws_port(0);

  struct Expect {
    std::string target;
    fs::path file;
    std::string type;
  };
  for (const auto& e : std::vector<Expect>{{"/", "index.html", "text/html; charset=utf-8"},
                                           {"/index.html", "index.html", "text/html; charset=utf-8"},
                                           {"/wsg-client.js", "wsg-client.js", "text/javascript; charset=utf-8"},
                                           {"/app.js?v=2", "app.js", "text/javascript; charset=utf-8"},
                                           {"/style.css", "style.css", "text/css; charset=utf-8"}}) {
    auto r = http_get(port, e.target);
    INFO("GET " << e.target << ": " << r.status << " " << r.error);
    REQUIRE(r.status == 200);
    CHECK(r.body == read_file(web / e.file));
    CHECK(r.headers["content-type"] == e.type);
    CHECK(r.headers["cache-control"] == "no-cache");
    CHECK(r.headers["x-content-type-options"] == "nosniff");
    CHECK(r.headers["content-security-policy"].find("connect-src 'self' ws: wss:") != std::string::npos);
  }
  CHECK(http_get(port, "/wsg-client.js").body.find("class WsgClient") != std::string::npos);

  // HEAD: the same headers, no body
  auto get = http_get(port, "/");
  auto head = request(port, http::verb::head, "/");
  INFO("HEAD /: " << head.status << " " << head.error);
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.headers["content-length"] == std::to_string(get.body.size()));
  CHECK(head.headers["content-type"] == "text/html; charset=utf-8");

  // other methods: 405 with Allow
  for (auto verb : {http::verb::post, http::verb::put, http::verb::delete_}) {
    auto r = request(port, verb, "/");
    INFO(http::to_string(verb) << " /: " << r.status << " " << r.error);
    CHECK(r.status == 405);
    CHECK(r.headers["allow"] == "GET, HEAD");
  }

  // /metrics and /healthz answer GET and HEAD only (never fall through to the static files)
  for (const char* target : {"/metrics", "/healthz"}) {
    auto r = request(port, http::verb::post, target);
    INFO("POST " << target << ": " << r.status << " " << r.error);
    CHECK(r.status == 405);
    CHECK(r.headers["allow"] == "GET, HEAD");
  }

  // /ws and /healthz keep their meaning
  auto h = http_get(port, "/healthz");
  CHECK(h.status == 200);
  CHECK_NOTHROW(parse_object(h.body));
  CHECK(http_get(port, "/ws?user=alice").status == 426);
  join(c, 0, "alice");
}

TEST_CASE("static files: traversal attempts hidden files and symlinks out of the root are refused", "[integration]") {
  // TMP/secret.txt outside the root, TMP/www the root, TMP/www-other a sibling with a longer name
  const fs::path dir = test_dir() / "static";
  const fs::path root = dir / "www";
  write_file(dir / "secret.txt", "top secret\n");
  write_file(dir / "www-other" / "x.txt", "sibling\n");
  write_file(root / "index.html", "<!doctype html><title>root</title>\n");
  write_file(root / "sub" / "page.txt", "page\n");
  write_file(root / ".env", "KEY=1\n");
  fs::create_symlink("../secret.txt", root / "out");
  fs::create_directory_symlink("..", root / "up");
  fs::create_symlink("../www-other/x.txt", root / "sibling");
  fs::create_symlink("sub/page.txt", root / "in");
  Cluster c(one_node_serving(root));
  const uint16_t port = c.ws_port(0);

  const std::vector<std::string> bad = {"/../secret.txt",
                                        "/../../../../etc/passwd",
                                        "/%2e%2e/secret.txt",
                                        "/%2E%2E/secret.txt",
                                        "/%2e%2e%2fsecret.txt",
                                        "/sub/%2e%2e/%2e%2e/secret.txt",
                                        "/..%2f..%2fetc%2fpasswd",
                                        "/sub/..",
                                        "/./index.html",
                                        "/..%5csecret.txt",
                                        "/sub%5c..%5c..%5csecret.txt",
                                        "/index.html%00.txt",
                                        "/%00"};
  for (const std::string& target : bad) {
    auto r = http_get(port, target);
    INFO("GET " << target << ": " << r.status << " " << r.error << " " << r.body);
    CHECK(r.status == 400);
    CHECK(r.body.find("secret") == std::string::npos);
  }
  const std::vector<std::string> missing = {
      "/out", "/up/secret.txt", "/up/www-other/x.txt", "/sibling",        "/.env", "/sub/",
      "/sub", "/missing",       "/secret.txt",         "/www-other/x.txt"};
  for (const std::string& target : missing) {
    auto r = http_get(port, target);
    INFO("GET " << target << ": " << r.status << " " << r.error << " " << r.body);
    CHECK(r.status == 404);
    CHECK(r.body.find("secret") == std::string::npos);
  }
  // a symlink that stays inside the root is followed; a malformed target is refused by the parser
  auto in = http_get(port, "/in");
  CHECK(in.status == 200);
  CHECK(in.body == "page\n");
  CHECK(http_get(port, "/%zz").status == 400);
  CHECK(http_get(port, "/").body == "<!doctype html><title>root</title>\n");
}

TEST_CASE("a node whose http.static_dir is not a directory exits 2 naming the key", "[integration]") {
  const fs::path missing = test_dir() / "no-such-dir";
  const fs::path file = test_dir() / "a-file";
  write_file(file, "x");
  for (const fs::path& p : {missing, file}) {
    auto r = run_command(wsg_binary(),
                         {"node", "--listen", "127.0.0.1:" + std::to_string(free_port()), "--master",
                          "tcp://127.0.0.1:" + std::to_string(free_port()), "--events-bind",
                          "tcp://127.0.0.1:" + std::to_string(free_port()), "--static-dir", p.string()},
                         10000ms);
    INFO("static_dir " << p << ": exit " << (r.exit_code ? std::to_string(*r.exit_code) : "none")
                       << " stderr: " << r.err);
    REQUIRE(r.exit_code.has_value());
    CHECK(*r.exit_code == 2);
    CHECK(r.err.find("http.static_dir") != std::string::npos);
  }
}
