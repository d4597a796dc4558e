// wsg-bench: what a worker measured (merged across workers by the parent) and the final report.
#pragma once

#include "histogram.h"
#include "options.h"
#include "procstat.h"

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace wsg::bench {

// One worker's counts and histograms (also one shard's: shards merge into their worker's).
struct WorkerResult {
  uint64_t opened = 0;                       // sessions welcomed
  uint64_t failed = 0;                       // sessions that could not be opened
  std::map<std::string, uint64_t> failures;  // by kind (connect, timeout, http_503, ...)
  uint64_t sent = 0;                         // messages sent in the measured window
  uint64_t delivered = 0;                    // of those, received (once) before the end of the grace
  uint64_t duplicates = 0;                   // a (pair, seq) received again
  uint64_t out_of_order = 0;                 // a seq below one already received on its pair
  uint64_t errors = 0;                       // error frames from the server
  std::map<std::string, uint64_t> error_codes;
  uint64_t acks_delivered = 0, acks_offline = 0, acks_failed = 0;  // for messages of the window
  uint64_t send_skipped = 0;                                       // open loop: not sent, the session's queue was full
  uint64_t closed_by_peer = 0;                    // open sessions the server closed (or lost) during the run
  uint64_t unclean_closes = 0;                    // our close handshake did not complete
  uint64_t welcomed = 0;                          // storm: sessions welcomed
  uint64_t joined = 0;                            // room: joins acked "joined"
  std::map<std::string, uint64_t> join_failures;  // room: by kind (timeout, closed, error:CODE, status:S)
  uint64_t acks_no_members = 0;                   // room: publish acks "no_members" (window)
  uint64_t refused = 0;                           // room: publishes of the window refused with an error frame
  uint64_t expected = 0;                          // room: deliveries owed by the publishes of the window not refused
  int64_t end_ns = 0;                             // end of the measured window (CLOCK_MONOTONIC)
  Histogram latency;                              // message latency, ns
  Histogram connect;                              // connect -> welcome, ns
  Histogram send_lag;                             // open loop: actual send time - scheduled time, ns
  std::vector<std::string> problems;

  // Messages sent in the window and never received (room: deliveries owed and not received).
  uint64_t lost(bool room = false) const {
    const uint64_t owed = room ? expected : sent;
    return owed > delivered ? owed - delivered : 0;
  }
  void merge(const WorkerResult& other);
  boost::json::object to_json() const;
  static WorkerResult from_json(const boost::json::value& v);  // throws std::runtime_error
};

struct ServerResult {
  ServerPid server;
  ProcSample start;
  ProcSample end;
};

struct RunFacts {
  std::string started_at;  // ISO-8601 UTC
  double window_s = 0;
  int64_t processes = 1;
  WorkerResult total;
  std::vector<ServerResult> servers;
  std::vector<std::string> problems;  // the coordinator's own (timeouts, worker failures)
};

// The JSON report (keys fixed by the tool's contract, see docs/load-generator.md, "The JSON report").
boost::json::object build_report(const Options& options, const RunFacts& facts);
// A readable multi-line summary of a report.
std::string summary_text(const boost::json::object& report);
// latency_us-style statistics of a histogram of nanoseconds (null values when empty).
boost::json::object latency_json(const Histogram& h);
// Current UTC time, ISO-8601 with milliseconds.
std::string iso_now();

}  // namespace wsg::bench
