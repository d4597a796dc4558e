// Logging: every component logger shares one stderr sink (and so one format) and one level.
#include "telemetry/logging.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "text/text_quote.h"

namespace wsg::logging {
namespace {

constexpr const char* kTextPattern = "[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] [%n] %v";

void append(spdlog::memory_buf_t& dest, std::string_view s) { dest.append(s.data(), s.data() + s.size()); }

// Appends `s` as JSON string content (text::append_json_escaped, the escaper of client frames):
// invalid UTF-8 replaced by U+FFFD so that every line stays valid JSON.
void append_json_escaped(spdlog::memory_buf_t& dest, std::string_view s) {
  std::string escaped;
  text::append_json_escaped(escaped, s);
  append(dest, escaped);
}

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

// One JSON object per line: {"ts":"2024-01-02T03:04:05.678Z","level":"info","logger":"node","msg":"..."}
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since_epoch = msg.time.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count();
    const std::time_t t = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[40];
    const int n = std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));

    append(dest, "{\"ts\":\"");
    dest.append(ts, ts + (n > 0 ? n : 0));
    append(dest, "\",\"level\":\"");
    append(dest, level_name(msg.level));
    append(dest, "\",\"logger\":\"");
    append_json_escaped(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    append(dest, "\",\"msg\":\"");
    append_json_escaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    append(dest, "\"}\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

struct State {
  std::mutex mutex;
  std::shared_ptr<spdlog::sinks::stderr_color_sink_mt> sink;
  spdlog::level::level_enum level = spdlog::level::info;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;

  State() : sink(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()) {
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(kTextPattern));
  }
};

State& state() {
  static State s;
  return s;
}

std::shared_ptr<spdlog::logger> make_logger(State& s, const std::string& name) {
  auto logger = std::make_shared<spdlog::logger>(name, s.sink);
  logger->set_level(s.level);
  return logger;
}

spdlog::level::level_enum parse_level(const std::string& level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  if (level == "critical") return spdlog::level::critical;
  if (level == "off") return spdlog::level::off;
  throw ConfigError("key 'log.level': unknown level '" + level +
                    "' (expected one of: trace, debug, info, warn, error, critical, off)");
}

}  // namespace

void setup(const LogConfig& config) {
  const auto level = parse_level(config.level);
  std::unique_ptr<spdlog::formatter> formatter;
  if (config.format == "text") {
    formatter = std::make_unique<spdlog::pattern_formatter>(kTextPattern);
  } else if (config.format == "json") {
    formatter = std::make_unique<JsonFormatter>();
  } else {
    throw ConfigError("key 'log.format': unknown format '" + config.format + "' (expected one of: text, json)");
  }

  State& s = state();
  std::lock_guard lock(s.mutex);
  s.level = level;
  s.sink->set_formatter(std::move(formatter));
  for (auto& [name, logger] : s.loggers) logger->set_level(level);

  // spdlog::info(...) and friends go through the same sink, format and level.
  auto fallback = make_logger(s, "wsg");
  spdlog::set_default_logger(fallback);
}

std::string printable(std::string_view s, std::size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const std::size_t n = std::min(s.size(), max);
  out.reserve(n + 16);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      const char esc[] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
      out.append(esc, sizeof esc);
    }
  }
  if (s.size() > max) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::shared_ptr<spdlog::logger> get(const std::string& component) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  auto it = s.loggers.find(component);
  if (it != s.loggers.end()) return it->second;
  auto logger = make_logger(s, component);
  s.loggers.emplace(component, logger);
  return logger;
}

}  // namespace wsg::logging
