// Copyright (c) Canopy authors.
//
// The registry of `canopy` commands, in the order `canopy --help` lists them.

#include "bindings/cli/cli.h"

namespace canopy::cli {

Command DemoCommand();
Command TreeCommand();
Command CheckDbCommand();

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      DemoCommand(),
      TreeCommand(),
      CheckDbCommand(),
  };
  return commands;
}

}  // namespace canopy::cli
