// File: runners/native/planner/kv_budget.cc
#include "runners/native/planner/kv_budget.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace evald::runners::native::planner {

absl::Status KvBudget::Register(absl::string_view model, int64_t min_bytes,
                                int64_t fixed_bytes) {
  if (min_bytes < 0 || fixed_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv budget: negative size for ", model));
  }
  absl::MutexLock lock(&mu_);
  if (leases_.contains(model)) {
    return absl::AlreadyExistsError(
        absl::StrCat("kv budget: model ", model, " already registered"));
  }
  int64_t reserved = min_bytes + fixed_bytes;
  for (const auto& [name, lease] : leases_)
    reserved += lease.fixed + std::max(lease.min, lease.held);
  if (reserved > total_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "memory budget: ", model, " needs ", fixed_bytes,
        " bytes resident plus ", min_bytes,
        " bytes of kv, and with the models already resident that makes ",
        reserved, " bytes against ", total_bytes_, " available"));
  }
  leases_[std::string(model)] = Lease{fixed_bytes, min_bytes, 0, false};
  return absl::OkStatus();
}

void KvBudget::Unregister(absl::string_view model) {
  absl::MutexLock lock(&mu_);
  leases_.erase(model);
}

int64_t KvBudget::SharedFreeLocked() const {
  // Each model's footprint is its fixed part plus the larger of its minimum
  // (always reserved) and what it holds (minimum plus borrowed).
  int64_t used = 0;
  for (const auto& [name, lease] : leases_)
    used += lease.fixed + std::max(lease.min, lease.held);
  return total_bytes_ - used;
}

absl::StatusOr<int64_t> KvBudget::Acquire(absl::string_view model,
                                          int64_t wanted, int64_t unit) {
  if (wanted < 0 || unit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv budget: bad request from ", model, " (", wanted,
                     " in units of ", unit, ")"));
  }
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(model);
  if (it == leases_.end()) {
    return absl::NotFoundError(
        absl::StrCat("kv budget: model ", model, " not registered"));
  }
  Lease& lease = it->second;
  const int64_t own_unused = std::max<int64_t>(0, lease.min - lease.held);
  const int64_t available =
      std::max<int64_t>(0, own_unused + SharedFreeLocked());
  const int64_t grant = std::min(wanted, available) / unit * unit;
  lease.held += grant;
  lease.starved = grant < wanted;
  return grant;
}

absl::Status KvBudget::Release(absl::string_view model, int64_t bytes) {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(model);
  if (it == leases_.end()) {
    return absl::NotFoundError(
        absl::StrCat("kv budget: model ", model, " not registered"));
  }
  if (bytes < 0 || bytes > it->second.held) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv budget: ", model, " releases ", bytes,
                     " bytes but holds ", it->second.held));
  }
  it->second.held -= bytes;
  return absl::OkStatus();
}

void KvBudget::ClearStarved(absl::string_view model) {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(model);
  if (it != leases_.end()) it->second.starved = false;
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

bool KvBudget::OthersStarved(absl::string_view model) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, lease] : leases_) {
    if (name != model && lease.starved) return true;
  }
  return false;
}

}  // namespace evald::runners::native::planner
