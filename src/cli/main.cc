// The `sky` command.
#include "cli/commands.h"

int main(int argc, char** argv) { return skycore::cli::Main(argc, argv); }
