// wsg-bench: a worker runs its share of the sessions and pairs on --threads I/O threads (one
// io_context and one Shard each) and follows the coordinator's commands on a Channel:
//
//   worker -> parent  {"ev":"ready","opened":N,"failed":N}   every session welcomed or failed
//   parent -> worker  {"cmd":"start","warm_ns":T,"start_ns":T,"end_ns":T}   (local, remote, storm)
//   worker -> parent  {"ev":"sent","end_ns":T}               measured sending over (storm: all done)
//                     room: + "rooms":[[ROOM,N],...]  publishes of the window per room, "own":N theirs in all
//   parent -> worker  {"cmd":"expect","deliveries":N,"until_ns":T}   room: what this worker's members
//                     are owed by the publishes of the window; T = the window's end + the grace
//   parent -> worker  {"cmd":"close"}                         (idle, after the hold) or {"cmd":"abort"}
//   worker -> parent  {"ev":"report","result":{...}}          after closing every session
//
// Times are CLOCK_MONOTONIC nanoseconds, the same clock in every process of the machine, so every
// worker measures the same window.
#pragma once

#include "channel.h"
#include "options.h"

#include <cstdint>

namespace wsg::bench {

// Worker k of p. Returns the process exit code (0 when the report was sent).
int run_worker(const Options& options, int64_t k, int64_t p, Channel& channel);

// After the measured window: how long in-window messages (and acks) may still arrive.
inline constexpr int64_t kGraceNs = 2'000'000'000;

// total split in `parts` shares; share i.
inline int64_t share(int64_t total, int64_t parts, int64_t i) { return total / parts + (i < total % parts ? 1 : 0); }

}  // namespace wsg::bench
