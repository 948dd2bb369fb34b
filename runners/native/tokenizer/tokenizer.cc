#include "runners/native/tokenizer/tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "base/file.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "runners/native/tokenizer/bpe_model.h"
#include "runners/native/tokenizer/pipeline.h"
#include "runners/native/tokenizer/text_util.h"

namespace evald::runners::native::tokenizer {
namespace {

using base::Json;
using base::JsonReader;
using internal::BpeModel;
using internal::Piece;

constexpr int64_t kMaxAddedTokenId = (1 << 21) - 1;

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

// Leftmost-longest matching of added-token contents over UTF-8 bytes (a byte
// trie), with the single_word / lstrip / rstrip rules applied per match.
class AddedTokenMatcher {
 public:
  struct Segment {
    size_t begin;
    size_t end;
    int32_t token;  // index into the token table, -1 for plain text
  };

  AddedTokenMatcher() { nodes_.emplace_back(); }

  void Add(absl::string_view content, int32_t token_index) {
    if (content.empty()) return;
    int32_t node = 0;
    for (char c : content) {
      const uint8_t b = static_cast<uint8_t>(c);
      auto it = nodes_[node].next.find(b);
      if (it == nodes_[node].next.end()) {
        const int32_t child = static_cast<int32_t>(nodes_.size());
        nodes_[node].next.emplace(b, child);
        nodes_.emplace_back();
        node = child;
      } else {
        node = it->second;
      }
    }
    nodes_[node].token = token_index;
    first_byte_[static_cast<uint8_t>(content[0])] = true;
    empty_ = false;
  }

  bool empty() const { return empty_; }

  // Splits `s` into text and token segments covering it in order.
  void Split(absl::string_view s, const std::vector<AddedToken>& tokens,
             std::vector<Segment>* out) const {
    size_t pos = 0, text_start = 0;
    const size_t n = s.size();
    while (pos < n) {
      if (!first_byte_[static_cast<uint8_t>(s[pos])]) {
        ++pos;
        continue;
      }
      int32_t node = 0, match = -1;
      size_t match_end = 0;
      for (size_t j = pos; j < n; ++j) {
        auto it = nodes_[node].next.find(static_cast<uint8_t>(s[j]));
        if (it == nodes_[node].next.end()) break;
        node = it->second;
        if (nodes_[node].token >= 0) {
          match = nodes_[node].token;
          match_end = j + 1;
        }
      }
      if (match < 0) {
        ++pos;
        continue;
      }
      const AddedToken& tok = tokens[match];
      size_t begin = pos, end = match_end;
      if (tok.single_word &&
          !(IsBoundaryBefore(s, begin) && IsBoundaryAfter(s, end))) {
        // The reference's matcher has consumed this span; it is not searched
        // again for shorter tokens.
        pos = end;
        continue;
      }
      if (tok.lstrip) {
        while (begin > text_start) {
          size_t start = begin - 1;
          while (start > text_start &&
                 (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80)
            --start;
          size_t p = start;
          if (!internal::IsWhitespace(base::DecodeUtf8At(s, &p))) break;
          begin = start;
        }
      }
      if (tok.rstrip) {
        while (end < n) {
          size_t p = end;
          if (!internal::IsWhitespace(base::DecodeUtf8At(s, &p))) break;
          end = p;
        }
      }
      if (begin > text_start) out->push_back({text_start, begin, -1});
      out->push_back({begin, end, match});
      text_start = pos = end;
    }
    if (text_start < n) out->push_back({text_start, n, -1});
  }

 private:
  static bool IsBoundaryBefore(absl::string_view s, size_t at) {
    if (at == 0) return true;
    size_t start = at - 1;
    while (start > 0 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80)
      --start;
    size_t p = start;
    return !internal::IsWordChar(base::DecodeUtf8At(s, &p));
  }
  static bool IsBoundaryAfter(absl::string_view s, size_t at) {
    if (at >= s.size()) return true;
    size_t p = at;
    return !internal::IsWordChar(base::DecodeUtf8At(s, &p));
  }

  struct Node {
    absl::flat_hash_map<uint8_t, int32_t> next;
    int32_t token = -1;
  };
  std::vector<Node> nodes_;
  bool first_byte_[256] = {};
  bool empty_ = true;
};

// The `{"content": ...}` or plain-string form of a special token in
// tokenizer_config.json; nullopt when absent or null.
absl::StatusOr<std::optional<std::string>> ConfigToken(
    const JsonReader& token) {
  if (!token.present()) return std::nullopt;
  if (token.json().is_string()) return token.json().string_value();
  if (token.json().is_object()) return token.Field("content").String();
  return token.Expected(R"(a string or an object with "content")");
}

void CleanUpTokenization(std::string* s) {
  // The fixed list of English tokenization artefacts transformers removes,
  // applied in the same order.
  static const std::pair<absl::string_view, absl::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},     {" !", "!"},   {" ,", ","},
      {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"},
      {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    if (absl::StrContains(*s, from)) *s = absl::StrReplaceAll(*s, {{from, to}});
  }
}

class HfTokenizer : public Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(
      absl::string_view tokenizer_json, absl::string_view config_json,
      absl::string_view json_label, absl::string_view config_label);

  absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text, bool add_special_tokens) const override;
  std::string Decode(absl::Span<const int32_t> ids,
                     bool skip_special_tokens) const override;
  std::string TokenBytes(int32_t id) const override;
  int vocab_size() const override { return vocab_size_; }
  std::optional<int32_t> TokenToId(absl::string_view token) const override;
  std::optional<std::string> IdToToken(int32_t id) const override;
  bool IsSpecial(int32_t id) const override {
    return special_ids_.contains(id);
  }
  std::optional<int32_t> bos_id() const override { return bos_id_; }
  std::optional<int32_t> eos_id() const override { return eos_id_; }
  std::string bos_token() const override { return bos_token_; }
  std::string eos_token() const override { return eos_token_; }
  const std::string& chat_template() const override { return chat_template_; }

 private:
  absl::Status ParseAddedTokens(const JsonReader& root);
  absl::Status ParseConfig(const JsonReader& config);
  absl::Status EncodeText(absl::string_view text, bool at_origin,
                          std::vector<int32_t>* ids) const;

  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<internal::Normalizer> normalizer_;
  std::unique_ptr<internal::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<internal::Decoder> decoder_;
  std::unique_ptr<internal::PostProcessor> post_processor_;

  std::vector<AddedToken> added_;
  absl::flat_hash_map<int32_t, int32_t> added_by_id_;  // id -> index in added_
  absl::flat_hash_map<std::string, int32_t> added_by_text_;  // content -> id
  absl::flat_hash_set<int32_t> special_ids_;
  AddedTokenMatcher raw_matcher_;         // tokens matched before normalization
  AddedTokenMatcher normalized_matcher_;  // tokens matched after it
  std::vector<AddedToken> normalized_added_;  // with normalized contents

  int vocab_size_ = 0;
  std::optional<int32_t> bos_id_, eos_id_;
  std::string bos_token_, eos_token_;
  std::string chat_template_;
  bool clean_up_spaces_ = false;
};

absl::StatusOr<std::unique_ptr<Tokenizer>> HfTokenizer::Create(
    absl::string_view tokenizer_json, absl::string_view config_json,
    absl::string_view json_label, absl::string_view config_label) {
  base::JsonParseOptions options;
  options.max_depth = 128;
  auto root_or = base::ParseJson(tokenizer_json, options);
  if (!root_or.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(json_label, ": ", root_or.status().message()));
  }
  ASSIGN_OR_RETURN(const JsonReader root,
                   JsonReader(*root_or, json_label).Object());

  auto t = std::make_unique<HfTokenizer>();
  ASSIGN_OR_RETURN(t->model_, BpeModel::FromJson(root.Field("model")));
  if (const JsonReader j = root.Field("normalizer"); j.present()) {
    ASSIGN_OR_RETURN(t->normalizer_, internal::NormalizerFromJson(j));
  }
  if (const JsonReader j = root.Field("pre_tokenizer"); j.present()) {
    ASSIGN_OR_RETURN(t->pre_tokenizer_, internal::PreTokenizerFromJson(j));
  }
  if (const JsonReader j = root.Field("decoder"); j.present()) {
    ASSIGN_OR_RETURN(t->decoder_, internal::DecoderFromJson(j));
  }
  RETURN_IF_ERROR(t->ParseAddedTokens(root));
  if (const JsonReader j = root.Field("post_processor"); j.present()) {
    const HfTokenizer* self = t.get();
    ASSIGN_OR_RETURN(t->post_processor_, internal::PostProcessorFromJson(
                                             j, [self](absl::string_view tok) {
                                               return self->TokenToId(tok);
                                             }));
  }

  if (!config_json.empty()) {
    auto config_or = base::ParseJson(config_json, options);
    if (!config_or.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_label, ": ", config_or.status().message()));
    }
    ASSIGN_OR_RETURN(const JsonReader config,
                     JsonReader(*config_or, config_label).Object());
    RETURN_IF_ERROR(t->ParseConfig(config));
  }
  if (!t->bos_id_.has_value() && t->post_processor_ != nullptr) {
    auto leading = t->post_processor_->LeadingIds();
    if (!leading.empty()) t->bos_id_ = leading.front();
  }
  if (!t->eos_id_.has_value() && t->post_processor_ != nullptr) {
    auto trailing = t->post_processor_->TrailingIds();
    if (!trailing.empty()) t->eos_id_ = trailing.back();
  }
  if (t->bos_token_.empty() && t->bos_id_.has_value()) {
    t->bos_token_ = t->IdToToken(*t->bos_id_).value_or("");
  }
  if (t->eos_token_.empty() && t->eos_id_.has_value()) {
    t->eos_token_ = t->IdToToken(*t->eos_id_).value_or("");
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

absl::Status HfTokenizer::ParseAddedTokens(const JsonReader& root) {
  int64_t max_id = model_->id_limit() - 1;
  if (const JsonReader list_field = root.Field("added_tokens");
      list_field.present()) {
    ASSIGN_OR_RETURN(const JsonReader list, list_field.Array());
    for (size_t i = 0; i < list.size(); ++i) {
      ASSIGN_OR_RETURN(const JsonReader j, list.Item(i).Object());
      AddedToken tok;
      ASSIGN_OR_RETURN(tok.content, j.Field("content").String());
      if (tok.content.empty())
        return j.Field("content").Expected("a non-empty string");
      ASSIGN_OR_RETURN(tok.id, j.Field("id").Int(0, kMaxAddedTokenId));
      ASSIGN_OR_RETURN(tok.special, j.Field("special").BoolOr(false));
      ASSIGN_OR_RETURN(tok.single_word, j.Field("single_word").BoolOr(false));
      ASSIGN_OR_RETURN(tok.lstrip, j.Field("lstrip").BoolOr(false));
      ASSIGN_OR_RETURN(tok.rstrip, j.Field("rstrip").BoolOr(false));
      ASSIGN_OR_RETURN(tok.normalized,
                       j.Field("normalized").BoolOr(!tok.special));
      max_id = std::max<int64_t>(max_id, tok.id);
      const int32_t index = static_cast<int32_t>(added_.size());
      added_by_id_[tok.id] = index;
      added_by_text_[tok.content] = tok.id;
      if (tok.special) special_ids_.insert(tok.id);
      added_.push_back(tok);
    }
  }
  // Matchers hold indices into added_ (raw) and normalized_added_; the
  // latter keeps each token's content as the normalizer rewrites it, which
  // is what the normalized text will contain.
  for (size_t i = 0; i < added_.size(); ++i) {
    const AddedToken& tok = added_[i];
    if (tok.normalized && normalizer_ != nullptr) {
      AddedToken n = tok;
      ASSIGN_OR_RETURN(n.content, normalizer_->Normalize(tok.content));
      normalized_added_.push_back(n);
      normalized_matcher_.Add(
          n.content, static_cast<int32_t>(normalized_added_.size() - 1));
    } else {
      raw_matcher_.Add(tok.content, static_cast<int32_t>(i));
    }
  }
  vocab_size_ = static_cast<int>(max_id + 1);
  return absl::OkStatus();
}

absl::Status HfTokenizer::ParseConfig(const JsonReader& config) {
  ASSIGN_OR_RETURN(std::optional<std::string> bos,
                   ConfigToken(config.Field("bos_token")));
  ASSIGN_OR_RETURN(std::optional<std::string> eos,
                   ConfigToken(config.Field("eos_token")));
  if (bos.has_value()) {
    bos_token_ = *bos;
    bos_id_ = TokenToId(*bos);
  }
  if (eos.has_value()) {
    eos_token_ = *eos;
    eos_id_ = TokenToId(*eos);
  }
  ASSIGN_OR_RETURN(clean_up_spaces_,
                   config.Field("clean_up_tokenization_spaces").BoolOr(false));

  if (const JsonReader tmpl = config.Field("chat_template");
      tmpl.json().is_string()) {
    chat_template_ = tmpl.json().string_value();
  } else if (tmpl.json().is_array()) {
    for (size_t i = 0; i < tmpl.size(); ++i) {
      const JsonReader entry = tmpl.Item(i);
      if (!entry.json().is_object()) return entry.Expected("{name, template}");
      ASSIGN_OR_RETURN(std::string name, entry.Field("name").String());
      ASSIGN_OR_RETURN(std::string text, entry.Field("template").String());
      if (name == "default") chat_template_ = std::move(text);
    }
  } else if (tmpl.present()) {
    return tmpl.Expected("a string or a list of {name, template}");
  }

  // LlamaTokenizer and GemmaTokenizer state their BOS/EOS rule in the config
  // (add_bos_token defaults to true); transformers rebuilds the
  // post-processor from it.
  if (const Json& cls = config.Field("tokenizer_class").json();
      cls.is_string()) {
    std::string name = cls.string_value();
    if (absl::EndsWith(name, "Fast")) name.resize(name.size() - 4);
    if (name == "LlamaTokenizer" || name == "GemmaTokenizer" ||
        name == "CodeLlamaTokenizer") {
      ASSIGN_OR_RETURN(bool add_bos,
                       config.Field("add_bos_token").BoolOr(true));
      ASSIGN_OR_RETURN(bool add_eos,
                       config.Field("add_eos_token").BoolOr(false));
      if ((!add_bos || bos_id_.has_value()) &&
          (!add_eos || eos_id_.has_value())) {
        std::vector<int32_t> leading, trailing;
        if (add_bos) leading.push_back(*bos_id_);
        if (add_eos) trailing.push_back(*eos_id_);
        post_processor_ = internal::MakeWrapPostProcessor(std::move(leading),
                                                          std::move(trailing));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status HfTokenizer::EncodeText(absl::string_view text, bool at_origin,
                                     std::vector<int32_t>* ids) const {
  std::string normalized(text);
  if (normalizer_ != nullptr) {
    ASSIGN_OR_RETURN(normalized, normalizer_->Normalize(std::move(normalized)));
  }
  if (normalized.empty()) return absl::OkStatus();
  std::vector<AddedTokenMatcher::Segment> segments;
  if (normalized_matcher_.empty()) {
    segments.push_back({0, normalized.size(), -1});
  } else {
    normalized_matcher_.Split(normalized, normalized_added_, &segments);
  }
  std::vector<Piece> pieces;
  for (const auto& seg : segments) {
    if (seg.token >= 0) {
      ids->push_back(normalized_added_[seg.token].id);
      continue;
    }
    pieces.clear();
    pieces.push_back(Piece{normalized.substr(seg.begin, seg.end - seg.begin),
                           at_origin && seg.begin == 0});
    if (pre_tokenizer_ != nullptr)
      RETURN_IF_ERROR(pre_tokenizer_->PreTokenize(&pieces));
    for (const Piece& p : pieces) model_->Tokenize(p.text, ids);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> HfTokenizer::Encode(
    absl::string_view text, bool add_special_tokens) const {
  if (auto bad = base::FindInvalidUtf8(text); bad.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer input: invalid UTF-8 at byte offset ", *bad));
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<AddedTokenMatcher::Segment> segments;
  if (raw_matcher_.empty()) {
    if (!text.empty()) segments.push_back({0, text.size(), -1});
  } else {
    raw_matcher_.Split(text, added_, &segments);
  }
  for (const auto& seg : segments) {
    if (seg.token >= 0) {
      ids.push_back(added_[seg.token].id);
    } else {
      RETURN_IF_ERROR(EncodeText(text.substr(seg.begin, seg.end - seg.begin),
                                 seg.begin == 0, &ids));
    }
  }
  if (post_processor_ != nullptr)
    post_processor_->Process(&ids, add_special_tokens);
  return ids;
}

std::string HfTokenizer::Decode(absl::Span<const int32_t> ids,
                                bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    auto added = added_by_id_.find(id);
    if (added != added_by_id_.end()) {
      const AddedToken& tok = added_[added->second];
      if (skip_special_tokens && tok.special) continue;
      tokens.push_back(tok.content);
      continue;
    }
    if (const std::string* t = model_->IdToToken(id); t != nullptr)
      tokens.push_back(*t);
  }
  std::string out;
  if (decoder_ != nullptr) {
    decoder_->DecodeChain(&tokens);
    out = absl::StrJoin(tokens, "");
  } else {
    out = absl::StrJoin(tokens, " ");
  }
  out = internal::Utf8Lossy(out);
  if (clean_up_spaces_) CleanUpTokenization(&out);
  return out;
}

std::string HfTokenizer::TokenBytes(int32_t id) const {
  auto added = added_by_id_.find(id);
  if (added != added_by_id_.end()) return added_[added->second].content;
  const std::string* t = model_->IdToToken(id);
  if (t == nullptr) return "";
  std::string bytes = *t;
  if (decoder_ != nullptr) decoder_->TokenBytes(&bytes);
  return bytes;
}

std::optional<int32_t> HfTokenizer::TokenToId(absl::string_view token) const {
  auto it = added_by_text_.find(token);
  if (it != added_by_text_.end()) return it->second;
  return model_->TokenToId(token);
}

std::optional<std::string> HfTokenizer::IdToToken(int32_t id) const {
  auto added = added_by_id_.find(id);
  if (added != added_by_id_.end()) return added_[added->second].content;
  if (const std::string* t = model_->IdToToken(id); t != nullptr) return *t;
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(
    absl::string_view tokenizer_json, absl::string_view tokenizer_config_json) {
  return HfTokenizer::Create(tokenizer_json, tokenizer_config_json,
                             "tokenizer.json", "tokenizer_config.json");
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromDirectory(
    const std::string& dir) {
  const std::string json_path = dir + "/tokenizer.json";
  const std::string config_path = dir + "/tokenizer_config.json";
  ASSIGN_OR_RETURN(std::string json, base::ReadFileToString(json_path));
  std::string config;
  if (base::PathExists(config_path)) {
    ASSIGN_OR_RETURN(config, base::ReadFileToString(config_path));
  }
  return HfTokenizer::Create(json, config, json_path, config_path);
}

}  // namespace evald::runners::native::tokenizer
