// File: runners/native/engine/elastic_kv.h
// -----------------------------------------------------------------------------
// ElasticKv: an engine's share of a device's KV memory when that memory is
// shared with other resident models through a planner::KvBudget (the
// candidate and a judge on one GPU).
//
// The engine's KV cache is elastic (Model::ReserveKvCache): block ids for the
// whole budget, memory only where committed. Ids come in units of the
// cache's commit_unit() blocks:
//
//   [0, min)            the guaranteed minimum, committed at Create and held
//                       for the engine's life (the null block lives here);
//   [min, capacity)     borrowed: committed, lowest unit first, when an
//                       allocation runs short and the budget grants it;
//                       decommitted and given back, highest first, when no
//                       block of the unit is referenced and either the
//                       engine is idle or another model is starved.
//
// A unit given back loses the prefix-cache entries of its blocks; a request
// that needs them again recomputes them (its output is bit-identical either
// way). Weights are never touched.
//
// Ownership: borrows the budget and the cache (both outlive it); registers
// with the budget at Create and unregisters in the destructor.
// Thread-safety: Grow, ShrinkUnused and AfterStep run on the engine thread;
// the accessors are safe from any thread.
#ifndef EVALD_RUNNERS_NATIVE_ENGINE_ELASTIC_KV_H_
#define EVALD_RUNNERS_NATIVE_ENGINE_ELASTIC_KV_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runners/native/engine/kv_cache_manager.h"
#include "runners/native/model/model.h"
#include "runners/native/planner/kv_budget.h"

namespace evald::runners::native::engine {

class ElasticKv : public KvGrowth {
 public:
  // `min_blocks` (null block included) is rounded up to whole units and
  // committed now; `fixed_bytes` (weights, workspaces) is reserved in the
  // budget beside it. Fails when the budget cannot guarantee both
  // (ResourceExhausted, naming `name`) or the memory cannot be committed.
  static absl::StatusOr<std::unique_ptr<ElasticKv>> Create(
      planner::KvBudget* budget, std::string name, model::KvCache* cache,
      int min_blocks, int64_t block_bytes, int64_t fixed_bytes);
  ~ElasticKv() override;
  ElasticKv(const ElasticKv&) = delete;
  ElasticKv& operator=(const ElasticKv&) = delete;

  // The blocks a pool over this cache starts with (the rounded minimum).
  int min_blocks() const { return min_units_ * unit_; }

  bool Grow(int short_blocks, BlockPool* pool) override;
  // Gives back every borrowed unit none of whose blocks is referenced.
  // Returns the blocks given back.
  int ShrinkUnused(BlockPool* pool);
  // After each engine step: gives back unused borrowed units when another
  // model is starved, and ends this one's starvation when the step's
  // allocations all fitted.
  void AfterStep(BlockPool* pool);

  int committed_blocks() const {
    return committed_blocks_.load(std::memory_order_relaxed);
  }
  int64_t grown_blocks() const {
    return grown_blocks_.load(std::memory_order_relaxed);
  }
  int64_t shrunk_blocks() const {
    return shrunk_blocks_.load(std::memory_order_relaxed);
  }
  const std::string& name() const { return name_; }

 private:
  ElasticKv(planner::KvBudget* budget, std::string name, model::KvCache* cache,
            int unit, int min_units, int capacity_units, int64_t block_bytes);

  planner::KvBudget* const budget_;
  const std::string name_;
  model::KvCache* const cache_;
  const int unit_;  // blocks per commit unit
  const int min_units_;
  const int64_t unit_bytes_;
  std::vector<bool> committed_;  // per unit
  bool ran_short_ = false;       // a Grow this step was refused in part
  bool starved_ = false;         // the budget has this engine marked starved
  std::atomic<int> committed_blocks_{0};
  std::atomic<int64_t> grown_blocks_{0};
  std::atomic<int64_t> shrunk_blocks_{0};
};

}  // namespace evald::runners::native::engine

#endif  // EVALD_RUNNERS_NATIVE_ENGINE_ELASTIC_KV_H_
