// Copyright (c) Canopy authors.

#include "query/scan.h"

#include "storage/records.h"

namespace canopy::query {

ScanIterator::ScanIterator(const storage::Store* store, std::shared_ptr<const ScanView> view,
                           ScanFilter filter, std::string resume_after)
    : store_(store),
      view_(std::move(view)),
      filter_(std::move(filter)),
      resume_after_(std::move(resume_after)) {
  const uint8_t kind = static_cast<uint8_t>(filter_.kind);
  // Skip grants that end at or before the resume point.
  while (grant_ < view_->grants().size() && !resume_after_.empty()) {
    const Grant& g = view_->grants()[grant_];
    if (storage::IndexRangeLimit(kind, g.label, g.branch) > resume_after_) break;
    ++grant_;
  }
  if (OpenGrant(grant_)) Settle();
}

bool ScanIterator::OpenGrant(size_t g) {
  it_.reset();
  if (g >= view_->grants().size()) return false;
  const uint8_t kind = static_cast<uint8_t>(filter_.kind);
  const Grant& grant = view_->grants()[g];
  std::string lower = storage::IndexRangeStart(kind, grant.label, grant.branch);
  std::string upper = storage::IndexRangeLimit(kind, grant.label, grant.branch);
  it_ = store_->NewIterator(storage::kVisibility, view_->snapshot(), lower, upper);
  if (!resume_after_.empty() && resume_after_ >= lower) {
    // Position strictly after the last key returned.
    std::string after = resume_after_;
    after.push_back('\0');
    (*it_)->Seek(after);
  } else {
    (*it_)->SeekToFirst();
  }
  return true;
}

void ScanIterator::Settle() {
  valid_ = false;
  while (it_ != nullptr) {
    while ((*it_)->Valid()) {
      if (Matches()) {
        valid_ = true;
        return;
      }
      if (!status_.ok()) return;
      (*it_)->Next();
    }
    if (!(*it_)->status().ok()) {
      status_ = storage::FromRocks((*it_)->status(), "scan visibility index");
      it_.reset();
      return;
    }
    OpenGrant(++grant_);
  }
}

bool ScanIterator::Matches() {
  rocksdb::Slice k = (*it_)->key();
  rocksdb::Slice v = (*it_)->value();
  if (k.size() < 11 ||
      !storage::DecodeIndexValue(std::string_view(v.data(), v.size()), &value_)) {
    status_ = Status::Corruption("visibility index entry is damaged");
    it_.reset();
    return false;
  }
  id_ = storage::DecodeFixed64BE(k.data() + k.size() - 8);
  if (filter_.type && value_.type != *filter_.type) return false;
  if (!filter_.name_prefix.empty() &&
      value_.name.substr(0, filter_.name_prefix.size()) != filter_.name_prefix) {
    return false;
  }
  if (filter_.attribute) {
    std::string bytes;
    Status s = store_->Get(storage::kEntities, storage::IdKey(id_), &bytes, view_->snapshot());
    Entity e;
    if (s.ok()) s = storage::DecodeEntity(bytes, &e);
    if (!s.ok()) {
      status_ = s.WithContext("entity " + std::to_string(id_) + " of the visibility index");
      it_.reset();
      return false;
    }
    auto a = e.attributes.find(filter_.attribute->name);
    if (a == e.attributes.end() || a->second != filter_.attribute->value) return false;
  }
  return true;
}

void ScanIterator::Next() {
  if (!valid_) return;
  (*it_)->Next();
  Settle();
}

std::string_view ScanIterator::index_key() const {
  rocksdb::Slice k = (*it_)->key();
  return {k.data(), k.size()};
}

}  // namespace canopy::query
