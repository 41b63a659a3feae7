// Copyright (c) Canopy authors.
//
// The registry of `canopy` commands, in the order `canopy --help` lists them.

#include "bindings/cli/cli.h"

namespace canopy::cli {

Command DemoCommand();
Command TreeCommand();
Command AccountCommand();
Command UserCommand();
Command RoleCommand();
Command DeviceCommand();
Command VisibleCommand();
Command CheckCommand();
Command WhoCanCommand();
Command LogCommand();
Command ImportCommand();
Command ExportCommand();
Command CheckDbCommand();
Command CheckpointCommand();
Command ReplicaCommand();
#ifdef CANOPY_CLI_WITH_BENCH
Command BenchCommand();
#endif

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      DemoCommand(),   TreeCommand(),   AccountCommand(), UserCommand(),
      RoleCommand(),   DeviceCommand(), VisibleCommand(), CheckCommand(),
      WhoCanCommand(), LogCommand(),    ImportCommand(),  ExportCommand(),
      CheckDbCommand(), CheckpointCommand(), ReplicaCommand(),
#ifdef CANOPY_CLI_WITH_BENCH
      BenchCommand(),
#endif
  };
  return commands;
}

}  // namespace canopy::cli
