// wsg-bench: load generator for wsg. See docs/load-generator.md and wsg-bench(1).
#include "channel.h"
#include "coordinator.h"
#include "options.h"
#include "worker.h"

#include <signal.h>

#include <exception>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace wsg::bench;
  ::signal(SIGPIPE, SIG_IGN);
  Options options;
  try {
    options = parse_options(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const HelpRequested& h) {
    std::cout << h.text;
    return 0;
  } catch (const UsageError& e) {
    std::cerr << "wsg-bench: error: " << e.what() << "\nRun with --help for more information.\n";
    return 2;
  }
  raise_file_limit();
  try {
    if (options.is_worker()) {
      Channel channel(0, 1);
      return run_worker(options, options.worker_index, options.worker_count, channel);
    }
    return run_coordinator(options);
  } catch (const std::exception& e) {
    std::cerr << "wsg-bench: fatal: " << e.what() << "\n";
    return 1;
  }
}
