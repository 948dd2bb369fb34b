// File: daemon/cluster/shards.h
// -----------------------------------------------------------------------------
// How a sharded run's documents are split: every task's documents, in their
// stored order, cut into `shards` contiguous ranges whose sizes differ by at
// most one. The split depends only on the document count and the shard
// count, so a resubmitted shard is the same work, and contiguous ranges keep
// the documents that share a few-shot prefix (an MMLU subject) together.
#ifndef EVALD_DAEMON_CLUSTER_SHARDS_H_
#define EVALD_DAEMON_CLUSTER_SHARDS_H_

#include <cstdint>

namespace evald::daemon::cluster {

struct DocRange {
  int64_t first = 0;  // [first, end)
  int64_t end = 0;
};

// Shard `index` (0 <= index < shards) of `documents` documents.
inline DocRange ShardRange(int64_t documents, int32_t shards, int32_t index) {
  const auto cut = [&](int64_t i) {
    // documents * i / shards without overflow for any realistic count.
    return documents / shards * i + documents % shards * i / shards;
  };
  return DocRange{cut(index), cut(index + 1)};
}

}  // namespace evald::daemon::cluster

#endif  // EVALD_DAEMON_CLUSTER_SHARDS_H_
