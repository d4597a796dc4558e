#include "procstat.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace wsg::bench {

namespace {

bool read_all(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

}  // namespace

bool parse_proc_stat(const std::string& text, uint64_t& ticks) {
  // pid (comm) state ppid ... : comm may hold spaces and parentheses, so fields are counted from
  // the last ')'. After it: field 3 (state) ... field 14 utime, field 15 stime.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream in(text.substr(close + 1));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int n = 3; n <= 15; ++n) {
    if (!(in >> field)) return false;
    try {
      if (n == 14) utime = std::stoull(field);
      if (n == 15) stime = std::stoull(field);
    } catch (const std::exception&) {
      return false;
    }
  }
  ticks = utime + stime;
  return true;
}

bool parse_vm_rss(const std::string& text, int64_t& kib) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream l(line.substr(6));
    int64_t v = 0;
    std::string unit;
    if (!(l >> v >> unit) || unit != "kB") return false;
    kib = v;
    return true;
  }
  return false;
}

ProcSample sample_process(int pid) {
  ProcSample s;
  const std::string base = "/proc/" + std::to_string(pid);
  std::string stat, status;
  if (!read_all(base + "/stat", stat) || !read_all(base + "/status", status)) {
    s.error = "cannot read " + base + " (is process " + std::to_string(pid) + " running?)";
    return s;
  }
  uint64_t ticks = 0;
  if (!parse_proc_stat(stat, ticks)) {
    s.error = "cannot parse " + base + "/stat";
    return s;
  }
  if (!parse_vm_rss(status, s.rss_kib)) {
    s.error = "no VmRSS in " + base + "/status";
    return s;
  }
  static const long hz = ::sysconf(_SC_CLK_TCK);
  s.cpu_s = static_cast<double>(ticks) / static_cast<double>(hz > 0 ? hz : 100);
  s.ok = true;
  return s;
}

}  // namespace wsg::bench
