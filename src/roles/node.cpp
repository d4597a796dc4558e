#include "roles/node.h"
namespace wsg { int run_node(const Config&) { return 1; } }  // placeholder until the node lands
