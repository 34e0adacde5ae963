// payoutd: one executable, many subcommands (operations.md). All logic lives in cli/ and below.
#include "cli/cli.h"

int main(int argc, char** argv) { return payoutd::cli::run(argc, argv); }
