// StaticFiles (net/static_files.h): path resolution and containment, content types, responses.
// Each test case builds its own tree in a fresh temporary directory:
//   TMP/secret.txt             outside the root
//   TMP/www2/x.txt             a sibling whose name starts like the root's
//   TMP/www/                   the root: index.html, app.js, sub/index.html, sub/style.css,
//                              .hidden, .git/config, big.bin, and the symlinks and FIFO below
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "net/static_files.h"

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using wsg::StaticFiles;
using Outcome = StaticFiles::Outcome;

namespace {

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

struct Tree {
  fs::path tmp;
  fs::path root;

  Tree() {
    std::string pattern = (fs::temp_directory_path() / "wsg-static-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    tmp = pattern;
    root = tmp / "www";
    write_file(tmp / "secret.txt", "secret\n");
    write_file(tmp / "www2" / "x.txt", "sibling\n");
    write_file(root / "index.html", "<!doctype html><title>t</title>\n");
    write_file(root / "app.js", "console.log(1);\n");
    write_file(root / "sub" / "index.html", "<p>sub</p>\n");
    write_file(root / "sub" / "style.css", "body{}\n");
    write_file(root / ".hidden", "hidden\n");
    write_file(root / ".git" / "config", "[core]\n");
    write_file(root / "big.bin", std::string(100, 'x'));
    fs::create_symlink("app.js", root / "link-in");
    fs::create_symlink("../secret.txt", root / "link-out");
    fs::create_directory_symlink("..", root / "dirlink-out");
    fs::create_symlink("../www2/x.txt", root / "sibling");
    REQUIRE(::mkfifo((root / "fifo").c_str(), 0600) == 0);
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(tmp, ec);
  }
};

StaticFiles::Request request(http::verb method, const std::string& target, bool keep_alive = true) {
  StaticFiles::Request req{method, target, 11};
  req.keep_alive(keep_alive);
  return req;
}

std::string header(const StaticFiles::Response& res, const char* name) {
  auto it = res.find(name);
  return it == res.end() ? std::string() : std::string(it->value());
}

}  // namespace

TEST_CASE("static files: the root must be an existing directory", "[static]") {
  Tree t;
  CHECK_THROWS(StaticFiles(t.tmp / "nope"));
  CHECK_THROWS(StaticFiles(t.root / "app.js"));
  const StaticFiles files(t.root);
  CHECK(files.root() == fs::canonical(t.root));
  // a root reached through a symlink is canonicalized: files under it are still served
  fs::create_directory_symlink("www", t.tmp / "www-link");
  const StaticFiles linked(t.tmp / "www-link");
  CHECK(linked.resolve("/app.js").outcome == Outcome::ok);
}

TEST_CASE("static files: / and paths ending in a slash serve index.html", "[static]") {
  Tree t;
  const StaticFiles files(t.root);
  const auto root = fs::canonical(t.root);
  auto r = files.resolve("/");
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(r.file == root / "index.html");
  r = files.resolve("/sub/");
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(r.file == root / "sub" / "index.html");
  r = files.resolve("/app.js");
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(r.file == root / "app.js");
  r = files.resolve("/sub/style.css");
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(r.file == root / "sub" / "style.css");
  // empty segments are ignored
  r = files.resolve("//sub//style.css");
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(r.file == root / "sub" / "style.css");
}

TEST_CASE("static files: dot segments NUL and backslashes are bad requests", "[static]") {
  Tree t;
  const StaticFiles files(t.root);
  const std::vector<std::string> paths = {"/../secret.txt",
                                          "/..",
                                          "/../",
                                          "/sub/../app.js",
                                          "/sub/..",
                                          "/./app.js",
                                          "/.",
                                          "/sub/./style.css",
                                          "/..%2fsecret.txt/../x",
                                          "/a\\..\\secret.txt",
                                          "/app.js\\",
                                          std::string("/app.js\0.txt", 12),
                                          std::string("/\0", 2),
                                          "",
                                          "app.js",
                                          "../secret.txt"};
  for (const std::string& path : paths) {
    INFO("path '" << path << "'");
    CHECK(files.resolve(path).outcome == Outcome::bad_request);
  }
}

TEST_CASE("static files: missing hidden non-regular and escaping paths are not found", "[static]") {
  Tree t;
  const StaticFiles files(t.root);
  const std::vector<std::string> paths = {"/missing.html",
                                          "/sub/missing.css",
                                          "/sub",
                                          "/.hidden",
                                          "/.git/config",
                                          "/.git/",
                                          "/sub/.hidden",
                                          "/link-out",
                                          "/dirlink-out/secret.txt",
                                          "/dirlink-out/www2/x.txt",
                                          "/sibling",
                                          "/fifo",
                                          "/app.js/",
                                          "/app.js/x",
                                          "/www2/x.txt"};
  for (const std::string& path : paths) {
    INFO("path '" << path << "'");
    CHECK(files.resolve(path).outcome == Outcome::not_found);
  }
  // a symlink that stays inside the root is followed
  auto r = files.resolve("/link-in");
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(r.file == fs::canonical(t.root) / "app.js");
  // the canonical path decides: out through a symlink and back in lands on a file of the root
  r = files.resolve("/dirlink-out/www/app.js");
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(r.file == fs::canonical(t.root) / "app.js");
}

TEST_CASE("static files: content types by extension", "[static]") {
  CHECK(StaticFiles::content_type("index.html") == "text/html; charset=utf-8");
  CHECK(StaticFiles::content_type("INDEX.HTM") == "text/html; charset=utf-8");
  CHECK(StaticFiles::content_type("a/app.js") == "text/javascript; charset=utf-8");
  CHECK(StaticFiles::content_type("m.mjs") == "text/javascript; charset=utf-8");
  CHECK(StaticFiles::content_type("style.css") == "text/css; charset=utf-8");
  CHECK(StaticFiles::content_type("data.json") == "application/json");
  CHECK(StaticFiles::content_type("logo.png") == "image/png");
  CHECK(StaticFiles::content_type("logo.svg") == "image/svg+xml");
  CHECK(StaticFiles::content_type("favicon.ico") == "image/x-icon");
  CHECK(StaticFiles::content_type("robots.txt") == "text/plain; charset=utf-8");
  CHECK(StaticFiles::content_type("archive.tar.gz") == "application/octet-stream");
  CHECK(StaticFiles::content_type("Makefile") == "application/octet-stream");
}

TEST_CASE("static files: GET serves the file with its headers", "[static]") {
  Tree t;
  const StaticFiles files(t.root);
  auto res = files.serve(request(http::verb::get, "/app.js?v=1"), "/app.js");
  CHECK(res.result() == http::status::ok);
  CHECK(res.body() == "console.log(1);\n");
  CHECK(header(res, "Content-Type") == "text/javascript; charset=utf-8");
  CHECK(header(res, "Content-Length") == "16");
  CHECK(header(res, "Cache-Control") == "no-cache");
  CHECK(header(res, "X-Content-Type-Options") == "nosniff");
  CHECK_THAT(header(res, "Content-Security-Policy"), Catch::Matchers::Contains("connect-src 'self' ws: wss:"));
  CHECK(res.keep_alive());

  res = files.serve(request(http::verb::get, "/", false), "/");
  CHECK(res.result() == http::status::ok);
  CHECK(res.body() == "<!doctype html><title>t</title>\n");
  CHECK(header(res, "Content-Type") == "text/html; charset=utf-8");
  CHECK_FALSE(res.keep_alive());
}

TEST_CASE("static files: HEAD has the headers and no body", "[static]") {
  Tree t;
  const StaticFiles files(t.root);
  auto res = files.serve(request(http::verb::head, "/sub/style.css"), "/sub/style.css");
  CHECK(res.result() == http::status::ok);
  CHECK(res.body().empty());
  CHECK(header(res, "Content-Length") == "7");
  CHECK(header(res, "Content-Type") == "text/css; charset=utf-8");
  res = files.serve(request(http::verb::head, "/missing"), "/missing");
  CHECK(res.result() == http::status::not_found);
  CHECK(res.body().empty());
}

TEST_CASE("static files: errors 400 404 405 and the size bound", "[static]") {
  Tree t;
  const StaticFiles files(t.root);
  auto res = files.serve(request(http::verb::get, "/../secret.txt"), "/../secret.txt");
  CHECK(res.result() == http::status::bad_request);
  CHECK(res.body().find("secret") == std::string::npos);
  res = files.serve(request(http::verb::get, "/link-out"), "/link-out");
  CHECK(res.result() == http::status::not_found);
  CHECK(res.body() == "not found\n");
  for (auto verb : {http::verb::post, http::verb::put, http::verb::delete_, http::verb::options}) {
    res = files.serve(request(verb, "/app.js"), "/app.js");
    INFO("method " << http::to_string(verb));
    CHECK(res.result() == http::status::method_not_allowed);
    CHECK(header(res, "Allow") == "GET, HEAD");
  }
  // the size bound: 100 bytes is over a 99-byte bound and within a 100-byte one
  const StaticFiles small(t.root, 99);
  CHECK(small.serve(request(http::verb::get, "/big.bin"), "/big.bin").result() == http::status::internal_server_error);
  CHECK(small.serve(request(http::verb::head, "/big.bin"), "/big.bin").result() == http::status::internal_server_error);
  const StaticFiles exact(t.root, 100);
  res = exact.serve(request(http::verb::get, "/big.bin"), "/big.bin");
  CHECK(res.result() == http::status::ok);
  CHECK(res.body() == std::string(100, 'x'));
  CHECK(header(res, "Content-Type") == "application/octet-stream");
}
