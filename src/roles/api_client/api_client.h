// `wsg api ...`: a small synchronous HTTP/1.1 client of the server API (docs/api.md, "Server
// API"): one request, bounded by a timeout, its JSON answer printed to stdout.
#pragma once

#include <cstdint>
#include <string>

namespace wsg {

struct ApiClientOptions {
  std::string url = "http://127.0.0.1:9081";  // the API's base URL (http only)
  std::string key;                            // the bearer key; empty: none sent
  int64_t timeout_ms = 10000;                 // the whole request
};

struct ApiClientResponse {
  int status = 0;  // 0: no answer (see error)
  std::string body;
  std::string error;  // why there is no answer
};

// `method` "GET" or "POST"; `target` the path and query (e.g. "/api/publish"), appended to the
// URL's own path. Never throws.
ApiClientResponse api_request(const ApiClientOptions& options, const std::string& method, const std::string& target,
                              const std::string& body);

// Sends the request, prints the answer's body to stdout (an error to stderr); returns the exit
// code: 0 for a 2xx answer, 1 otherwise.
int run_api(const ApiClientOptions& options, const std::string& method, const std::string& target,
            const std::string& body);

// A JSON string literal (quoted, escaped), for building request bodies.
std::string json_quote(const std::string& text);

}  // namespace wsg
