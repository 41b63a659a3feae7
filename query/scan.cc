// Copyright (c) Canopy authors.

#include "query/scan.h"

#include <algorithm>

#include "storage/records.h"

namespace canopy::query {

ScanIterator::ScanIterator(const storage::Store* store, std::shared_ptr<const ScanView> view,
                           ScanFilter filter, std::string resume_after, size_t expected)
    : store_(store),
      view_(std::move(view)),
      filter_(std::move(filter)),
      resume_after_(std::move(resume_after)),
      expected_(expected) {
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
  group_its_.clear();
  sparse_ = false;
  sparse_ids_.clear();
  sparse_at_ = 0;
  sparse_batch_ = FirstBatch();
  if (g >= view_->grants().size()) return false;
  const uint8_t kind = static_cast<uint8_t>(filter_.kind);
  const Grant& grant = view_->grants()[g];
  if (!grant.groups.empty()) {
    // Members of the account's entity groups: their index keys all lie in
    // the account's direct range, in id order.
    sparse_ = true;
    uint64_t first = 0;
    const std::string lower = storage::IndexRangeStart(kind, grant.label, false);
    if (!resume_after_.empty() && resume_after_ >= lower &&
        resume_after_.size() == lower.size() + 8 &&
        resume_after_.compare(0, lower.size(), lower) == 0) {
      first = storage::DecodeFixed64BE(resume_after_.data() + lower.size()) + 1;
    }
    for (GroupId gid : grant.groups) {
      const std::string prefix = storage::GroupMembersPrefix(gid);
      group_its_.push_back(store_->NewIterator(storage::kGroups, view_->snapshot(),
                                               storage::GroupMemberKey(gid, first),
                                               storage::PrefixSuccessor(prefix)));
      (*group_its_.back())->SeekToFirst();
    }
    return true;
  }
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

size_t ScanIterator::FirstBatch() const {
  return expected_ == 0 ? 8 : std::clamp<size_t>(expected_, 8, 256);
}

bool ScanIterator::FillSparse() {
  sparse_ids_.clear();
  sparse_at_ = 0;
  while (sparse_ids_.size() < sparse_batch_) {
    uint64_t id = 0;
    bool any = false;
    for (auto& it : group_its_) {
      if (!(*it)->Valid()) {
        if (!(*it)->status().ok()) {
          status_ = storage::FromRocks((*it)->status(), "scan group members");
          return false;
        }
        continue;
      }
      rocksdb::Slice k = (*it)->key();
      if (k.size() != 17) {
        status_ = Status::Corruption("a group member key is damaged");
        return false;
      }
      const uint64_t m = storage::DecodeFixed64BE(k.data() + 9);
      if (!any || m < id) id = m;
      any = true;
    }
    if (!any) break;
    for (auto& it : group_its_) {
      if ((*it)->Valid() && storage::DecodeFixed64BE((*it)->key().data() + 9) == id) (*it)->Next();
    }
    sparse_ids_.push_back(id);
  }
  if (sparse_ids_.empty()) return false;
  sparse_batch_ = std::min<size_t>(sparse_batch_ * 2, 256);
  const Grant& grant = view_->grants()[grant_];
  const uint8_t kind = static_cast<uint8_t>(filter_.kind);
  sparse_keys_.resize(sparse_ids_.size());
  std::vector<rocksdb::Slice> keys(sparse_ids_.size());
  for (size_t i = 0; i < sparse_ids_.size(); ++i) {
    sparse_keys_[i] = storage::IndexKey(kind, grant.label, sparse_ids_[i]);
    keys[i] = sparse_keys_[i];
  }
  store_->MultiGet(storage::kVisibility, keys, &sparse_values_, &sparse_statuses_,
                   view_->snapshot(), /*sorted=*/true);
  return true;
}

bool ScanIterator::NextSparse() {
  if (sparse_at_ >= sparse_ids_.size() && !FillSparse()) return false;
  const size_t i = sparse_at_++;
  const rocksdb::Status& s = sparse_statuses_[i];
  if (!s.ok()) {
    status_ = s.IsNotFound() ? Status::Corruption("group member " + std::to_string(sparse_ids_[i]) +
                                                  " is not in its owner's visibility index")
                             : storage::FromRocks(s, "read visibility index");
    return false;
  }
  sparse_key_ = sparse_keys_[i];
  sparse_value_.assign(sparse_values_[i].data(), sparse_values_[i].size());
  return true;
}

void ScanIterator::Settle() {
  valid_ = false;
  while (sparse_ || it_ != nullptr) {
    if (sparse_) {
      while (NextSparse()) {
        if (Matches(sparse_key_, sparse_value_)) {
          valid_ = true;
          return;
        }
        if (!status_.ok()) return;
      }
      if (!status_.ok()) {
        group_its_.clear();
        sparse_ = false;
        return;
      }
      OpenGrant(++grant_);
      continue;
    }
    while ((*it_)->Valid()) {
      rocksdb::Slice k = (*it_)->key();
      rocksdb::Slice v = (*it_)->value();
      if (Matches(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) {
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

bool ScanIterator::Matches(std::string_view k, std::string_view v) {
  if (k.size() < 11 || !storage::DecodeIndexValue(v, &value_)) {
    status_ = Status::Corruption("visibility index entry is damaged");
    it_.reset();
    sparse_ = false;
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
      sparse_ = false;
      return false;
    }
    auto a = e.attributes.find(filter_.attribute->name);
    if (a == e.attributes.end() || a->second != filter_.attribute->value) return false;
  }
  return true;
}

void ScanIterator::Next() {
  if (!valid_) return;
  if (!sparse_) (*it_)->Next();
  Settle();
}

std::string_view ScanIterator::index_key() const {
  if (sparse_) return sparse_key_;
  rocksdb::Slice k = (*it_)->key();
  return {k.data(), k.size()};
}

}  // namespace canopy::query
