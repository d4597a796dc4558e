// StaticFiles: the node's static file server (`http.static_dir` in man/wsg.1; docs/demo.md, "How
// the node serves it"): `GET /` serves ROOT/index.html, `GET /a/b.js` serves ROOT/a/b.js, and
// nothing outside ROOT is ever served.
//
// Path safety, in order: the URL path (already percent-decoded by the URL parser) must be absolute
// and hold no NUL and no backslash, and no segment may be `.` or `..` (400); a segment starting
// with a dot (`.git`, `.env`) is hidden (404); the file's canonical path (every symlink resolved)
// must lie under the canonical ROOT (404 otherwise: a symlink may point inside ROOT, never out of
// it); it must be a regular file (404 for directories, FIFOs, devices) no larger than the size
// bound (500 past it, with a warning in the log). Only GET and HEAD (405 otherwise).
//
// Responses carry `Cache-Control: no-cache`, `X-Content-Type-Options: nosniff` and a
// Content-Security-Policy that lets the page load only its own scripts and styles and open
// WebSockets (`connect-src 'self' ws: wss:`).
//
// The file is read whole, synchronously, on the Asio thread that handles the request: fine for the
// small files of a demo page or an admin page (the size bound caps it), not a CDN. Immutable after
// construction, so one instance is shared by every session on every thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace wsg {

class StaticFiles {
 public:
  static constexpr std::uint64_t kDefaultMaxFileBytes = 8 * 1024 * 1024;
  static constexpr const char* kContentSecurityPolicy =
      "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; "
      "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  // Throws std::runtime_error when `root` is not an existing directory. A relative `root` is
  // taken relative to the working directory.
  explicit StaticFiles(const std::filesystem::path& root, std::uint64_t max_file_bytes = kDefaultMaxFileBytes);

  // The canonical root (absolute, symlinks resolved).
  const std::filesystem::path& root() const { return root_; }
  std::uint64_t max_file_bytes() const { return max_file_bytes_; }

  enum class Outcome { ok, bad_request, not_found };
  struct Resolution {
    Outcome outcome = Outcome::not_found;
    std::filesystem::path file;  // canonical path of the file under root(), when ok
  };
  // Maps a percent-decoded URL path ("/", "/a/b.js") to a file under the root. Checks the path's
  // syntax, then canonicalizes and checks containment and the file type. Does not open the file.
  Resolution resolve(std::string_view url_path) const;

  // The Content-Type for a file name, by extension (application/octet-stream when unknown).
  static std::string_view content_type(const std::filesystem::path& file);

  // The whole answer to a request whose percent-decoded path is `url_path`: the file (GET), its
  // headers alone (HEAD), or 400 / 404 / 405 / 500 with a short text body.
  Response serve(const Request& req, std::string_view url_path) const;

 private:
  std::filesystem::path root_;
  std::uint64_t max_file_bytes_;
};

}  // namespace wsg
