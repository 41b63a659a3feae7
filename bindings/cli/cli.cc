// Copyright (c) Canopy authors.

#include "bindings/cli/cli.h"

#include <ctime>

#include "query/json.h"

namespace canopy::cli {

void Args::Parse(const std::set<std::string>& valued, const std::set<std::string>& booleans) {
  for (size_t i = 0; i < raw_.size(); ++i) {
    const std::string& a = raw_[i];
    if (a == "--help" || a == "-h") {
      help_ = true;
      continue;
    }
    if (a == "--") {
      for (++i; i < raw_.size(); ++i) positionals_.push_back(raw_[i]);
      break;
    }
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2);
      std::optional<std::string> value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (valued.count(name)) {
        if (!value) {
          if (i + 1 >= raw_.size()) throw UsageError{"--" + name + " needs a value"};
          value = raw_[++i];
        }
        values_[name] = *value;
      } else if (booleans.count(name)) {
        if (value) throw UsageError{"--" + name + " takes no value"};
        booleans_.insert(name);
      } else {
        throw UsageError{"unknown flag --" + name};
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-' && a != "-") throw UsageError{"unknown flag " + a};
    positionals_.push_back(a);
  }
}

std::optional<std::string> Args::Get(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::Require(const std::string& flag) const {
  auto v = Get(flag);
  if (!v) throw UsageError{"--" + flag + " is required"};
  return *v;
}

std::string Args::Positional(size_t i, const std::string& what) const {
  if (i >= positionals_.size()) throw UsageError{"missing " + what};
  return positionals_[i];
}

void Args::AtMost(size_t n) const {
  if (positionals_.size() > n) throw UsageError{"unexpected argument '" + positionals_[n] + "'"};
}

bool Context::Open(bool create) {
  if (db) return true;
  Options o;
  o.create_if_missing = create;
  Status s = Db::Open(o, db_path, &db);
  if (!s.ok()) {
    Fail(s);
    return false;
  }
  return true;
}

bool Context::ResolveActor(Actor* actor) {
  if (actor_login.empty()) {
    *actor = Actor::System();
    return true;
  }
  User u;
  if (!FindUser(*this, actor_login, &u)) return false;
  *actor = Actor::User(u.id);
  return true;
}

int Context::Fail(const Status& s) const {
  *err << "canopy: " << s.ToString() << "\n";
  return kExitFailed;
}

int Context::Fail(const std::string& message) const {
  *err << "canopy: " << message << "\n";
  return kExitFailed;
}

bool FindAccount(Context& ctx, const std::string& key, Account* out) {
  auto a = ctx.db->FindAccount(key);
  if (!a.ok()) {
    ctx.Fail(a.status());
    return false;
  }
  *out = std::move(a).value();
  return true;
}

bool FindUser(Context& ctx, const std::string& login, User* out) {
  auto u = ctx.db->FindUser(login);
  if (!u.ok()) {
    ctx.Fail(u.status());
    return false;
  }
  *out = std::move(u).value();
  return true;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string Json(std::string_view s) { return query::JsonString(s); }

std::string FormatTime(int64_t micros) {
  std::time_t t = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace canopy::cli
