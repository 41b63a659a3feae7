// Copyright (c) Canopy authors.

#include "tests/crash/state.h"

#include <algorithm>
#include <unordered_map>

namespace canopy::crash {

namespace {

// Fields are joined with '|'; these bytes are %-escaped inside a field.
std::string Esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%' || c == '|' || c == '\t' || c == '\n' || c == ',' || c == '=' || c == '\r') {
      static const char* hex = "0123456789abcdef";
      out += '%';
      out += hex[(static_cast<unsigned char>(c) >> 4) & 15];
      out += hex[static_cast<unsigned char>(c) & 15];
    } else {
      out += c;
    }
  }
  return out;
}

bool Unesc(const std::string& s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      *out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return false;
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nib(s[i + 1]), lo = nib(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

std::string EncodeAttrs(const Attributes& a) {
  std::string out;
  for (const auto& [k, v] : a) {
    if (!out.empty()) out += ',';
    out += Esc(k) + "=" + Esc(v);
  }
  return out;
}

bool DecodeAttrs(const std::string& s, Attributes* out) {
  out->clear();
  if (s.empty()) return true;
  for (const std::string& kv : Split(s, ',')) {
    auto parts = Split(kv, '=');
    if (parts.size() != 2) return false;
    std::string k, v;
    if (!Unesc(parts[0], &k) || !Unesc(parts[1], &v)) return false;
    (*out)[k] = v;
  }
  return true;
}

// "t3.x" -> "t3"; "" when the key follows no partition's naming.
std::string PartitionOfName(const std::string& name) {
  if (name.size() < 3 || name[0] != 't') return "";
  size_t dot = name.find('.');
  if (dot == std::string::npos || dot < 2) return "";
  for (size_t i = 1; i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9') return "";
  }
  return name.substr(0, dot);
}

}  // namespace

std::string AccountKey(const std::string& key) { return "A:" + key; }
std::string UserKey(const std::string& login) { return "U:" + login; }
std::string MemberKey(const std::string& login, const std::string& account) {
  return "M:" + login + "|" + account;
}
std::string RoleKey(const std::string& tenant, const std::string& name) {
  return "R:" + tenant + "|" + name;
}
std::string EntityKey(EntityKind kind, const std::string& key) {
  return std::string("E:") + EntityKindName(kind) + ":" + key;
}

std::string Encode(const AccountState& a) {
  return "a|" + Esc(a.name) + "|" + Esc(a.parent) + "|" + (a.management ? "1" : "0") + "|" +
         SubAccountAccessName(a.access) + "|" + EncodeAttrs(a.attributes);
}
std::string Encode(const UserState& u) {
  return "u|" + Esc(u.name) + "|" + Esc(u.account) + "|" + (u.disabled ? "1" : "0");
}
std::string Encode(const MemberState& m) {
  return "m|" + Esc(m.role) + "|" + (m.branch ? "1" : "0");
}
std::string Encode(const RoleState& r) {
  std::string out = "r|";
  for (size_t i = 0; i < r.permissions.size(); ++i) {
    if (i) out += ',';
    out += Esc(r.permissions[i]);
  }
  return out;
}
std::string Encode(const EntityState& e) {
  return "e|" + Esc(e.unit_id) + "|" + Esc(e.name) + "|" + Esc(e.type) + "|" + Esc(e.owner) +
         "|" + EncodeAttrs(e.attributes);
}

std::string PartitionOf(const std::string& object_key) {
  if (object_key.size() < 3 || object_key[1] != ':') return "";
  std::string rest = object_key.substr(2);
  switch (object_key[0]) {
    case 'A':
    case 'U':
      return PartitionOfName(rest);
    case 'M':
    case 'R':
      return PartitionOfName(rest.substr(0, rest.find('|')));
    case 'E': {
      size_t colon = rest.find(':');
      return colon == std::string::npos ? "" : PartitionOfName(rest.substr(colon + 1));
    }
    default:
      return "";
  }
}

bool SplitEntityKey(const std::string& k, EntityKind* kind, std::string* key) {
  size_t colon = k.find(':');
  if (colon == std::string::npos) return false;
  auto parsed = ParseEntityKind(k.substr(0, colon));
  if (!parsed) return false;
  *kind = *parsed;
  *key = k.substr(colon + 1);
  return true;
}

Flat State::ToFlat() const {
  Flat f;
  for (const auto& [k, v] : accounts) f["A:" + k] = Encode(v);
  for (const auto& [k, v] : users) f["U:" + k] = Encode(v);
  for (const auto& [k, v] : members) f["M:" + k] = Encode(v);
  for (const auto& [k, v] : roles) f["R:" + k] = Encode(v);
  for (const auto& [k, v] : entities) f["E:" + k] = Encode(v);
  return f;
}

bool State::Apply(const std::string& key, const std::optional<std::string>& value) {
  if (key.size() < 3 || key[1] != ':') return false;
  const std::string id = key.substr(2);
  const char type = key[0];
  if (!value) {
    switch (type) {
      case 'A': accounts.erase(id); return true;
      case 'U': users.erase(id); return true;
      case 'M': members.erase(id); return true;
      case 'R': roles.erase(id); return true;
      case 'E': entities.erase(id); return true;
      default: return false;
    }
  }
  std::vector<std::string> f = Split(*value, '|');
  switch (type) {
    case 'A': {
      if (f.size() != 6 || f[0] != "a") return false;
      AccountState a;
      if (!Unesc(f[1], &a.name) || !Unesc(f[2], &a.parent)) return false;
      a.management = f[3] == "1";
      auto access = ParseSubAccountAccess(f[4]);
      if (!access) return false;
      a.access = *access;
      if (!DecodeAttrs(f[5], &a.attributes)) return false;
      accounts[id] = a;
      return true;
    }
    case 'U': {
      if (f.size() != 4 || f[0] != "u") return false;
      UserState s;
      if (!Unesc(f[1], &s.name) || !Unesc(f[2], &s.account)) return false;
      s.disabled = f[3] == "1";
      users[id] = s;
      return true;
    }
    case 'M': {
      if (f.size() != 3 || f[0] != "m") return false;
      MemberState m;
      if (!Unesc(f[1], &m.role)) return false;
      m.branch = f[2] == "1";
      members[id] = m;
      return true;
    }
    case 'R': {
      if (f.size() != 2 || f[0] != "r") return false;
      RoleState r;
      if (!f[1].empty()) {
        for (const std::string& p : Split(f[1], ',')) {
          std::string name;
          if (!Unesc(p, &name)) return false;
          r.permissions.push_back(name);
        }
      }
      roles[id] = r;
      return true;
    }
    case 'E': {
      if (f.size() != 6 || f[0] != "e") return false;
      EntityState e;
      if (!Unesc(f[1], &e.unit_id) || !Unesc(f[2], &e.name) || !Unesc(f[3], &e.type) ||
          !Unesc(f[4], &e.owner) || !DecodeAttrs(f[5], &e.attributes)) {
        return false;
      }
      entities[id] = e;
      return true;
    }
    default:
      return false;
  }
}

bool State::ApplyAll(const Effects& effects) {
  for (const auto& [k, v] : effects) {
    if (!Apply(k, v)) return false;
  }
  return true;
}

bool State::FromFlat(const Flat& flat, State* out) {
  *out = State();
  for (const auto& [k, v] : flat) {
    if (!out->Apply(k, v)) return false;
  }
  return true;
}

std::string State::TenantOf(const std::string& account) const {
  std::string a = account;
  for (int guard = 0; guard < 1000; ++guard) {
    auto it = accounts.find(a);
    if (it == accounts.end()) return "";
    if (it->second.parent.empty()) return a;
    a = it->second.parent;
  }
  return "";
}

uint32_t State::Depth(const std::string& account) const {
  std::string a = account;
  for (uint32_t d = 1; d < 1000; ++d) {
    auto it = accounts.find(a);
    if (it == accounts.end()) return 0;
    if (it->second.parent.empty()) return d;
    a = it->second.parent;
  }
  return 0;
}

bool State::IsSelfOrAncestor(const std::string& ancestor, const std::string& account) const {
  std::string a = account;
  for (int guard = 0; guard < 1000 && !a.empty(); ++guard) {
    if (a == ancestor) return true;
    auto it = accounts.find(a);
    if (it == accounts.end()) return false;
    a = it->second.parent;
  }
  return false;
}

std::vector<std::string> State::ChildrenOf(const std::string& account) const {
  std::vector<std::string> out;
  for (const auto& [k, a] : accounts) {
    if (a.parent == account) out.push_back(k);
  }
  return out;
}

std::vector<std::string> State::SubtreeOf(const std::string& account) const {
  std::vector<std::string> out;
  for (const auto& [k, a] : accounts) {
    if (IsSelfOrAncestor(account, k)) out.push_back(k);
  }
  return out;
}

State State::Partition(const std::string& p) const {
  State out;
  Flat mine;
  for (const auto& [k, v] : ToFlat()) {
    if (PartitionOf(k) == p) mine[k] = v;
  }
  (void)FromFlat(mine, &out);
  return out;
}

Status ReadBuiltinRoles(const Db& db, BuiltinRoles* out) {
  out->clear();
  auto roles = db.ListRoles(kNoId);
  if (!roles.ok()) return roles.status();
  for (const Role& r : *roles) {
    if (r.builtin) (*out)[r.name] = std::set<std::string>(r.permissions.begin(), r.permissions.end());
  }
  return Status::Ok();
}

Status ReadState(const Db& db, State* out, const std::string& partition) {
  *out = State();
  std::unordered_map<AccountId, std::string> key_of;
  std::unordered_map<RoleId, std::string> role_name;
  std::vector<std::pair<AccountId, std::vector<Account>>> trees;
  for (AccountId root : db.Roots()) {
    auto r = db.GetAccount(root);
    if (!r.ok()) return r.status().WithContext("root " + std::to_string(root));
    if (!partition.empty() && PartitionOfName(r->key) != partition) continue;
    auto desc = db.Descendants(root, 0);
    if (!desc.ok()) return desc.status().WithContext("descendants of " + r->key);
    std::vector<Account> all{*r};
    all.insert(all.end(), desc->begin(), desc->end());
    for (const Account& a : all) key_of[a.id] = a.key;
    trees.emplace_back(root, std::move(all));
  }
  auto account_key = [&](AccountId id, std::string* key) -> Status {
    auto it = key_of.find(id);
    if (it != key_of.end()) {
      *key = it->second;
      return Status::Ok();
    }
    auto a = db.GetAccount(id);
    if (!a.ok()) return a.status().WithContext("account " + std::to_string(id));
    *key = key_of[id] = a->key;
    return Status::Ok();
  };
  for (const auto& [root, all] : trees) {
    const std::string& tenant = all.front().key;
    for (const Account& a : all) {
      AccountState s;
      s.name = a.name;
      if (a.parent != kNoId) CANOPY_RETURN_IF_ERROR(account_key(a.parent, &s.parent));
      s.attributes = a.attributes;
      s.management = a.settings.sub_account_management;
      s.access = a.settings.sub_account_access;
      out->accounts[a.key] = s;
      auto users = db.UsersOf(a.id);
      if (!users.ok()) return users.status().WithContext("users of " + a.key);
      for (const User& u : *users) {
        out->users[u.login] = UserState{u.name, a.key, u.disabled};
        auto ms = db.MembershipsOf(u.id);
        if (!ms.ok()) return ms.status().WithContext("memberships of " + u.login);
        for (const Membership& m : *ms) {
          std::string acct;
          CANOPY_RETURN_IF_ERROR(account_key(m.account, &acct));
          auto rn = role_name.find(m.role);
          if (rn == role_name.end()) {
            auto role = db.GetRole(m.role);
            if (!role.ok()) return role.status().WithContext("role of " + u.login);
            rn = role_name.emplace(m.role, role->name).first;
          }
          out->members[u.login + "|" + acct] = MemberState{rn->second, m.branch};
        }
      }
    }
    auto roles = db.ListRoles(root);
    if (!roles.ok()) return roles.status().WithContext("roles of " + tenant);
    for (const Role& r : *roles) {
      if (r.builtin || r.tenant != root) continue;
      out->roles[tenant + "|" + r.name] = RoleState{r.permissions};
    }
    for (EntityKind kind : kAllEntityKinds) {
      VisibleRequest req{Actor::System()};
      req.kind = kind;
      req.within = root;
      std::unique_ptr<VisibleIterator> it;
      CANOPY_RETURN_IF_ERROR(db.NewVisibleIterator(req, &it));
      std::vector<EntityId> ids;
      for (; it->Valid(); it->Next()) ids.push_back(it->id());
      CANOPY_RETURN_IF_ERROR(it->status());
      it.reset();
      for (EntityId id : ids) {
        auto e = db.GetEntity(id);
        if (!e.ok()) return e.status().WithContext("entity " + std::to_string(id));
        EntityState s;
        s.unit_id = e->unit_id;
        s.name = e->name;
        s.type = e->type;
        CANOPY_RETURN_IF_ERROR(account_key(e->owner, &s.owner));
        s.attributes = e->attributes;
        const std::string k = std::string(EntityKindName(kind)) + ":" + e->key;
        if (out->entities.count(k)) {
          return Status::Corruption("entity " + k + " listed twice by the system scan");
        }
        out->entities[k] = s;
      }
    }
  }
  return Status::Ok();
}

bool ModelAllows(const State& state, const BuiltinRoles& builtin, const std::string& login,
                 const std::string& permission, const std::string& entity) {
  auto u = state.users.find(login);
  auto e = state.entities.find(entity);
  if (u == state.users.end() || e == state.entities.end() || u->second.disabled) return false;
  const std::string prefix = login + "|";
  for (auto it = state.members.lower_bound(prefix);
       it != state.members.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    const std::string account = it->first.substr(prefix.size());
    const MemberState& m = it->second;
    bool holds = false;
    auto b = builtin.find(m.role);
    if (b != builtin.end()) {
      holds = b->second.count(permission) > 0;
    } else {
      auto r = state.roles.find(state.TenantOf(account) + "|" + m.role);
      if (r != state.roles.end()) {
        const auto& p = r->second.permissions;
        holds = std::find(p.begin(), p.end(), permission) != p.end();
      }
    }
    if (!holds) continue;
    const std::string& owner = e->second.owner;
    if (owner == account || (m.branch && state.IsSelfOrAncestor(account, owner))) return true;
  }
  return false;
}

std::vector<std::string> Diff(const Flat& want, const Flat& got, size_t max) {
  std::vector<std::string> out;
  auto add = [&](std::string line) {
    if (out.size() < max) out.push_back(std::move(line));
  };
  for (const auto& [k, v] : want) {
    auto it = got.find(k);
    if (it == got.end()) {
      add(k + ": expected " + v + ", missing");
    } else if (it->second != v) {
      add(k + ": expected " + v + ", found " + it->second);
    }
  }
  for (const auto& [k, v] : got) {
    if (!want.count(k)) add(k + ": unexpected " + v);
  }
  return out;
}

}  // namespace canopy::crash
