// File: runners/native/planner/kv_budget.cc
#include "runners/native/planner/kv_budget.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace evald::native {

absl::Status KvBudget::Register(absl::string_view model, int64_t min_blocks) {
  if (min_blocks < 0) {
    return absl::InvalidArgumentError(absl::StrCat("kv budget: negative minimum for ", model));
  }
  absl::MutexLock lock(&mu_);
  if (leases_.contains(model)) {
    return absl::AlreadyExistsError(absl::StrCat("kv budget: model ", model, " already registered"));
  }
  int64_t reserved = min_blocks;
  for (const auto& [name, lease] : leases_) reserved += lease.min_blocks;
  if (reserved > total_blocks_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("kv budget: minimum of ", min_blocks, " blocks for ", model, " does not fit: ",
                     reserved, " blocks guaranteed in all vs ", total_blocks_, " available"));
  }
  leases_[std::string(model)] = Lease{min_blocks, 0};
  return absl::OkStatus();
}

void KvBudget::Unregister(absl::string_view model) {
  absl::MutexLock lock(&mu_);
  leases_.erase(model);
}

int64_t KvBudget::SharedFreeLocked() const {
  // Each model's footprint is the larger of its minimum (always reserved)
  // and what it holds (minimum plus borrowed).
  int64_t used = 0;
  for (const auto& [name, lease] : leases_) used += std::max(lease.min_blocks, lease.held);
  return total_blocks_ - used;
}

absl::StatusOr<int64_t> KvBudget::Acquire(absl::string_view model, int64_t wanted) {
  if (wanted < 0) {
    return absl::InvalidArgumentError(absl::StrCat("kv budget: negative request from ", model));
  }
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(model);
  if (it == leases_.end()) {
    return absl::NotFoundError(absl::StrCat("kv budget: model ", model, " not registered"));
  }
  Lease& lease = it->second;
  const int64_t own_unused = std::max<int64_t>(0, lease.min_blocks - lease.held);
  const int64_t grant = std::min(wanted, own_unused + SharedFreeLocked());
  lease.held += grant;
  return grant;
}

absl::Status KvBudget::Release(absl::string_view model, int64_t blocks) {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(model);
  if (it == leases_.end()) {
    return absl::NotFoundError(absl::StrCat("kv budget: model ", model, " not registered"));
  }
  if (blocks < 0 || blocks > it->second.held) {
    return absl::InvalidArgumentError(absl::StrCat("kv budget: ", model, " releases ", blocks,
                                                   " blocks but holds ", it->second.held));
  }
  it->second.held -= blocks;
  return absl::OkStatus();
}

int64_t KvBudget::Held(absl::string_view model) const {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(model);
  return it == leases_.end() ? 0 : it->second.held;
}

int64_t KvBudget::SharedFree() const {
  absl::MutexLock lock(&mu_);
  return SharedFreeLocked();
}

}  // namespace evald::native
