// Copyright (c) Canopy authors.

#include "query/catalog_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

#include "canopy/version.h"
#include "storage/fd.h"
#include "storage/labels.h"

namespace canopy::query {

namespace {

using storage::Fd;

static_assert(std::endian::native == std::endian::little,
              "the catalog image is written in the machine's order, little-endian");
static_assert(sizeof(PermSet) == 8 && std::is_trivially_copyable_v<PermSet>);

// A tripwire for whoever adds a field to a catalog node: the image must
// write and read it too (WriteAccount / ReadAccounts...), and kLayout must
// go up. The sizes are those of GCC's libstdc++ on x86-64, where CI builds.
#if defined(__x86_64__) && defined(__GLIBCXX__)
static_assert(sizeof(AccountNode) == 208 && sizeof(UserNode) == 72 && sizeof(GroupNode) == 144 &&
                  sizeof(RoleNode) == 72 && sizeof(GroupGrantNode) == 32 &&
                  sizeof(MembershipNode) == 24 && sizeof(AccountSettings) == 3 &&
                  sizeof(KindCounts) == 16 && sizeof(CatalogRest) == 200,
              "a catalog node changed: write and read the change in the catalog image "
              "(query/catalog_image.cc), bump kLayout, then update these sizes");
#endif

// docs/format.md, "The catalog image": bump kLayout whenever what is
// written changes (a node's field, an order), so older images are ignored.
constexpr char kMagic[8] = {'C', 'N', 'P', 'Y', 'C', 'A', 'T', 'I'};
constexpr uint32_t kLayout = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8;  // magic, layout, 0, code
constexpr size_t kTrailerBytes = 8 + 8;      // users at, hash

std::string PathIn(const std::string& folder, const char* name) {
  return (std::filesystem::path(folder) / name).string();
}

// What of this build the image's bits depend on besides the layout: the
// library's version, the permissions' positions in a PermSet and the
// built-in roles. An image of another version, or of a build whose
// permissions differ, is refused: an upgrade never reads old bits as new
// permissions, and its first open rebuilds the catalog with its own Load.
uint64_t CodeFingerprint() {
  static const uint64_t fp = [] {
    std::string s = "layout " + std::to_string(kLayout) + ", canopy " + Version() + "\n";
    for (int p = 0; p < kNumPerms; ++p) s += PermName(static_cast<Perm>(p)) + "\n";
    for (const auto& r : BuiltinRoles()) {
      s += std::to_string(r.id) + " " + r.name + ":";
      for (const auto& n : r.perms.Names()) s += " " + n;
      s += "\n";
    }
    return static_cast<uint64_t>(XXH3_64bits(s.data(), s.size()));
  }();
  return fp;
}

// ---- Writing: buffered, hashed as it goes ---------------------------------

class Out {
 public:
  explicit Out(int fd) : fd_(fd), hash_(XXH3_createState()) {
    if (hash_ == nullptr) throw std::bad_alloc();
    buf_.reserve(kChunk + 4096);
    XXH3_64bits_reset(hash_);
  }
  ~Out() { XXH3_freeState(hash_); }
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;

  template <typename T>
  void Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const char* p = reinterpret_cast<const char*>(&v);
    buf_.append(p, sizeof(T));
    MaybeFlush();
  }
  void U8(bool v) { Put<uint8_t>(v ? 1 : 0); }
  void Str(const std::string& s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    buf_.append(s);
    MaybeFlush();
  }
  template <typename V>
  void Ids(const V& v) {  // a list of 8-byte ids
    Put<uint32_t>(static_cast<uint32_t>(v.size()));
    for (const auto& x : v) Put<uint64_t>(static_cast<uint64_t>(x));
  }
  void Grants(const std::vector<GroupGrantNode>& v) {
    Put<uint64_t>(v.size());
    for (const auto& g : v) {
      Put<uint64_t>(g.user_group);
      Put<uint64_t>(g.role);
      Put<uint64_t>(g.target);
      U8(g.branch);
    }
  }
  uint64_t offset() const { return written_ + buf_.size(); }
  // Writes what is buffered; false (error() says why) on a failed write.
  bool Flush() {
    if (failed_) return false;
    XXH3_64bits_update(hash_, buf_.data(), buf_.size());
    if (!WriteAll(buf_.data(), buf_.size())) return false;
    written_ += buf_.size();
    buf_.clear();
    return true;
  }
  // Appends the hash of everything flushed so far (not itself hashed).
  bool FinishWithHash() {
    if (!Flush()) return false;
    const uint64_t hash = XXH3_64bits_digest(hash_);
    return WriteAll(reinterpret_cast<const char*>(&hash), sizeof hash);
  }
  const std::string& error() const { return error_; }

 private:
  bool WriteAll(const char* p, size_t n) {
    size_t done = 0;
    while (done < n) {
      const ssize_t w = ::write(fd_, p + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        failed_ = true;
        error_ = w < 0 ? strerror(errno) : "nothing written (disk full?)";
        return false;
      }
      done += static_cast<size_t>(w);
    }
    return true;
  }
  static constexpr size_t kChunk = size_t{1} << 20;
  void MaybeFlush() {
    if (buf_.size() < kChunk) return;
    if (failed_) {
      buf_.clear();  // the write fails anyway: hold no more
    } else {
      Flush();
    }
  }
  int fd_;
  std::string buf_;
  uint64_t written_ = 0;
  bool failed_ = false;
  std::string error_;
  XXH3_state_t* hash_;
};

void WriteRest(Out& o, const Catalog& c) {
  o.Put<uint32_t>(c.max_depth);
  o.Ids(c.roots);
  for (uint64_t v : {c.last_account_id, c.last_user_id, c.last_entity_id, c.last_role_id,
                     c.next_root_ordinal, c.last_group_id}) {
    o.Put<uint64_t>(v);
  }
  o.Put<uint64_t>(c.roles.size());
  for (const auto& [id, r] : c.roles) {
    o.Put<uint64_t>(r.id);
    o.Put<uint64_t>(r.tenant);
    o.Str(r.name);
    o.Put<PermSet>(r.perms);
    o.U8(r.builtin);
    o.Put<uint64_t>(r.uses);
  }
  o.Put<uint64_t>(c.groups.size());
  for (const auto& [id, g] : c.groups) {
    o.Put<uint64_t>(g.id);
    o.Put<uint64_t>(g.owner);
    o.Put<uint8_t>(static_cast<uint8_t>(g.kind));
    o.Str(g.name);
    o.Put<uint64_t>(g.size);
    o.Put<uint64_t>(g.overlap);
    o.Put<uint64_t>(g.members.size());
    for (uint64_t m : g.members) o.Put<uint64_t>(m);
    o.Grants(g.grants);
    o.Grants(g.granted_to);
  }
}

void WriteAccount(Out& o, const AccountNode& a) {
  o.Put<uint64_t>(a.id);
  o.Put<uint64_t>(a.parent);
  o.Put<uint64_t>(a.tenant);
  o.Put<uint32_t>(a.depth);
  o.U8(a.settings.sub_account_management);
  o.Put<uint8_t>(static_cast<uint8_t>(a.settings.sub_account_access));
  o.U8(a.settings.group_sharing);
  o.Put<uint64_t>(a.next_child_ordinal);
  o.Str(a.key);
  o.Str(a.label);
  o.Ids(a.children);
  o.Ids(a.members);
  for (const auto& k : a.counts) {
    o.Put<int64_t>(k.direct);
    o.Put<int64_t>(k.subtree);
  }
  o.Ids(a.groups);
  o.Ids(a.in_groups);
  o.Put<int64_t>(a.descendants);
}

void WriteUser(Out& o, const UserNode& u) {
  o.Put<uint64_t>(u.id);
  o.Put<uint64_t>(u.home);
  o.U8(u.disabled);
  o.Str(u.login);
  o.Put<uint32_t>(static_cast<uint32_t>(u.memberships.size()));
  for (const auto& m : u.memberships) {
    o.Put<uint64_t>(m.account);
    o.Put<uint64_t>(m.role);
    o.U8(m.branch);
  }
  o.Ids(u.groups);
}

void WriteStamp(Out& o, const ImageStamp& s) {
  o.Put<uint64_t>(s.sequence);
  o.Put<uint64_t>(s.revision);
  o.Put<uint64_t>(s.created_us);
  o.Put<uint32_t>(s.max_depth);
  o.Str(s.log_id);
}

// ---- Reading: every read bounds-checked -----------------------------------

class In {
 public:
  In(const char* p, const char* end) : p_(p), end_(end) {}
  template <typename T>
  T Get() {
    T v{};
    if (static_cast<size_t>(end_ - p_) < sizeof(T)) {
      ok_ = false;
      p_ = end_;
      return v;
    }
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  bool Bool() {
    const uint8_t b = Get<uint8_t>();
    if (b > 1) ok_ = false;
    return b == 1;
  }
  std::string Str() {
    const uint32_t n = Get<uint32_t>();
    if (static_cast<size_t>(end_ - p_) < n) {
      ok_ = false;
      p_ = end_;
      return {};
    }
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  // `n` items of `size` bytes each still fit.
  bool Fits(uint64_t n, size_t size) {
    if (n > static_cast<uint64_t>(end_ - p_) / size) ok_ = false;
    return ok_;
  }
  template <typename V>
  void Ids(V* v) {
    using T = typename V::value_type;
    static_assert(sizeof(T) == 8 && std::is_trivially_copyable_v<T>);
    const uint32_t n = Get<uint32_t>();
    if (!Fits(n, 8)) return;
    v->resize(n);
    if (n != 0) std::memcpy(static_cast<void*>(v->data()), p_, size_t{n} * 8);
    p_ += size_t{n} * 8;
  }
  void Grants(std::vector<GroupGrantNode>* v) {
    const uint64_t n = Get<uint64_t>();
    if (!Fits(n, 25)) return;
    v->reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      GroupGrantNode g;
      g.user_group = Get<uint64_t>();
      g.role = Get<uint64_t>();
      g.target = Get<uint64_t>();
      g.branch = Bool();
      v->push_back(g);
    }
  }
  bool ok() const { return ok_; }
  const char* at() const { return p_; }

 private:
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

ImageStamp ReadStamp(In& in) {
  ImageStamp s;
  s.sequence = in.Get<uint64_t>();
  s.revision = in.Get<uint64_t>();
  s.created_us = in.Get<uint64_t>();
  s.max_depth = in.Get<uint32_t>();
  s.log_id = in.Str();
  return s;
}

bool ReadRest(In& in, Catalog* c) {
  c->max_depth = in.Get<uint32_t>();
  in.Ids(&c->roots);
  c->last_account_id = in.Get<uint64_t>();
  c->last_user_id = in.Get<uint64_t>();
  c->last_entity_id = in.Get<uint64_t>();
  c->last_role_id = in.Get<uint64_t>();
  c->next_root_ordinal = in.Get<uint64_t>();
  c->last_group_id = in.Get<uint64_t>();
  const uint64_t roles = in.Get<uint64_t>();
  if (!in.Fits(roles, 8)) return false;
  for (uint64_t i = 0; i < roles && in.ok(); ++i) {
    RoleNode r;
    r.id = in.Get<uint64_t>();
    r.tenant = in.Get<uint64_t>();
    r.name = in.Str();
    r.perms = in.Get<PermSet>();
    r.builtin = in.Bool();
    r.uses = in.Get<uint64_t>();
    const RoleId id = r.id;
    if (!c->roles.emplace(id, std::move(r)).second) return false;
  }
  const uint64_t groups = in.Get<uint64_t>();
  if (!in.Fits(groups, 8)) return false;
  for (uint64_t i = 0; i < groups && in.ok(); ++i) {
    GroupNode g;
    g.id = in.Get<uint64_t>();
    g.owner = in.Get<uint64_t>();
    const uint8_t kind = in.Get<uint8_t>();
    if (kind < static_cast<uint8_t>(GroupKind::kDevice) ||
        kind > static_cast<uint8_t>(GroupKind::kAccount)) {
      return false;
    }
    g.kind = static_cast<GroupKind>(kind);
    g.name = in.Str();
    g.size = in.Get<uint64_t>();
    g.overlap = in.Get<uint64_t>();
    const uint64_t members = in.Get<uint64_t>();
    if (!in.Fits(members, 8)) return false;
    g.members.resize(members);
    for (auto& m : g.members) m = in.Get<uint64_t>();
    in.Grants(&g.grants);
    in.Grants(&g.granted_to);
    const GroupId id = g.id;
    if (!c->groups.emplace(id, std::move(g)).second) return false;
  }
  return in.ok();
}

bool ReadAccounts(In& in, Catalog* c) {
  const uint64_t n = in.Get<uint64_t>();
  if (!in.Fits(n, 8)) return false;
  for (uint64_t i = 0; i < n && in.ok(); ++i) {
    AccountNode a;
    a.id = in.Get<uint64_t>();
    a.parent = in.Get<uint64_t>();
    a.tenant = in.Get<uint64_t>();
    a.depth = in.Get<uint32_t>();
    a.settings.sub_account_management = in.Bool();
    const uint8_t access = in.Get<uint8_t>();
    if (access > static_cast<uint8_t>(SubAccountAccess::kAlwaysOn)) return false;
    a.settings.sub_account_access = static_cast<SubAccountAccess>(access);
    a.settings.group_sharing = in.Bool();
    a.next_child_ordinal = in.Get<uint64_t>();
    a.key = in.Str();
    a.label = in.Str();
    in.Ids(&a.children);
    in.Ids(&a.members);
    for (auto& k : a.counts) {
      k.direct = in.Get<int64_t>();
      k.subtree = in.Get<int64_t>();
    }
    in.Ids(&a.groups);
    in.Ids(&a.in_groups);
    a.descendants = in.Get<int64_t>();
    const AccountId id = a.id;
    if (id == kNoId || !c->accounts.emplace(id, std::move(a)).second) return false;
  }
  return in.ok();
}

bool ReadUsers(In& in, Catalog* c) {
  const uint64_t n = in.Get<uint64_t>();
  if (!in.Fits(n, 8)) return false;
  for (uint64_t i = 0; i < n && in.ok(); ++i) {
    UserNode u;
    u.id = in.Get<uint64_t>();
    u.home = in.Get<uint64_t>();
    u.disabled = in.Bool();
    u.login = in.Str();
    const uint32_t m = in.Get<uint32_t>();
    if (!in.Fits(m, 17)) return false;
    u.memberships.resize(m);
    for (auto& x : u.memberships) {
      x.account = in.Get<uint64_t>();
      x.role = in.Get<uint64_t>();
      x.branch = in.Bool();
    }
    in.Ids(&u.groups);
    const UserId id = u.id;
    if (id == kNoId || !c->users.emplace(id, std::move(u)).second) return false;
  }
  return in.ok();
}

// Reads exactly `n` bytes at `offset`: false when the file is shorter or a
// read fails.
bool ReadAt(int fd, char* out, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

// Every reference between the nodes read resolves, as Load guarantees of
// what it builds: an image that passed its checksum but was written wrong
// is refused rather than trusted.
bool Consistent(const Catalog& c, std::string* why) {
  auto fail = [&](const std::string& what) {
    *why = "inconsistent: " + what;
    return false;
  };
  // The tree: every account sits below its parent by label (so there is
  // no cycle), one level deeper, in its parent's tenant, listed once among
  // its parent's children, which are in label order; the parentless ones
  // are exactly the roots, each once, in label order.
  size_t parentless = 0, listed_children = 0;
  for (size_t i = 0; i < c.roots.size(); ++i) {
    const AccountId r = c.roots[i];
    const AccountNode* a = c.account(r);
    if (a == nullptr || a->parent != kNoId || a->tenant != r ||
        (i > 0 && !(c.account(c.roots[i - 1])->label < a->label))) {
      return fail("root " + std::to_string(r));
    }
  }
  for (const auto& [id, a] : c.accounts) {
    if (a.id != id) return fail("account " + std::to_string(id));
    if (a.parent == kNoId) {
      ++parentless;
      if (a.tenant != id || a.depth != 1) return fail("account " + std::to_string(id));
    } else {
      const AccountNode* p = c.account(a.parent);
      if (p == nullptr || !storage::IsProperAncestorLabel(p->label, a.label) ||
          a.depth != p->depth + 1 || a.tenant != p->tenant) {
        return fail("account " + std::to_string(id));
      }
    }
    listed_children += a.children.size();
    for (size_t i = 0; i < a.children.size(); ++i) {
      const AccountNode* n = c.account(a.children[i]);
      if (n == nullptr || n->parent != id ||
          (i > 0 && !(c.account(a.children[i - 1])->label < n->label))) {
        return fail("children of account " + std::to_string(id));
      }
    }
    for (size_t i = 0; i < a.members.size(); ++i) {
      if (c.user(a.members[i]) == nullptr || (i > 0 && !(a.members[i - 1] < a.members[i]))) {
        return fail("members of account " + std::to_string(id));
      }
    }
    for (GroupId g : a.groups) {
      if (c.group(g) == nullptr) return fail("groups of account " + std::to_string(id));
    }
    for (GroupId g : a.in_groups) {
      if (c.group(g) == nullptr) return fail("groups holding account " + std::to_string(id));
    }
  }
  if (parentless != c.roots.size() || listed_children != c.accounts.size() - parentless) {
    return fail("the roots or the children lists leave out accounts");
  }
  for (const auto& [id, u] : c.users) {
    if (u.id != id || c.account(u.home) == nullptr) return fail("user " + std::to_string(id));
    for (size_t i = 0; i < u.memberships.size(); ++i) {
      const MembershipNode& m = u.memberships[i];
      if (c.account(m.account) == nullptr || c.role(m.role) == nullptr ||
          (i > 0 && !(u.memberships[i - 1].account < m.account))) {
        return fail("memberships of user " + std::to_string(id));
      }
    }
    for (GroupId g : u.groups) {
      if (c.group(g) == nullptr) return fail("groups holding user " + std::to_string(id));
    }
  }
  for (const auto& [id, r] : c.roles) {
    if (r.id != id || (!r.builtin && c.account(r.tenant) == nullptr)) {
      return fail("role " + std::to_string(id));
    }
  }
  for (const auto& [id, g] : c.groups) {
    const bool held = g.kind == GroupKind::kUser || g.kind == GroupKind::kAccount;
    if (g.id != id || c.account(g.owner) == nullptr ||
        (held && g.members.size() != g.size) || (!held && !g.members.empty()) ||
        !std::is_sorted(g.members.begin(), g.members.end())) {
      return fail("group " + std::to_string(id));
    }
    for (const auto* grants : {&g.grants, &g.granted_to}) {
      for (const auto& x : *grants) {
        if (c.group(x.user_group) == nullptr || c.role(x.role) == nullptr ||
            (x.target != kNoId && c.group(x.target) == nullptr)) {
          return fail("grants of group " + std::to_string(id));
        }
      }
    }
  }
  return true;
}

}  // namespace

Status WriteCatalogImage(const Catalog& catalog, const ImageStamp& stamp,
                         const std::string& folder) {
  const std::string path = PathIn(folder, kCatalogImageFile);
  const std::string tmp = path + ".tmp";
  auto fail = [&](const std::string& what) {
    ::unlink(tmp.c_str());
    RemoveCatalogImage(folder);
    return Status::IOError("cannot write the catalog image '" + tmp + "': " + what);
  };
  // A new file, whatever was at that path (a leftover, a pipe, a link):
  // nothing there can make the write wait or land elsewhere.
  ::unlink(tmp.c_str());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (fd.get() < 0) return fail(strerror(errno));
  try {
    Out o(fd.get());
    for (char ch : kMagic) o.Put<char>(ch);
    o.Put<uint32_t>(kLayout);
    o.Put<uint32_t>(0);
    o.Put<uint64_t>(CodeFingerprint());
    WriteStamp(o, stamp);
    WriteRest(o, catalog);
    o.Put<uint64_t>(catalog.accounts.size());
    for (const auto& [id, a] : catalog.accounts) WriteAccount(o, a);
    const uint64_t users_at = o.offset();
    o.Put<uint64_t>(catalog.users.size());
    for (const auto& [id, u] : catalog.users) WriteUser(o, u);
    o.Put<uint64_t>(users_at);
    if (!o.FinishWithHash()) return fail(o.error());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (!fd.Close()) return fail(strerror(errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(strerror(errno));
  return Status::Ok();
}

bool StampIsAhead(const ImageStamp& written, const ImageStamp& now) {
  return written.log_id == now.log_id && written.created_us == now.created_us &&
         (written.sequence > now.sequence || written.revision > now.revision);
}

bool ReadCatalogImage(const std::string& folder, const ImageStamp& stamp, Catalog* catalog,
                      std::string* why, ImageStamp* written_out) {
  *catalog = Catalog();
  // Without waiting: a named pipe at that path is refused below (not a
  // regular file) instead of blocking the open for a writer.
  Fd fd(::open(PathIn(folder, kCatalogImageFile).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    *why = errno == ENOENT ? "no image" : "cannot open the image: " + std::string(strerror(errno));
    return false;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    *why = "the image is not a readable file";
    return false;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < kHeaderBytes + kTrailerBytes) {
    *why = "the image is too short";
    return false;
  }
  // The header and the stamp first, so that an image of another state or
  // build costs one small read, not the whole file.
  {
    std::string head(static_cast<size_t>(std::min<uint64_t>(size, 4096)), '\0');
    if (!ReadAt(fd.get(), head.data(), head.size(), 0)) {
      *why = "cannot read the image";
      return false;
    }
    if (std::memcmp(head.data(), kMagic, 8) != 0) {
      *why = "not a catalog image";
      return false;
    }
    In h(head.data() + 8, head.data() + head.size());
    const uint32_t layout = h.Get<uint32_t>();
    const uint32_t zero = h.Get<uint32_t>();
    const uint64_t code = h.Get<uint64_t>();
    if (layout != kLayout || zero != 0) {
      *why = "an image of another layout";
      return false;
    }
    if (code != CodeFingerprint()) {
      *why = "written by a build of Canopy with other permissions";
      return false;
    }
    const ImageStamp written = ReadStamp(h);
    if (h.ok() && written_out != nullptr) *written_out = written;
    if (!h.ok() || !(written == stamp)) {
      *why = "written for another state";
      return false;
    }
  }
  // The whole file, mapped (its pages are the page cache's: reading it
  // into fresh memory costs about three times as long), then its checksum.
  // Canopy never changes an image in place (it renames a new one over it),
  // so the mapping cannot shrink under the reader unless someone else
  // truncates the file.
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
  if (mapped == MAP_FAILED) {
    *why = "cannot map the image: " + std::string(strerror(errno));
    return false;
  }
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{mapped, static_cast<size_t>(size)};
  const char* base = static_cast<const char*>(mapped);
  const uint64_t hash_at = size - 8;
  uint64_t users_at = 0, hash = 0;
  std::memcpy(&users_at, base + hash_at - 8, 8);
  std::memcpy(&hash, base + hash_at, 8);
  if (XXH3_64bits(base, hash_at) != hash) {
    *why = "checksum mismatch";
    return false;
  }
  const uint64_t users_end = hash_at - 8;
  if (users_at < kHeaderBytes || users_at > users_end) {
    *why = "damaged";
    return false;
  }
  In in(base + kHeaderBytes, base + users_at);
  if (!(ReadStamp(in) == stamp)) {  // as read above, unless the file changed since
    *why = "written for another state";
    return false;
  }
  Catalog c;
  // Users on a thread of their own, the rest on this one. Only running out
  // of memory is thrown (from either); anything else refuses the image.
  bool users_ok = false, rest_ok = false;
  std::exception_ptr out_of_memory;
  std::mutex error_mu;
  auto guarded = [&](bool* ok, auto&& read) {
    try {
      *ok = read();
    } catch (const std::bad_alloc&) {
      std::lock_guard<std::mutex> l(error_mu);
      out_of_memory = std::current_exception();
    } catch (...) {
      *ok = false;
    }
  };
  auto read_users = [&] {
    In u(base + users_at, base + users_end);
    return ReadUsers(u, &c) && u.at() == base + users_end;
  };
  {
    std::thread users;
    try {
      users = std::thread([&] { guarded(&users_ok, read_users); });
    } catch (const std::system_error&) {
      guarded(&users_ok, read_users);  // no thread to be had: here, first
    }
    guarded(&rest_ok, [&] {
      return in.ok() && ReadRest(in, &c) && ReadAccounts(in, &c) && in.at() == base + users_at;
    });
    if (users.joinable()) users.join();
  }
  if (out_of_memory) std::rethrow_exception(out_of_memory);
  if (!rest_ok || !users_ok) {
    *why = "damaged";
    return false;
  }
  if (!Consistent(c, why)) return false;
  c.members_epoch = CatalogRest::NewMembersEpoch();
  *catalog = std::move(c);
  return true;
}

void RemoveCatalogImage(const std::string& folder) {
  const std::string path = PathIn(folder, kCatalogImageFile);
  ::unlink(path.c_str());
  ::unlink((path + ".tmp").c_str());
}

}  // namespace canopy::query
