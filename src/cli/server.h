// `payoutd serve` and `payoutd demo`: the long-running modes.
#pragma once

#include "config/config.h"

namespace payoutd::cli {

// Opens the store (migrating it), serves the API until SIGTERM/SIGINT, then stops accepting,
// finishes in-flight requests, closes the store (queued writes commit) and returns 0.
// REQUIRES: http::block_termination_signals() was called before any thread was started.
int run_serve(const config::Settings& settings, bool json);

// Creates or reuses the demo merchant, rotates its credentials, tops its wallets up, prints the
// credentials and ready-to-paste curl examples, then serves exactly like run_serve.
// REQUIRES: http::block_termination_signals() was called before any thread was started.
int run_demo(const config::Settings& settings, bool json);

}  // namespace payoutd::cli
