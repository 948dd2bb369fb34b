// Unit tests of the tokenizer on tiny hand-made tokenizer.json files whose
// expected ids were worked out by hand from the merge ranks (comments show
// the derivations).
#include "runners/native/tokenizer/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace evald::runners::native::tokenizer {

namespace {

using ::evald::testing::IsOk;
using ::evald::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Byte-level BPE. "Ġ" (U+0120) is the byte-level character for a space.
constexpr char kByteLevelJson[] = R"json({
  "version": "1.0",
  "added_tokens": [
    {"id": 16, "content": "<|end|>", "special": true, "single_word": false,
     "lstrip": false, "rstrip": false, "normalized": false},
    {"id": 17, "content": "<|bos|>", "special": true, "single_word": false,
     "lstrip": false, "rstrip": false, "normalized": false}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": " ?\\p{L}+| ?[^\\s\\p{L}]+|\\s+(?!\\S)|\\s+"},
     "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [],
    "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [17], "tokens": ["<|bos|>"]}}},
  "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
  "model": {"type": "BPE", "dropout": null, "unk_token": null, "fuse_unk": false,
    "byte_fallback": false, "ignore_merges": IGNORE_MERGES,
    "vocab": {"h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "w": 5, "r": 6, "d": 7, "he": 8,
              "ll": 9, "hell": 10, "hello": 11, "Ġw": 12, "or": 13, "Ġwor": 14, "!": 15,
              "lo": 18},
    "merges": ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or"]}
})json";

std::string ByteLevelJson(bool ignore_merges = false) {
  return absl::StrReplaceAll(
      kByteLevelJson, {{"IGNORE_MERGES", ignore_merges ? "true" : "false"}});
}

// SentencePiece-style BPE: Prepend/Replace normalizers, byte fallback (only
// the three bytes of "€" exist as <0xNN> tokens), fused unknowns.
constexpr char kSentencePieceJson[] = R"json({
  "added_tokens": [
    {"id": 0, "content": "<unk>", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false},
    {"id": 1, "content": "<s>", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false},
    {"id": 2, "content": "</s>", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false},
    {"id": 13, "content": "<sep>", "special": false, "single_word": false, "lstrip": true, "rstrip": true, "normalized": false},
    {"id": 14, "content": "tt", "special": false, "single_word": true, "lstrip": false, "rstrip": false, "normalized": false}
  ],
  "normalizer": {"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": "▁"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
  "decoder": {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
  "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
    "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0xE2>": 3, "<0x82>": 4, "<0xAC>": 5, "▁": 6,
              "h": 7, "i": 8, "▁h": 9, "▁hi": 10, "t": 11, "▁t": 12},
    "merges": [["▁", "h"], ["▁h", "i"], ["▁", "t"]]}
})json";

// The same model behind a Metaspace pre-tokenizer (prepend_scheme "first").
std::string MetaspaceJson() {
  std::string j = kSentencePieceJson;
  j = absl::StrReplaceAll(
      j, {{R"("normalizer": {"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": "▁"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,)",
           R"("normalizer": null,
  "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},)"}});
  return j;
}

std::unique_ptr<Tokenizer> Load(const std::string& json,
                                const std::string& config = "") {
  auto t = Tokenizer::FromJson(json, config);
  EXPECT_THAT(t, IsOk());
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<int32_t> Enc(const Tokenizer& t, const std::string& text,
                         bool special = false) {
  auto ids = t.Encode(text, special);
  EXPECT_THAT(ids, IsOk()) << text;
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

TEST(TokenizerByteLevelTest, MergesByRank) {
  auto t = Load(ByteLevelJson());
  ASSERT_NE(t, nullptr);
  // "hello": h e l l o -(h e)-> he l l o -(l l)-> he ll o -(he ll)-> hell o
  // -(hell o)-> hello.  " world": Ġ w o r l d -(Ġ w)-> Ġw o r l d -(o r)->
  // Ġw or l d -(Ġw or)-> Ġwor l d.  "!" is its own piece.
  EXPECT_THAT(Enc(*t, "hello world!"), ElementsAre(11, 14, 2, 7, 15));
  // Equal ranks go to the leftmost pair: l l l -> ll l.
  EXPECT_THAT(Enc(*t, "lll"), ElementsAre(9, 2));
  EXPECT_THAT(Enc(*t, ""), IsEmpty());
}

TEST(TokenizerByteLevelTest, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  auto plain = Load(ByteLevelJson(false));
  auto ignoring = Load(ByteLevelJson(true));
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(ignoring, nullptr);
  // "lo" is in the vocabulary but no merge builds it.
  EXPECT_THAT(Enc(*plain, "lo"), ElementsAre(2, 3));
  EXPECT_THAT(Enc(*ignoring, "lo"), ElementsAre(18));
}

TEST(TokenizerByteLevelTest, AddedTokensAndPostProcessor) {
  auto t = Load(ByteLevelJson());
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(Enc(*t, "hello<|end|> world"), ElementsAre(11, 16, 14, 2, 7));
  EXPECT_THAT(Enc(*t, "hello", /*special=*/true), ElementsAre(17, 11));
  EXPECT_THAT(Enc(*t, "hello", /*special=*/false), ElementsAre(11));
  EXPECT_EQ(t->bos_id(), 17);  // from the template, no tokenizer_config.json
  EXPECT_EQ(t->bos_token(), "<|bos|>");
  EXPECT_TRUE(t->IsSpecial(16));
  EXPECT_FALSE(t->IsSpecial(11));
  EXPECT_EQ(t->vocab_size(), 19);
  EXPECT_EQ(t->TokenToId("<|end|>"), 16);
  EXPECT_EQ(t->TokenToId("Ġwor"), 14);
  EXPECT_EQ(t->TokenToId("nope"), std::nullopt);
  EXPECT_EQ(t->IdToToken(12), "Ġw");
  EXPECT_EQ(t->IdToToken(99), std::nullopt);
}

TEST(TokenizerByteLevelTest, DecodeAndTokenBytes) {
  auto t = Load(ByteLevelJson());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Decode({17, 11, 14, 2, 7, 16, 15}, false),
            "<|bos|>hello world<|end|>!");
  EXPECT_EQ(t->Decode({17, 11, 14, 2, 7, 16, 15}, true), "hello world!");
  EXPECT_EQ(t->TokenBytes(14), " wor");
  EXPECT_EQ(t->TokenBytes(16), "<|end|>");
  // Unknown ids contribute nothing.
  EXPECT_EQ(t->Decode({11, 1000}, false), "hello");
}

TEST(TokenizerByteLevelTest, InvalidUtf8NamesTheOffset) {
  auto t = Load(ByteLevelJson());
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(
      t->Encode("ab\xFF"
                "cd",
                false),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte offset 2")));
  EXPECT_THAT(
      t->Encode("hello \xE2\x82", false),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte offset 6")));
}

TEST(TokenizerSentencePieceTest, PrependReplaceAndMerges) {
  auto t = Load(kSentencePieceJson);
  ASSERT_NE(t, nullptr);
  // "▁hi▁hi": ▁ h i ▁ h i -(▁ h, left first)-> ▁h i ▁h i -(▁h i)-> ▁hi ▁hi.
  EXPECT_THAT(Enc(*t, "hi hi"), ElementsAre(10, 10));
  EXPECT_THAT(Enc(*t, "hi hi", true), ElementsAre(1, 10, 10));
}

TEST(TokenizerSentencePieceTest, ByteFallbackAndFusedUnknowns) {
  auto t = Load(kSentencePieceJson);
  ASSERT_NE(t, nullptr);
  // "€" = E2 82 AC, all three byte tokens exist.
  EXPECT_THAT(Enc(*t, "hi €"), ElementsAre(10, 6, 3, 4, 5));
  // "ü" = C3 BC has no byte tokens: unknown; two in a row fuse into one.
  EXPECT_THAT(Enc(*t, "hi üü"), ElementsAre(10, 6, 0));
}

TEST(TokenizerSentencePieceTest, AddedTokenStripAndSingleWord) {
  auto t = Load(kSentencePieceJson);
  ASSERT_NE(t, nullptr);
  // lstrip/rstrip absorb the spaces around <sep>: "hi" <sep> "hi".
  EXPECT_THAT(Enc(*t, "hi <sep> hi"), ElementsAre(10, 13, 10));
  // single_word: "tt" followed by a space is a word; inside "ttt" it is not,
  // so "ttt" is BPE'd: ▁ t t t -(▁ t)-> ▁t t t.
  EXPECT_THAT(Enc(*t, "tt hi"), ElementsAre(14, 6, 10));
  EXPECT_THAT(Enc(*t, "ttt"), ElementsAre(12, 11, 11));
  // Special-token text is split out before normalization: <s> then "▁hi".
  EXPECT_THAT(Enc(*t, "<s>hi"), ElementsAre(1, 10));
}

TEST(TokenizerSentencePieceTest, DecodeChain) {
  auto t = Load(kSentencePieceJson);
  ASSERT_NE(t, nullptr);
  // Replace ▁->" ", bytes E2 82 AC -> "€", fuse, strip one leading space.
  EXPECT_EQ(t->Decode({1, 10, 6, 3, 4, 5}, false), "<s> hi €");
  EXPECT_EQ(t->Decode({1, 10, 6, 3, 4, 5}, true), "hi €");
  // A byte run that is not UTF-8 gives one U+FFFD per byte.
  EXPECT_EQ(t->Decode({3, 4, 10}, false), "\xEF\xBF\xBD\xEF\xBF\xBD hi");
  EXPECT_EQ(t->TokenBytes(3), "\xE2");
  EXPECT_EQ(t->TokenBytes(10), " hi");
}

TEST(TokenizerSentencePieceTest, MetaspacePrependsOnlyAtTheStart) {
  auto t = Load(MetaspaceJson());
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(Enc(*t, "hi hi"), ElementsAre(10, 10));
  // After a leading added token the text no longer starts the input, so
  // "first" adds no ▁: h i.
  EXPECT_THAT(Enc(*t, "<s>hi"), ElementsAre(1, 7, 8));
}

TEST(TokenizerNormalizerTest, NfcComposes) {
  const std::string json = R"json({
    "normalizer": {"type": "NFC"},
    "model": {"type": "BPE", "vocab": {"é": 0, "e": 1, "\u0301": 2}, "merges": []}})json";
  auto t = Load(json);
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(Enc(*t, "e\xCC\x81"), ElementsAre(0));
  auto raw = Load(absl::StrReplaceAll(json, {{R"({"type": "NFC"})", "null"}}));
  ASSERT_NE(raw, nullptr);
  EXPECT_THAT(Enc(*raw, "e\xCC\x81"), ElementsAre(1, 2));
}

// Split behaviours, observed through merges that would cross the split:
// "a -" -> "a-" (rank 0), "- a" -> "-a" (rank 1), "- -" -> "--" (rank 2).
std::string SplitJson(const std::string& behavior, bool invert) {
  return absl::StrCat(R"json({
    "pre_tokenizer": {"type": "Split", "pattern": {"String": "-"}, "behavior": ")json",
                      behavior, R"json(", "invert": )json",
                      invert ? "true" : "false", R"json(},
    "model": {"type": "BPE", "vocab": {"a": 0, "-": 1, "a-": 2, "-a": 3, "--": 4},
              "merges": ["a -", "- a", "- -"]}})json");
}

TEST(TokenizerSplitTest, Behaviors) {
  struct Case {
    std::string behavior;
    bool invert;
    std::string text;
    std::vector<int32_t> want;
  };
  const std::vector<Case> cases = {
      {"Isolated", false, "a-a", {0, 1, 0}},
      {"Removed", false, "a-a", {0, 0}},
      {"MergedWithPrevious", false, "a-a", {2, 0}},  // "a-" "a"
      {"MergedWithNext", false, "a-a", {0, 3}},      // "a" "-a"
      {"Isolated", false, "a--a", {0, 1, 1, 0}},
      {"Contiguous", false, "a--a", {0, 4, 0}},  // "a" "--" "a"
      {"Removed", true, "a-a", {1}},  // inverted: the "a"s are delimiters
  };
  for (const Case& c : cases) {
    auto t = Load(SplitJson(c.behavior, c.invert));
    ASSERT_NE(t, nullptr) << c.behavior;
    EXPECT_EQ(Enc(*t, c.text), c.want)
        << c.behavior << (c.invert ? " inverted " : " ") << c.text;
  }
  // Without a pre-tokenizer the merges run across: a - a -(a -)-> a- a.
  auto whole = Load(
      R"json({"model": {"type": "BPE", "vocab": {"a": 0, "-": 1, "a-": 2, "-a": 3, "--": 4},
                                      "merges": ["a -", "- a", "- -"]}})json");
  ASSERT_NE(whole, nullptr);
  EXPECT_THAT(Enc(*whole, "a-a"), ElementsAre(2, 0));
}

TEST(TokenizerConfigTest, SpecialTokensAndChatTemplate) {
  const std::string config = R"json({
    "bos_token": {"__type": "AddedToken", "content": "<s>"},
    "eos_token": "</s>",
    "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]
  })json";
  auto t = Load(kSentencePieceJson, config);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  EXPECT_EQ(t->eos_token(), "</s>");
  EXPECT_EQ(t->chat_template(), "D");
  auto s = Load(kSentencePieceJson, R"({"chat_template": "{{ bos_token }}"})");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->chat_template(), "{{ bos_token }}");
}

TEST(TokenizerConfigTest, LlamaClassFollowsAddBosAndAddEos) {
  auto t = Load(
      kSentencePieceJson,
      R"({"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>",
                    "add_bos_token": false, "add_eos_token": true})");
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(Enc(*t, "hi", true), ElementsAre(10, 2));
}

TEST(TokenizerLoadTest, FromDirectory) {
  testing::TempDir dir;
  testing::WriteTestFile(dir.Join("tokenizer.json"), kSentencePieceJson);
  testing::WriteTestFile(dir.Join("tokenizer_config.json"),
                         R"({"eos_token": "</s>"})");
  auto t = Tokenizer::FromDirectory(dir.path());
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ((*t)->eos_id(), 2);
  EXPECT_THAT(Tokenizer::FromDirectory(dir.Join("missing")),
              ::testing::Not(IsOk()));
}

struct BadCase {
  std::string name;
  std::string json;
  std::string message;
};

TEST(TokenizerLoadTest, MalformedFilesNameTheField) {
  const std::string model =
      R"("model": {"type": "BPE", "vocab": {"x": 0, "y": 1, "xy": 2}, "merges": ["x y"]})";
  const std::vector<BadCase> cases = {
      {"not json", "{", "tokenizer.json: line"},
      {"not an object", "[]", "tokenizer.json: expected an object, got []"},
      {"no model", R"({"normalizer": null})",
       "tokenizer.json: field 'model' is missing"},
      {"unknown model", R"({"model": {"type": "Unigram", "vocab": []}})",
       "model.type"},
      {"no merges", R"({"model": {"type": "BPE", "vocab": {}}})",
       "field 'model.merges' is missing"},
      {"bad vocab id",
       R"({"model": {"type": "BPE", "vocab": {"x": "0"}, "merges": []}})",
       R"(field 'model.vocab.x': expected an integer in [0, 2097151], got "0")"},
      {"unknown merge token",
       R"({"model": {"type": "BPE", "vocab": {"x": 0, "y": 1, "xy": 2}, "merges": ["x y", "xy z"]}})",
       "tokenizer.json: field 'model.merges[1]': unknown token 'z'"},
      {"merge result missing",
       R"({"model": {"type": "BPE", "vocab": {"x": 0, "y": 1}, "merges": [["x", "y"]]}})",
       "field 'model.merges[0]': merge result 'xy'"},
      {"bad merge shape",
       R"({"model": {"type": "BPE", "vocab": {"x": 0}, "merges": [3]}})",
       "model.merges[0]"},
      {"unknown normalizer",
       absl::StrCat(R"({"normalizer": {"type": "Fancy"}, )", model, "}"),
       "field 'normalizer.type': unknown normalizer type 'Fancy'"},
      {"unknown pre-tokenizer",
       absl::StrCat(
           R"({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Nope"}]}, )",
           model, "}"),
       "pre_tokenizer.pretokenizers[0].type"},
      {"bad regex",
       absl::StrCat(
           R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"}, )",
           model, "}"),
       "pre_tokenizer.pattern.Regex"},
      {"bad behavior",
       absl::StrCat(
           R"({"pre_tokenizer": {"type": "Split", "pattern": {"String": "a"}, "behavior": "Sideways"}, )",
           model, "}"),
       "pre_tokenizer.behavior"},
      {"unknown decoder",
       absl::StrCat(R"({"decoder": {"type": "Wat"}, )", model, "}"),
       "decoder.type"},
      {"unknown post-processor",
       absl::StrCat(R"({"post_processor": {"type": "Wat"}, )", model, "}"),
       "post_processor.type"},
      {"template with unknown token",
       absl::StrCat(
           R"({"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<q>"}}]}, )",
           model, "}"),
       "field 'post_processor.single[0].SpecialToken.id': unknown token '<q>'"},
      {"added token without id",
       absl::StrCat(R"({"added_tokens": [{"content": "<a>"}], )", model, "}"),
       "added_tokens[0].id"},
      {"normalizer not an object",
       absl::StrCat(R"({"normalizer": 7, )", model, "}"),
       "field 'normalizer': expected an object, got 7"},
      {"bad merge string",
       R"({"model": {"type": "BPE", "vocab": {"x": 0}, "merges": ["x y z"]}})",
       R"(tokenizer.json: field 'model.merges[0]': expected "left right", got "x y z")"},
      {"split without pattern",
       absl::StrCat(
           R"({"pre_tokenizer": {"type": "Split", "behavior": "Isolated"}, )",
           model, "}"),
       "tokenizer.json: field 'pre_tokenizer.pattern' is missing"},
      {"template special ids",
       absl::StrCat(
           R"({"post_processor": {"type": "TemplateProcessing", "single": )"
           R"([{"SpecialToken": {"id": "<s>"}}], "special_tokens": {"<s>": {"ids": [-1]}}}, )",
           model, "}"),
       R"(field 'post_processor.special_tokens["<s>"].ids[0]': expected an integer in )"
       "[0, 2147483647], got -1"},
      {"bert pair",
       absl::StrCat(
           R"({"post_processor": {"type": "BertProcessing", "cls": "x"}, )",
           model, "}"),
       R"(field 'post_processor.cls': expected [token, id], got "x")"},
      {"added token id out of range",
       absl::StrCat(
           R"({"added_tokens": [{"content": "<a>", "id": 99999999}], )", model,
           "}"),
       "field 'added_tokens[0].id': expected an integer in [0, 2097151], got "
       "99999999"},
  };
  for (const BadCase& c : cases) {
    EXPECT_THAT(
        Tokenizer::FromJson(c.json, ""),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.name;
  }
  EXPECT_THAT(
      Tokenizer::FromJson(kSentencePieceJson, R"({"chat_template": 5})"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("tokenizer_config.json: field 'chat_template': expected a "
                    "string or a list of {name, template}, got 5")));
}

TEST(TokenizerConcurrencyTest, ParallelEncodesAgree) {
  auto t = Load(ByteLevelJson());
  ASSERT_NE(t, nullptr);
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 2000; ++i) {
        auto ids = t->Encode("hello world! lll hello", false);
        if (!ids.ok() ||
            *ids != std::vector<int32_t>{11, 14, 2, 7, 15, 4, 9, 2, 4, 11})
          ++bad[k];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_THAT(bad, ElementsAre(0, 0, 0, 0));
}

}  // namespace
}  // namespace evald::runners::native::tokenizer
