#include "config/secrets.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace wsg::secrets {

std::string trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return std::string(s);
}

std::string read_file(std::string_view key, const std::string& path) {
  const std::string named = "key '" + std::string(key) + "': ";
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ConfigError(named + "'" + path + "' is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw ConfigError(named + "cannot open '" + path + "': " + (err != 0 ? std::strerror(err) : "unknown error"));
  }
  // One byte past the limit tells a file at the limit from a larger one.
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) throw ConfigError(named + "cannot read '" + path + "'");
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes)
    throw ConfigError(named + "'" + path + "' is larger than " + std::to_string(kMaxFileBytes / 1024) +
                      " KiB: not a key file");
  std::string trimmed = trim(text);
  if (trimmed.empty()) throw ConfigError(named + "'" + path + "' is empty");
  return trimmed;
}

bool env_set(const char* env) {
  const char* value = env != nullptr ? std::getenv(env) : nullptr;
  return value != nullptr && !trim(value).empty();
}

std::optional<Secret> resolve(const Sources& s) {
  if (!s.value.empty())
    return Secret{std::string(s.value), "key '" + std::string(s.value_key) + "'", std::string(s.value_key)};
  if (!s.file.empty()) {
    const std::string path(s.file);
    return Secret{read_file(s.file_key, path), "key '" + std::string(s.file_key) + "' (file '" + path + "')",
                  std::string(s.file_key) + " " + path};
  }
  if (s.env != nullptr) {
    if (const char* env = std::getenv(s.env); env != nullptr && *env != '\0')
      return Secret{trim(env), std::string("environment variable ") + s.env, s.env};
  }
  return std::nullopt;
}

}  // namespace wsg::secrets
