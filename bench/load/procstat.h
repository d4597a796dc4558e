// wsg-bench: CPU time and resident memory of a server process, from /proc/PID/stat and
// /proc/PID/status.
#pragma once

#include <cstdint>
#include <string>

namespace wsg::bench {

struct ProcSample {
  bool ok = false;
  double cpu_s = 0;     // utime + stime, seconds
  int64_t rss_kib = 0;  // VmRSS
  std::string error;    // when !ok
};

ProcSample sample_process(int pid);

// Parses the text of /proc/PID/stat (utime + stime in clock ticks); false when malformed.
bool parse_proc_stat(const std::string& text, uint64_t& ticks);
// Parses the text of /proc/PID/status for VmRSS in KiB; false when absent.
bool parse_vm_rss(const std::string& text, int64_t& kib);

}  // namespace wsg::bench
