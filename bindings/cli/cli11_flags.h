// Copyright (c) Canopy authors.
//
// The glue between CLI11 and Canopy's programs: the `canopy` command line
// (bindings/cli), the capacity harness (canopy-bench) and the
// micro-benchmarks parse their flags with CLI11 through these few helpers,
// so that every program reads a flag and words a bad one the same way:
//
//   --name value, --name=value (an empty value too: --name=), boolean --name;
//   a value that begins with "--" only as --name=value (--name --json is
//   "--name needs a value", never a name "--json");
//   "--" ends the flags; a flag that takes one value, given twice, is refused;
//   errors name the flag: "--user needs a value", "--count takes no value",
//   "--limit is given more than once".
//
// Header-only (CLI11 is), with no dependency on the rest of Canopy.

#ifndef CANOPY_BINDINGS_CLI_CLI11_FLAGS_H_
#define CANOPY_BINDINGS_CLI_CLI11_FLAGS_H_

#include <CLI/CLI.hpp>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace canopy::cli11 {

// A usage error; `message` names the flag.
struct FlagError {
  std::string message;
};

// Declares --`name` taking one value per occurrence. Every occurrence is
// kept in *into (Single refuses a second one where only one makes sense).
inline CLI::Option* AddValued(CLI::App& app, const std::string& name,
                              std::vector<std::string>* into) {
  return app.add_option("--" + name, *into)
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

// Declares the boolean --`name` (refusing --name=VALUE).
inline CLI::Option* AddBoolean(CLI::App& app, const std::string& name) {
  return app.add_flag("--" + name)->disable_flag_override();
}

// Parses `args` (in order, without the program name) with `app`, whose
// valued options are named in `valued` (without dashes), and returns what
// CLI11 left: unknown flags (when app.allow_extras()), and everything from
// the first positional on for a prefix command. Throws FlagError.
inline std::vector<std::string> Parse(CLI::App& app, const std::vector<std::string>& args,
                                      const std::set<std::string>& valued) {
  // CLI11 reads "--name=" as "--name" waiting for the next argument; here
  // it is an empty value, which the flag's own rules accept or refuse.
  // A boolean flag takes no value: CLI11 accepts --name=true (its own
  // value) as the flag; every value is refused, as the words above say.
  // Looked for up to the first positional of a prefix command (the rest
  // is the command's, parsed by its own app).
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    if (!a.starts_with("--")) {
      if (app.get_prefix_command()) break;
      continue;
    }
    const size_t eq = a.find('=');
    const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    if (valued.count(name) > 0) {
      if (eq == std::string::npos) {
        // Its value follows. An argument that looks like a flag is not
        // taken for it (`--name --json` would name the thing "--json"):
        // such a value is written --name=VALUE.
        if (i + 1 < args.size() && args[i + 1].starts_with("--")) {
          throw FlagError{"--" + name + " needs a value (a value that begins with -- is " +
                          "written --" + name + "=VALUE)"};
        }
        ++i;
      }
      continue;
    }
    if (eq != std::string::npos && app.get_option_no_throw("--" + name) != nullptr) {
      throw FlagError{"--" + name + " takes no value"};
    }
  }
  std::vector<std::string> argv;
  bool positional_only = false;
  for (const std::string& a : args) {
    positional_only = positional_only || a == "--";
    if (!positional_only && a.size() > 3 && a.starts_with("--") &&
        a.find('=') == a.size() - 1 && valued.count(a.substr(2, a.size() - 3)) > 0) {
      argv.push_back(a.substr(0, a.size() - 1));
      argv.emplace_back();
    } else {
      argv.push_back(a);
    }
  }
  std::reverse(argv.begin(), argv.end());  // CLI11 takes them last first
  try {
    app.parse(argv);
  } catch (const CLI::ParseError& e) {
    // CLI11's words ("--user: 1 required TEXT missing", "count was given a
    // disallowed flag override") in Canopy's.
    const std::string m = e.what();
    static const std::string kMissing = " required TEXT missing";
    static const std::string kOverride = " was given a disallowed flag override";
    if (m.ends_with(kMissing) && m.find(": ") != std::string::npos) {
      throw FlagError{m.substr(0, m.find(": ")) + " needs a value"};
    }
    if (m.ends_with(kOverride)) {
      throw FlagError{"--" + m.substr(0, m.size() - kOverride.size()) + " takes no value"};
    }
    throw FlagError{m};
  }
  return app.remaining();
}

// The one value of --`flag`, nullopt when it was not given; FlagError when
// it was given more than once (ambiguous: refused rather than picked).
inline std::optional<std::string> Single(const std::string& flag,
                                         const std::vector<std::string>& values) {
  if (values.empty()) return std::nullopt;
  if (values.size() > 1) throw FlagError{"--" + flag + " is given more than once"};
  return values.front();
}

// "unknown flag --x" for an argument left over that looks like a flag
// (the "=value" part left out), "" for one that does not.
inline std::string UnknownFlag(const std::string& arg) {
  if (arg.size() > 1 && arg[0] == '-' && arg != "--") {
    return "unknown flag " + arg.substr(0, arg.find('='));
  }
  return "";
}

}  // namespace canopy::cli11

#endif  // CANOPY_BINDINGS_CLI_CLI11_FLAGS_H_
