// File: runners/native/engine/elastic_kv.cc
#include "runners/native/engine/elastic_kv.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"

namespace evald::runners::native::engine {

absl::StatusOr<std::unique_ptr<ElasticKv>> ElasticKv::Create(
    planner::KvBudget* budget, std::string name, model::KvCache* cache,
    int min_blocks, int64_t block_bytes, int64_t fixed_bytes) {
  const int unit = cache->commit_unit();
  if (unit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("elastic kv for ", name, ": the kv cache is not elastic"));
  }
  const int capacity_units = cache->num_blocks() / unit;
  const int min_units = std::max(1, (min_blocks + unit - 1) / unit);
  if (min_units > capacity_units) {
    return absl::ResourceExhaustedError(
        absl::StrCat("kv pool of ", name, ": the minimum of ", min_blocks,
                     " blocks exceeds the ", capacity_units * unit,
                     " the memory budget can ever hold"));
  }
  const int64_t unit_bytes = block_bytes * unit;
  RETURN_IF_ERROR(budget->Register(name, min_units * unit_bytes, fixed_bytes));
  std::unique_ptr<ElasticKv> kv(new ElasticKv(budget, std::move(name), cache,
                                              unit, min_units, capacity_units,
                                              block_bytes));
  ASSIGN_OR_RETURN(
      const int64_t granted,
      budget->Acquire(kv->name_, min_units * unit_bytes, unit_bytes));
  if (granted != min_units * unit_bytes) {
    return absl::InternalError(
        absl::StrCat("kv budget did not grant the minimum of ", kv->name_));
  }
  RETURN_IF_ERROR(cache->Commit(0, min_units * unit));
  for (int u = 0; u < min_units; ++u) kv->committed_[u] = true;
  kv->committed_blocks_ = min_units * unit;
  return kv;
}

ElasticKv::ElasticKv(planner::KvBudget* budget, std::string name,
                     model::KvCache* cache, int unit, int min_units,
                     int capacity_units, int64_t block_bytes)
    : budget_(budget),
      name_(std::move(name)),
      cache_(cache),
      unit_(unit),
      min_units_(min_units),
      unit_bytes_(block_bytes * unit),
      committed_(capacity_units, false) {}

ElasticKv::~ElasticKv() { budget_->Unregister(name_); }

bool ElasticKv::Grow(int short_blocks, BlockPool* pool) {
  std::vector<int> free_units;
  const int wanted_units = (short_blocks + unit_ - 1) / unit_;
  for (int u = min_units_; u < static_cast<int>(committed_.size()) &&
                           static_cast<int>(free_units.size()) < wanted_units;
       ++u) {
    if (!committed_[u]) free_units.push_back(u);
  }
  if (free_units.empty()) {
    ran_short_ = true;
    return false;
  }
  const int64_t wanted = static_cast<int64_t>(free_units.size()) * unit_bytes_;
  absl::StatusOr<int64_t> granted =
      budget_->Acquire(name_, wanted, unit_bytes_);
  if (!granted.ok()) {
    LOG(WARNING) << "kv pool of " << name_ << ": " << granted.status();
    ran_short_ = true;
    return false;
  }
  if (*granted < static_cast<int64_t>(wanted_units) * unit_bytes_)
    ran_short_ = true;
  starved_ = starved_ || ran_short_;
  const int units = static_cast<int>(*granted / unit_bytes_);
  int added = 0;
  for (int i = 0; i < units; ++i) {
    const int u = free_units[i];
    const absl::Status st = cache_->Commit(u * unit_, unit_);
    if (!st.ok()) {
      // The budget allowed it but the device did not (another process, or
      // fragmentation): give back what could not be committed.
      LOG(WARNING) << "kv pool of " << name_ << ": " << st;
      (void)budget_->Release(name_,
                             static_cast<int64_t>(units - i) * unit_bytes_);
      ran_short_ = true;
      break;
    }
    committed_[u] = true;
    pool->ActivateBlocks(u * unit_, unit_);
    ++added;
  }
  committed_blocks_ += added * unit_;
  grown_blocks_ += added * unit_;
  return added > 0;
}

int ElasticKv::ShrinkUnused(BlockPool* pool) {
  int released = 0;
  for (int u = static_cast<int>(committed_.size()) - 1; u >= min_units_; --u) {
    if (!committed_[u] || !pool->DeactivateBlocks(u * unit_, unit_)) continue;
    cache_->Decommit(u * unit_, unit_);
    committed_[u] = false;
    const absl::Status st = budget_->Release(name_, unit_bytes_);
    if (!st.ok()) LOG(WARNING) << "kv pool of " << name_ << ": " << st;
    released += unit_;
  }
  committed_blocks_ -= released;
  shrunk_blocks_ += released;
  return released;
}

void ElasticKv::AfterStep(BlockPool* pool) {
  if (starved_ && !ran_short_) {
    budget_->ClearStarved(name_);
    starved_ = false;
  }
  ran_short_ = false;
  if (budget_->OthersStarved(name_)) ShrinkUnused(pool);
}

}  // namespace evald::runners::native::engine
