// Copyright (c) Canopy authors.
//
// A C++ program using an installed libcanopy through include/canopy/db.h.
// Usage: consumer_cxx <new database folder>. Exits non-zero on any failure.

#include <cstdio>
#include <memory>

#include "canopy/db.h"
#include "canopy/version.h"

namespace {

int Fail(const char* what, const canopy::Status& s) {
  std::fprintf(stderr, "consumer_cxx: %s: %s\n", what, s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer_cxx <database folder>\n");
    return 2;
  }
  std::unique_ptr<canopy::Db> db;
  canopy::Status s = canopy::Db::Open(canopy::Options(), argv[1], &db);
  if (!s.ok()) return Fail("open", s);
  canopy::AccountSpec spec;
  spec.key = "acme";
  spec.name = "ACME";
  auto root = db->CreateAccount(canopy::Actor::System(), spec);
  if (!root.ok()) return Fail("create account", root.status());
  canopy::EntitySpec device;
  device.key = "dev-1";
  device.name = "Van 1";
  device.owner = *root;
  auto id = db->CreateEntity(canopy::Actor::System(), device);
  if (!id.ok()) return Fail("create device", id.status());
  auto n = db->Count(canopy::VisibleRequest{canopy::Actor::System()});
  if (!n.ok()) return Fail("count", n.status());
  if (*n != 1) {
    std::fprintf(stderr, "consumer_cxx: counted %llu devices, expected 1\n",
                 static_cast<unsigned long long>(*n));
    return 1;
  }
  s = db->Close();
  if (!s.ok()) return Fail("close", s);
  std::printf("consumer_cxx: libcanopy %s works\n", canopy::Version());
  return 0;
}
