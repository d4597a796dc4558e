// wsg-bench: the coordinating process. Starts the workers (a thread when there is one, else
// processes re-executing /proc/self/exe with --worker K/P), tells them when to measure, samples
// the server processes at the start and end of the measured window, merges the workers' reports
// and writes the final report. Returns the exit code (0: ok, 1: the run had problems).
#pragma once

#include "options.h"

namespace wsg::bench {

int run_coordinator(const Options& options);

// Raises the soft limit of open files to the hard limit.
void raise_file_limit();

// JSON text indented by two spaces.
std::string pretty_json(const boost::json::value& v);

}  // namespace wsg::bench
