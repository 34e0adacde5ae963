// The operator CLI: `payoutd <subcommand> ...` (operations.md).
//
// Exit codes: 0 success; 1 the operation was refused or failed (one line `error: <reason>` on
// stderr); 2 usage error (bad or missing arguments, bad configuration), nothing written.
// Command output goes to stdout, logs to stderr.
#pragma once

namespace payoutd::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;

int run(int argc, char** argv);

}  // namespace payoutd::cli
