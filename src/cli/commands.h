// The `sky` command line: sub-commands and their flags, SkyPilot-compatible.
#pragma once

namespace skycore::cli {

// Runs the CLI; returns the process exit code. Never throws.
int Main(int argc, char** argv);

}  // namespace skycore::cli
