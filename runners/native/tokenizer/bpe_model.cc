#include "runners/native/tokenizer/bpe_model.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "runners/native/tokenizer/text_util.h"

namespace evald::runners::native::tokenizer::internal {
namespace {

// Real vocabularies stay far below this; the bound keeps a hostile file from
// making the id table enormous.
constexpr int64_t kMaxTokenId = (1 << 21) - 1;

std::string Quote(absl::string_view s) {
  std::string out = "'";
  // Long or binary tokens would make the message unreadable.
  const absl::string_view head = s.substr(0, 64);
  out.append(head.data(), head.size());
  if (s.size() > 64) out += "...";
  out += "'";
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(
    const base::JsonReader& model) {
  RETURN_IF_ERROR(model.Object().status());
  const base::JsonReader type = model.Field("type");
  ASSIGN_OR_RETURN(const std::string type_name, type.StringOr("BPE"));
  if (type_name != "BPE") {
    return type.Error(absl::StrCat("unsupported model type ", Quote(type_name),
                                   " (only BPE is supported)"));
  }
  auto m = std::unique_ptr<BpeModel>(new BpeModel);
  m->byte_ids_.fill(-1);

  ASSIGN_OR_RETURN(const base::JsonReader vocab, model.Field("vocab").Object());
  int64_t max_id = -1;
  m->vocab_.reserve(vocab.size());
  // Entries are checked in place, and a reader (which builds the entry's
  // path) made only for an error: vocabularies run to hundreds of thousands.
  // So are merges below.
  for (size_t i = 0; i < vocab.size(); ++i) {
    const auto& [token, id_json] = vocab.json().object()[i];
    if (!id_json.is_int() || id_json.int_value() < 0 ||
        id_json.int_value() > kMaxTokenId) {
      return vocab.Item(i).Int(0, kMaxTokenId).status();
    }
    m->vocab_[token] = static_cast<int32_t>(id_json.int_value());
    max_id = std::max(max_id, id_json.int_value());
  }
  m->id_to_token_.resize(static_cast<size_t>(max_id + 1));
  m->id_present_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [token, id] : m->vocab_) {
    m->id_to_token_[id] = token;
    m->id_present_[id] = true;
  }

  ASSIGN_OR_RETURN(m->continuing_subword_prefix_,
                   model.Field("continuing_subword_prefix").StringOr(""));
  ASSIGN_OR_RETURN(m->end_of_word_suffix_,
                   model.Field("end_of_word_suffix").StringOr(""));
  ASSIGN_OR_RETURN(m->fuse_unk_, model.Field("fuse_unk").BoolOr(false));
  ASSIGN_OR_RETURN(m->byte_fallback_,
                   model.Field("byte_fallback").BoolOr(false));
  ASSIGN_OR_RETURN(m->ignore_merges_,
                   model.Field("ignore_merges").BoolOr(false));
  const base::JsonReader dropout = model.Field("dropout");
  ASSIGN_OR_RETURN(const double dropout_p, dropout.NumberOr(0.0));
  if (dropout_p != 0.0) {
    return dropout.Error(
        "BPE dropout is not supported (encoding must be exact)");
  }
  if (const base::JsonReader unk = model.Field("unk_token"); unk.present()) {
    ASSIGN_OR_RETURN(const std::string unk_token, unk.String());
    auto it = m->vocab_.find(unk_token);
    // HF tolerates an unk_token missing from the vocabulary; it is then never
    // emitted.
    if (it != m->vocab_.end()) m->unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = m->vocab_.find(absl::StrFormat("<0x%02X>", b));
    if (it != m->vocab_.end()) m->byte_ids_[b] = it->second;
  }

  ASSIGN_OR_RETURN(const base::JsonReader merges,
                   model.Field("merges").Array());
  m->merges_.reserve(merges.size());
  const std::string& prefix = m->continuing_subword_prefix_;
  std::string merged;
  for (size_t i = 0; i < merges.size(); ++i) {
    const base::Json& merge = merges.json().array()[i];
    absl::string_view a, b;
    if (merge.is_string()) {
      const absl::string_view v = merge.string_value();
      const size_t space = v.find(' ');
      if (space == absl::string_view::npos ||
          v.find(' ', space + 1) != absl::string_view::npos) {
        return merges.Item(i).Expected(R"("left right")");
      }
      a = v.substr(0, space);
      b = v.substr(space + 1);
    } else if (merge.is_array() && merge.array().size() == 2 &&
               merge.array()[0].is_string() && merge.array()[1].is_string()) {
      a = merge.array()[0].string_value();
      b = merge.array()[1].string_value();
    } else {
      return merges.Item(i).Expected(
          "a string or a [left, right] pair of strings");
    }
    auto ia = m->vocab_.find(a);
    if (ia == m->vocab_.end()) {
      return merges.Item(i).Error(absl::StrCat("unknown token ", Quote(a)));
    }
    auto ib = m->vocab_.find(b);
    if (ib == m->vocab_.end()) {
      return merges.Item(i).Error(absl::StrCat("unknown token ", Quote(b)));
    }
    absl::string_view b_tail = b;
    if (!prefix.empty() && absl::StartsWith(b_tail, prefix))
      b_tail.remove_prefix(prefix.size());
    merged.assign(a.data(), a.size());
    merged.append(b_tail.data(), b_tail.size());
    auto im = m->vocab_.find(merged);
    if (im == m->vocab_.end()) {
      return merges.Item(i).Error(absl::StrCat("merge result ", Quote(merged),
                                               " is not in the vocabulary"));
    }
    // A repeated pair takes its last rank, as the reference's map insert does.
    m->merges_[PairKey(ia->second, ib->second)] =
        Merge{static_cast<int32_t>(i), im->second};
  }
  return m;
}

std::optional<int32_t> BpeModel::TokenToId(absl::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() ||
      !id_present_[id])
    return nullptr;
  return &id_to_token_[id];
}

void BpeModel::Tokenize(absl::string_view word,
                        std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  if (word.size() >= kMaxCachedWordBytes) {
    TokenizeUncached(word, out);
    return;
  }
  {
    absl::ReaderMutexLock lock(&cache_mu_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t begin = out->size();
  TokenizeUncached(word, out);
  std::vector<int32_t> ids(out->begin() + static_cast<std::ptrdiff_t>(begin),
                           out->end());
  absl::MutexLock lock(&cache_mu_);
  // A full cache is dropped wholesale: simple, bounded, and hot words come
  // straight back.
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(std::string(word), std::move(ids));
}

void BpeModel::TokenizeUncached(absl::string_view word,
                                std::vector<int32_t>* out) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto push = [&symbols](int32_t id) {
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{id, index - 1, index + 1, true});
  };
  bool last_was_unk = false;
  std::string piece;
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t len =
        std::min(Utf8Len(static_cast<uint8_t>(word[pos])), word.size() - pos);
    const absl::string_view ch = word.substr(pos, len);
    const bool first = pos == 0;
    pos += len;
    const bool last = pos == word.size();
    piece.clear();
    if (!first) piece += continuing_subword_prefix_;
    piece.append(ch.data(), ch.size());
    if (last) piece += end_of_word_suffix_;
    auto it = vocab_.find(piece);
    if (it != vocab_.end()) {
      push(it->second);
      last_was_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : piece) all = all && byte_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all) {
        for (char c : piece) push(byte_ids_[static_cast<uint8_t>(c)]);
        last_was_unk = false;
        continue;
      }
    }
    if (unk_id_.has_value()) {
      if (!(fuse_unk_ && last_was_unk)) push(*unk_id_);
      last_was_unk = true;
    }
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>,
                      std::greater<Candidate>>
      queue;
  auto consider = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(PairKey(symbols[left].id, symbols[right].id));
    if (it != merges_.end())
      queue.push(Candidate{it->second.rank, left, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i)
    consider(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    auto it = merges_.find(PairKey(left.id, right.id));
    // Stale entry: one side has merged since this pair was queued.
    if (it == merges_.end() || it->second.new_id != top.new_id ||
        it->second.rank != top.rank) {
      continue;
    }
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next)
    out->push_back(symbols[i].id);
}

}  // namespace evald::runners::native::tokenizer::internal
