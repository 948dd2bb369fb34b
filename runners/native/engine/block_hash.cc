#include "runners/native/engine/block_hash.h"

#include <array>
#include <cstring>

#include "base/logging.h"
#include "base/sha256.h"
#include "runners/native/model/model.h"

namespace evald::runners::native::engine {
namespace {

BlockHash FromDigest(const std::array<uint8_t, 32>& d) {
  BlockHash h;
  for (int i = 0; i < 8; ++i) {
    h.hi = (h.hi << 8) | d[i];
    h.lo = (h.lo << 8) | d[8 + i];
  }
  return h;
}

void PutU64(uint64_t v, uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

BlockHash RootBlockHash(absl::string_view model_id) {
  base::Sha256 sha;
  sha.Update("evald.kv.root\n");
  sha.Update(model_id);
  return FromDigest(sha.Digest());
}

BlockHash HashBlock(const BlockHash& parent, absl::Span<const int32_t> tokens) {
  CHECK_EQ(tokens.size(), static_cast<size_t>(model::kKvBlockSize));
  // Little-endian serialisation so the hash does not depend on the host.
  uint8_t buf[16 + 4 * model::kKvBlockSize];
  PutU64(parent.hi, buf);
  PutU64(parent.lo, buf + 8);
  for (int i = 0; i < model::kKvBlockSize; ++i) {
    const uint32_t t = static_cast<uint32_t>(tokens[i]);
    for (int b = 0; b < 4; ++b)
      buf[16 + 4 * i + b] = static_cast<uint8_t>(t >> (8 * b));
  }
  base::Sha256 sha;
  sha.Update(buf, sizeof(buf));
  return FromDigest(sha.Digest());
}

void ExtendBlockHashes(const BlockHash& root, absl::Span<const int32_t> tokens,
                       std::vector<BlockHash>* hashes) {
  const size_t full = tokens.size() / model::kKvBlockSize;
  while (hashes->size() < full) {
    const size_t i = hashes->size();
    const BlockHash& parent = i == 0 ? root : (*hashes)[i - 1];
    hashes->push_back(HashBlock(
        parent, tokens.subspan(i * model::kKvBlockSize, model::kKvBlockSize)));
  }
}

}  // namespace evald::runners::native::engine
