#include "net/static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "telemetry/logging.h"

namespace wsg {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

namespace {

// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// true when `file` is `root` itself or lies below it; both canonical.
bool under(const fs::path& root, const fs::path& file) {
  auto [r, f] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  return r == root.end() && f != file.end();
}

}  // namespace

StaticFiles::StaticFiles(const fs::path& root, std::uint64_t max_file_bytes) : max_file_bytes_(max_file_bytes) {
  std::error_code ec;
  root_ = fs::canonical(root, ec);
  if (ec) throw std::runtime_error("'" + root.string() + "': " + ec.message());
  if (!fs::is_directory(root_, ec)) throw std::runtime_error("'" + root.string() + "' is not a directory");
}

StaticFiles::Resolution StaticFiles::resolve(std::string_view url_path) const {
  Resolution out;
  if (url_path.empty() || url_path.front() != '/') {
    out.outcome = Outcome::bad_request;
    return out;
  }
  if (url_path.find('\0') != std::string_view::npos || url_path.find('\\') != std::string_view::npos) {
    out.outcome = Outcome::bad_request;
    return out;
  }
  fs::path relative;
  bool hidden = false;
  std::string_view rest = url_path.substr(1);
  while (true) {
    const auto slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    if (segment == "." || segment == "..") {
      out.outcome = Outcome::bad_request;
      return out;
    }
    if (!segment.empty()) {
      if (segment.front() == '.') hidden = true;  // still checked for `..` further on: 400 wins
      relative /= fs::path(std::string(segment));
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (hidden) return out;  // not_found
  if (url_path.back() == '/') relative /= "index.html";
  if (relative.empty()) return out;

  std::error_code ec;
  fs::path file = fs::canonical(root_ / relative, ec);
  if (ec || !under(root_, file)) return out;  // missing, or a symlink leading out of the root
  if (!fs::is_regular_file(file, ec) || ec) return out;
  out.outcome = Outcome::ok;
  out.file = std::move(file);
  return out;
}

std::string_view StaticFiles::content_type(const fs::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".png") return "image/png";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  return "application/octet-stream";
}

StaticFiles::Response StaticFiles::serve(const Request& req, std::string_view url_path) const {
  const bool head = req.method() == http::verb::head;
  auto reply = [&](http::status status, std::string body, std::string_view type) {
    Response res{status, req.version()};
    res.set(http::field::server, "wsg/" WSG_VERSION);
    res.set(http::field::content_type, type);
    res.set(http::field::cache_control, "no-cache");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Content-Security-Policy", kContentSecurityPolicy);
    res.set("Referrer-Policy", "no-referrer");
    res.keep_alive(req.keep_alive());
    const auto length = body.size();
    if (!head) res.body() = std::move(body);
    res.content_length(length);
    return res;
  };
  auto error = [&](http::status status, const char* text) {
    auto res = reply(status, text, "text/plain; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    return res;
  };

  if (req.method() != http::verb::get && !head) {
    auto res = error(http::status::method_not_allowed, "method not allowed\n");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  const auto found = resolve(url_path);
  if (found.outcome == Outcome::bad_request) return error(http::status::bad_request, "bad path\n");
  if (found.outcome != Outcome::ok) return error(http::status::not_found, "not found\n");

  // The checks hold for the file that is open: O_NOFOLLOW (the canonical path has no symlink, so
  // one now is a swap), O_NONBLOCK (a FIFO swapped in must not block this thread), fstat for the
  // type and size.
  Fd fd{::open(found.file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)};
  struct stat st {};
  if (fd.fd < 0 || ::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return error(http::status::not_found, "not found\n");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > max_file_bytes_) {
    logging::get("http")->warn("static file {} is {} bytes, over the {} bytes served: answered 500",
                               found.file.string(), size, max_file_bytes_);
    return error(http::status::internal_server_error, "file too large\n");
  }
  std::string body;
  if (!head) {
    // Read to the end, bounded: the file may have changed since fstat.
    body.resize(static_cast<std::size_t>(size));
    std::size_t got = 0;
    while (true) {
      if (got == body.size()) {
        if (body.size() > max_file_bytes_) break;
        body.resize(body.size() + 1);  // one more byte: detects growth, and EOF for the usual case
      }
      const ssize_t n = ::read(fd.fd, body.data() + got, body.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        logging::get("http")->warn("static file {}: read: {}", found.file.string(), std::strerror(errno));
        return error(http::status::internal_server_error, "read error\n");
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    body.resize(got);
    if (got > max_file_bytes_) {
      logging::get("http")->warn("static file {} grew past {} bytes while read: answered 500", found.file.string(),
                                 max_file_bytes_);
      return error(http::status::internal_server_error, "file too large\n");
    }
    return reply(http::status::ok, std::move(body), content_type(found.file));
  }
  auto res = reply(http::status::ok, {}, content_type(found.file));
  res.content_length(size);
  return res;
}

}  // namespace wsg
