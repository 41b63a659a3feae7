// Copyright (c) Canopy authors.
//
// The registry of `canopy` commands, in the order `canopy --help` lists them.

#include "cli.h"

namespace canopy::cli {

Command DemoCommand();
Command TreeCommand();
Command AccountCommand();
Command UserCommand();
Command RoleCommand();
Command GroupCommand();
Command GrantCommand();
Command DeviceCommand();
Command VisibleCommand();
Command CheckCommand();
Command WhoCanCommand();
Command LogCommand();
Command UiCommand();
Command ImportCommand();
Command ExportCommand();
Command CheckDbCommand();
Command StatsCommand();
Command CheckpointCommand();
Command BackupCommand();
Command RestoreCommand();
Command ReplicaCommand();
Command BenchCommand();

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      DemoCommand(),   TreeCommand(),   AccountCommand(), UserCommand(),
      RoleCommand(),   GroupCommand(),  GrantCommand(), DeviceCommand(), VisibleCommand(),
      CheckCommand(),  WhoCanCommand(), LogCommand(),    UiCommand(),    ImportCommand(),
      ExportCommand(), CheckDbCommand(), StatsCommand(), CheckpointCommand(), BackupCommand(),
      RestoreCommand(), ReplicaCommand(), BenchCommand(),
  };
  return commands;
}

}  // namespace canopy::cli
