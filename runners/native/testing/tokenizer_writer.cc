#include "runners/native/testing/tokenizer_writer.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/json.h"

namespace evald::runners::native::testing {

namespace {

// Training text for the merges: plain English prose about everyday things,
// so that frequent words and word pieces get their own tokens.
constexpr char kTrainingText[] =
    R"(The quick brown fox jumps over the lazy dog. This is a small
piece of English text that the tokenizer learns from, so that the most common words of the language
become single tokens. When you read a sentence, you see words like the, and, of, to, in, that, is,
was, for, it, with, as, his, on, be, at, by, and I. These words appear again and again in every kind
of writing, from news and stories to letters and questions.

A student asked the teacher a question about numbers. What is the answer when you add 12 and 30?
The answer is 42. If a train leaves the station at 9 in the morning and travels for 3 hours, it
arrives at noon. There are 7 days in a week, 12 months in a year, and 365 days in most years.

Once upon a time there was a small village near a river. The people of the village worked in the
fields during the day and told stories in the evening. The children played by the water, and the old
men talked about the weather, the harvest, and the price of bread. One day a stranger came to the
village with a bag of books. He said that he would teach anyone who wanted to learn how to read and
write. Many people came to listen, and some of them learned quickly. Over the years the village
changed: there was a school, a library, a market, and a road to the city.

Science helps us understand the world. Water boils at 100 degrees and freezes at 0 degrees. The
earth moves around the sun, and the moon moves around the earth. Plants need light, water, and air to
grow. Animals eat plants or other animals. People have studied these things for thousands of years,
and they still ask new questions every day.

Please answer the following question. Choose the best answer from the options below. Think step by
step, and then write the final answer. The correct answer is the one that is true for all of the
cases. Question: Which of the following is a country? Answer: France. Question: What is the capital
of Italy? Answer: Rome. Question: How many legs does a spider have? Answer: eight.

The history of the world is long and full of change. Cities grew, empires rose and fell, and new
ideas spread from one place to another. Trade connected people who lived far apart, and they shared
food, music, tools, and languages. Today we can talk to someone on the other side of the world in a
moment, but we still tell the same kinds of stories that people told long ago.

I think that it is important to be kind to other people. We should help our friends and family, and
we should also help strangers when they need it. A good life is not only about what you have, but
also about what you give. She said that she would come back tomorrow, and he said that he would wait.
They were happy because the work was done, and the house was clean, and the dinner was ready.
)";

constexpr const char* kNamedSpecials[] = {
    "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
    "<|end_header_id|>", "<|eot_id|>"};
// Offsets of the named specials inside a 256-token Llama-3-style block.
constexpr int kLlama3Offsets[] = {0, 1, 6, 7, 9};

// A Llama-3-style chat template: BOS, then one header + body + <|eot_id|> per
// message, then an assistant header when a generation prompt is asked for.
constexpr char kChatTemplate[] =
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
    "message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}";

// The Split regex of Llama 3's tokenizer.json pre-tokenizer.
constexpr char kLlama3SplitRegex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Splits ASCII training text roughly as the Llama 3 regex does: letters with
// at most one leading non-letter, digit runs of up to three, punctuation runs
// with an optional leading space, whitespace. Only merge statistics depend on
// it, so an approximation is enough.
std::vector<std::string> PreTokenize(const std::string& text) {
  std::vector<std::string> words;
  size_t i = 0;
  const size_t n = text.size();
  auto is_letter = [](char c) {
    return absl::ascii_isalpha(static_cast<unsigned char>(c));
  };
  auto is_digit = [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  };
  auto is_space = [](char c) {
    return absl::ascii_isspace(static_cast<unsigned char>(c));
  };
  while (i < n) {
    const size_t start = i;
    if (text[i] == '\'' && i + 1 < n && is_letter(text[i + 1])) {
      // contraction or quote + letters: take quote + letters
      ++i;
      while (i < n && is_letter(text[i])) ++i;
    } else if (is_letter(text[i]) || (!is_digit(text[i]) && text[i] != '\n' &&
                                      i + 1 < n && is_letter(text[i + 1]))) {
      ++i;
      while (i < n && is_letter(text[i])) ++i;
    } else if (is_digit(text[i])) {
      while (i < n && is_digit(text[i]) && i - start < 3) ++i;
    } else if (is_space(text[i]) &&
               !(text[i] == ' ' && i + 1 < n && !is_space(text[i + 1]) &&
                 !is_digit(text[i + 1]))) {
      size_t j = i;
      while (j < n && is_space(text[j])) ++j;
      // A run before a word keeps its last space for that word (\s+(?!\S)).
      if (j < n && j - i > 1 && text[j - 1] == ' ') --j;
      i = j;
    } else {
      if (text[i] == ' ') ++i;
      while (i < n && !is_space(text[i]) && !is_letter(text[i]) &&
             !is_digit(text[i]))
        ++i;
      while (i < n && text[i] == '\n') ++i;
      if (i == start) ++i;
    }
    words.push_back(text.substr(start, i - start));
  }
  return words;
}

struct TrainedBpe {
  std::vector<std::string> tokens;  // merged tokens in creation order
  std::vector<std::pair<std::string, std::string>> merges;
};

TrainedBpe TrainBpe(int max_merges) {
  // word (as symbol sequence) -> count
  std::map<std::string, int> word_counts;
  for (const std::string& w : PreTokenize(kTrainingText)) ++word_counts[w];
  std::vector<std::pair<std::vector<std::string>, int>> words;
  for (const auto& [w, count] : word_counts) {
    std::vector<std::string> symbols;
    for (unsigned char c : w) symbols.push_back(ByteLevelSymbol(c));
    words.emplace_back(std::move(symbols), count);
  }
  TrainedBpe result;
  absl::flat_hash_set<std::string> vocab;
  for (int b = 0; b < 256; ++b)
    vocab.insert(ByteLevelSymbol(static_cast<uint8_t>(b)));
  while (static_cast<int>(result.merges.size()) < max_merges) {
    std::map<std::pair<std::string, std::string>, int> pair_counts;
    for (const auto& [symbols, count] : words) {
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        pair_counts[{symbols[i], symbols[i + 1]}] += count;
      }
    }
    // Highest count wins; ties go to the smallest pair (std::map order), so
    // the result never depends on hashing.
    const std::pair<std::string, std::string>* best = nullptr;
    int best_count = 1;
    for (const auto& [pair, count] : pair_counts) {
      if (count > best_count) {
        best = &pair;
        best_count = count;
      }
    }
    if (best == nullptr) break;
    const std::pair<std::string, std::string> merge = *best;
    const std::string joined = merge.first + merge.second;
    for (auto& [symbols, count] : words) {
      std::vector<std::string> next;
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == merge.first &&
            symbols[i + 1] == merge.second) {
          next.push_back(joined);
          ++i;
        } else {
          next.push_back(symbols[i]);
        }
      }
      symbols = std::move(next);
    }
    result.merges.push_back(merge);
    if (vocab.insert(joined).second) result.tokens.push_back(joined);
  }
  return result;
}

base::Json AddedToken(int id, const std::string& content) {
  base::Json t = base::Json::MakeObject();
  t.Set("id", base::Json::Int(id));
  t.Set("content", base::Json::String(content));
  t.Set("single_word", base::Json::Bool(false));
  t.Set("lstrip", base::Json::Bool(false));
  t.Set("rstrip", base::Json::Bool(false));
  t.Set("normalized", base::Json::Bool(false));
  t.Set("special", base::Json::Bool(true));
  return t;
}

base::Json TemplatePiece(const char* kind, const std::string& id, int type_id) {
  base::Json inner = base::Json::MakeObject();
  inner.Set("id", base::Json::String(id));
  inner.Set("type_id", base::Json::Int(type_id));
  base::Json outer = base::Json::MakeObject();
  outer.Set(kind, std::move(inner));
  return outer;
}

}  // namespace

std::string ByteLevelSymbol(uint8_t byte) {
  // Printable Latin-1 bytes map to themselves; the rest are shifted to
  // code points 256.. in byte order.
  auto printable = [](int b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
           (b >= 174 && b <= 255);
  };
  uint32_t cp = byte;
  if (!printable(byte)) {
    int shifted = 0;
    for (int b = 0; b < byte; ++b) {
      if (!printable(b)) ++shifted;
    }
    cp = 256 + shifted;
  }
  std::string out;
  AppendUtf8(cp, &out);
  return out;
}

absl::StatusOr<SyntheticTokenizer> BuildSyntheticTokenizer(
    int vocab_size, int model_max_length) {
  const int num_specials = vocab_size >= 4096 ? 256 : 5;
  if (vocab_size < 256 + num_specials + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocab size ", vocab_size,
                     " is too small for a byte-level tokenizer (needs >= ",
                     256 + num_specials + 1, ")"));
  }
  const int special_base = vocab_size - num_specials;
  const TrainedBpe bpe = TrainBpe(std::min(special_base - 256, 8000));

  std::vector<std::string> specials(num_specials);
  {
    int reserved = 0;
    std::vector<bool> named(num_specials, false);
    for (int i = 0; i < 5; ++i) {
      const int offset = num_specials == 256 ? kLlama3Offsets[i] : i;
      specials[offset] = kNamedSpecials[i];
      named[offset] = true;
    }
    for (int i = 0; i < num_specials; ++i) {
      if (!named[i])
        specials[i] =
            absl::StrCat("<|reserved_special_token_", reserved++, "|>");
    }
  }
  SyntheticTokenizer out;
  out.num_merges = static_cast<int>(bpe.merges.size());
  out.bos_id = special_base + (num_specials == 256 ? kLlama3Offsets[0] : 0);
  out.eos_id = special_base + (num_specials == 256 ? kLlama3Offsets[1] : 1);
  out.eot_id = special_base + (num_specials == 256 ? kLlama3Offsets[4] : 4);

  base::Json vocab = base::Json::MakeObject();
  vocab.mutable_object().reserve(special_base);
  int next_id = 0;
  for (int b = 0; b < 256; ++b)
    vocab.Set(ByteLevelSymbol(static_cast<uint8_t>(b)),
              base::Json::Int(next_id++));
  for (const std::string& t : bpe.tokens) {
    vocab.mutable_object().emplace_back(t, base::Json::Int(next_id++));
  }
  // Fillers: never produced by the merges, present so that ids are dense.
  for (int filler = 0; next_id < special_base; ++filler) {
    vocab.mutable_object().emplace_back(absl::StrCat("<|filler_", filler, "|>"),
                                        base::Json::Int(next_id++));
  }
  base::Json merges = base::Json::MakeArray();
  for (const auto& [a, b] : bpe.merges)
    merges.Push(base::Json::String(absl::StrCat(a, " ", b)));

  base::Json added = base::Json::MakeArray();
  for (int i = 0; i < num_specials; ++i)
    added.Push(AddedToken(special_base + i, specials[i]));

  base::Json split_pattern = base::Json::MakeObject();
  split_pattern.Set("Regex", base::Json::String(kLlama3SplitRegex));
  base::Json split = base::Json::MakeObject();
  split.Set("type", base::Json::String("Split"));
  split.Set("pattern", std::move(split_pattern));
  split.Set("behavior", base::Json::String("Isolated"));
  split.Set("invert", base::Json::Bool(false));
  base::Json byte_level_pre = base::Json::MakeObject();
  byte_level_pre.Set("type", base::Json::String("ByteLevel"));
  byte_level_pre.Set("add_prefix_space", base::Json::Bool(false));
  byte_level_pre.Set("trim_offsets", base::Json::Bool(true));
  byte_level_pre.Set("use_regex", base::Json::Bool(false));
  base::Json pre_list = base::Json::MakeArray();
  pre_list.Push(std::move(split));
  pre_list.Push(std::move(byte_level_pre));
  base::Json pre = base::Json::MakeObject();
  pre.Set("type", base::Json::String("Sequence"));
  pre.Set("pretokenizers", std::move(pre_list));

  const std::string bos = "<|begin_of_text|>";
  base::Json single = base::Json::MakeArray();
  single.Push(TemplatePiece("SpecialToken", bos, 0));
  single.Push(TemplatePiece("Sequence", "A", 0));
  base::Json pair = base::Json::MakeArray();
  pair.Push(TemplatePiece("SpecialToken", bos, 0));
  pair.Push(TemplatePiece("Sequence", "A", 0));
  pair.Push(TemplatePiece("SpecialToken", bos, 1));
  pair.Push(TemplatePiece("Sequence", "B", 1));
  base::Json bos_entry = base::Json::MakeObject();
  bos_entry.Set("id", base::Json::String(bos));
  base::Json bos_ids = base::Json::MakeArray();
  bos_ids.Push(base::Json::Int(out.bos_id));
  bos_entry.Set("ids", std::move(bos_ids));
  base::Json bos_tokens = base::Json::MakeArray();
  bos_tokens.Push(base::Json::String(bos));
  bos_entry.Set("tokens", std::move(bos_tokens));
  base::Json special_tokens = base::Json::MakeObject();
  special_tokens.Set(bos, std::move(bos_entry));
  base::Json post = base::Json::MakeObject();
  post.Set("type", base::Json::String("TemplateProcessing"));
  post.Set("single", std::move(single));
  post.Set("pair", std::move(pair));
  post.Set("special_tokens", std::move(special_tokens));

  base::Json decoder = base::Json::MakeObject();
  decoder.Set("type", base::Json::String("ByteLevel"));
  decoder.Set("add_prefix_space", base::Json::Bool(true));
  decoder.Set("trim_offsets", base::Json::Bool(true));
  decoder.Set("use_regex", base::Json::Bool(true));

  base::Json model = base::Json::MakeObject();
  model.Set("type", base::Json::String("BPE"));
  model.Set("dropout", base::Json::Null());
  model.Set("unk_token", base::Json::Null());
  model.Set("continuing_subword_prefix", base::Json::Null());
  model.Set("end_of_word_suffix", base::Json::Null());
  model.Set("fuse_unk", base::Json::Bool(false));
  model.Set("byte_fallback", base::Json::Bool(false));
  model.Set("ignore_merges", base::Json::Bool(true));
  model.Set("vocab", std::move(vocab));
  model.Set("merges", std::move(merges));

  base::Json tok = base::Json::MakeObject();
  tok.Set("version", base::Json::String("1.0"));
  tok.Set("truncation", base::Json::Null());
  tok.Set("padding", base::Json::Null());
  tok.Set("added_tokens", std::move(added));
  tok.Set("normalizer", base::Json::Null());
  tok.Set("pre_tokenizer", std::move(pre));
  tok.Set("post_processor", std::move(post));
  tok.Set("decoder", std::move(decoder));
  tok.Set("model", std::move(model));
  base::Json::DumpOptions dump;
  dump.indent = 2;
  out.tokenizer_json = tok.Dump(dump);

  base::Json decoder_map = base::Json::MakeObject();
  for (int i = 0; i < num_specials; ++i) {
    base::Json t = AddedToken(special_base + i, specials[i]);
    t.mutable_object().erase(t.mutable_object().begin());  // no "id" here
    decoder_map.Set(absl::StrCat(special_base + i), std::move(t));
  }
  base::Json cfg = base::Json::MakeObject();
  cfg.Set("add_bos_token", base::Json::Bool(true));
  cfg.Set("add_eos_token", base::Json::Bool(false));
  cfg.Set("added_tokens_decoder", std::move(decoder_map));
  cfg.Set("bos_token", base::Json::String(bos));
  cfg.Set("chat_template", base::Json::String(kChatTemplate));
  cfg.Set("clean_up_tokenization_spaces", base::Json::Bool(true));
  cfg.Set("eos_token", base::Json::String("<|eot_id|>"));
  base::Json input_names = base::Json::MakeArray();
  input_names.Push(base::Json::String("input_ids"));
  input_names.Push(base::Json::String("attention_mask"));
  cfg.Set("model_input_names", std::move(input_names));
  cfg.Set("model_max_length", base::Json::Int(model_max_length));
  cfg.Set("tokenizer_class", base::Json::String("PreTrainedTokenizerFast"));
  out.tokenizer_config_json = cfg.Dump(dump);
  return out;
}

}  // namespace evald::runners::native::testing
