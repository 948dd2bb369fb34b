#include "tests/runners/native/tokenizer/corpus.h"

#include <random>

#include "absl/strings/str_cat.h"

namespace evald::testing {
namespace {

// mt19937_64's sequence is fixed by the standard, so the corpus is the same
// everywhere; distributions are done by hand for the same reason.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  size_t Below(size_t n) {
    return n == 0 ? 0 : static_cast<size_t>(gen_() % n);
  }
  bool Chance(int percent) { return Below(100) < static_cast<size_t>(percent); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }

 private:
  std::mt19937_64 gen_;
};

const std::vector<std::string>& Words() {
  static const auto* w =
      new std::vector<std::string>{"the",
                                   "quick",
                                   "brown",
                                   "fox",
                                   "jumps",
                                   "over",
                                   "lazy",
                                   "dog",
                                   "tokenizer",
                                   "evaluation",
                                   "model",
                                   "checkpoint",
                                   "language",
                                   "Hello",
                                   "world",
                                   "it",
                                   "is",
                                   "was",
                                   "they",
                                   "we",
                                   "I",
                                   "don",
                                   "can",
                                   "won",
                                   "shouldn",
                                   "they're",
                                   "we've",
                                   "I'm",
                                   "you'll",
                                   "he'd",
                                   "it's",
                                   "internationalization",
                                   "antidisestablishmentarianism",
                                   "naïve",
                                   "café",
                                   "résumé",
                                   "coöperate",
                                   "Zürich",
                                   "São",
                                   "Paulo",
                                   "façade",
                                   "jalapeño",
                                   "über",
                                   "straße",
                                   "ÅNGSTRÖM",
                                   "ﬁne",
                                   "Ωmega",
                                   "λambda",
                                   "Москва",
                                   "привет",
                                   "Ελλάδα",
                                   "שלום",
                                   "GPU",
                                   "CUDA",
                                   "McDonald",
                                   "O'Neil",
                                   "rock'n'roll",
                                   "e-mail",
                                   "co-operate",
                                   "state-of-the-art",
                                   "x86_64",
                                   "snake_case",
                                   "camelCase",
                                   "PascalCase",
                                   "SCREAMING_CASE",
                                   "HTTPServer",
                                   "iPhone",
                                   "eBay",
                                   "A",
                                   "a",
                                   "Z"};
  return *w;
}

const std::vector<std::string>& Contractions() {
  static const auto* c = new std::vector<std::string>{
      "'s",  "'S", "'t",  "'T",  "'re", "'RE", "'Re", "'ve", "'VE",
      "'vE", "'m", "'M",  "'ll", "'LL", "'Ll", "'d",  "'D",  "n't",
      "N'T", "’s", "’ll", "'",   "''",  "'''", "'x",  "'sa", "'lls"};
  return *c;
}

const std::vector<std::string>& Code() {
  static const auto* c = new std::vector<std::string>{
      "int main(int argc, char** argv) {\n  return 0;\n}\n",
      "def f(x):\n    return x ** 2  # square\n",
      "for (size_t i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
      "if x == None:\n\tpass\nelif y != 3:\n\traise ValueError(\"bad\")\n",
      "const auto& [key, value] = *it;",
      "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
      "<div class=\"main\"><p>Hello &amp; welcome</p></div>",
      "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\"}}",
      "$ ls -la /usr/local/bin | grep -v '^d' && echo \"done\" >> log.txt",
      "x = lambda a, b: a if a > b else b",
      "#include <vector>\n#define MAX(a,b) ((a)>(b)?(a):(b))\n",
      "    // indented comment\n        nested();\n",
      "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
      "a+=1;b-=2;c*=3;d/=4;e%=5;f<<=6;g>>=7;h&=8;i|=9;j^=10;",
      "```python\nprint('hi')\n```",
      "@decorator\nclass Foo(Bar, metaclass=Meta):\n    __slots__ = ()\n"};
  return *c;
}

const std::vector<std::string>& Scripts() {
  static const auto* s =
      new std::vector<std::string>{"你好，世界！",
                                   "我爱自然语言处理。",
                                   "機械学習とディープラーニング",
                                   "ひらがなとカタカナ",
                                   "東京都渋谷区",
                                   "한국어 텍스트입니다",
                                   "안녕하세요",
                                   "مرحبا بالعالم",
                                   "السلام عليكم ورحمة الله",
                                   "اللغة العربية",
                                   "नमस्ते दुनिया",
                                   "हिन्दी भाषा में पाठ",
                                   "क्षत्रिय",
                                   "สวัสดีครับ",
                                   "ภาษาไทย",
                                   "Здравствуйте",
                                   "Γειά σου Κόσμε",
                                   "ᚠᚢᚦᚨᚱᚲ",
                                   "ខ្មែរ",
                                   "ગુજરાતી",
                                   "தமிழ்",
                                   "বাংলা",
                                   "ελληνικά",
                                   "עברית",
                                   "ქართული",
                                   "Հայերեն",
                                   "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
                                   "𝐁𝐨𝐥𝐝",
                                   "ℌ𝔢𝔩𝔩𝔬",
                                   "①②③",
                                   "Ⅻ",
                                   "½¾",
                                   "²³¹"};
  return *s;
}

const std::vector<std::string>& Emoji() {
  static const auto* e =
      new std::vector<std::string>{"😀",
                                   "😂🤣",
                                   "👍",
                                   "👍🏽",
                                   "👨‍👩‍👧‍👦",
                                   "👩🏾‍💻",
                                   "🏳️‍🌈",
                                   "🇺🇸",
                                   "🇯🇵🇫🇷",
                                   "❤️",
                                   "❤",
                                   "✨",
                                   "🔥🔥🔥",
                                   "🧑‍🤝‍🧑",
                                   "☕",
                                   "⚡️",
                                   "🙏🏻",
                                   "🐍",
                                   "🦀",
                                   "🤖",
                                   "1️⃣",
                                   "#️⃣",
                                   "©️",
                                   "™",
                                   "🫠",
                                   "💯"};
  return *e;
}

const std::vector<std::string>& Accents() {
  // Decomposed forms (base + combining mark) are deliberate: NFC
  // normalizers must compose them.
  static const auto* a =
      new std::vector<std::string>{"e\xCC\x81",
                                   "a\xCC\x80",
                                   "o\xCC\x88",
                                   "n\xCC\x83",
                                   "A\xCC\x8A",
                                   "c\xCC\xA7",
                                   "e\xCC\x81\xCC\x82",
                                   "Tie\xCC\x82\xCC\x81ng Vie\xCC\xA3\xCC\x82t",
                                   "Tiếng Việt",
                                   "\xCC\x81",
                                   "\xCC\x81\xCC\x81x",
                                   "ǅ",
                                   "Ǆ",
                                   "ǈ",
                                   "ﬀ",
                                   "ﬃ",
                                   "Å",
                                   "Å",
                                   "Ω",
                                   "K",
                                   "ḱ̷̨",
                                   "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇"};
  return *a;
}

const std::vector<std::string>& Specials() {
  static const auto* s =
      new std::vector<std::string>{"<|begin_of_text|>",
                                   "<|end_of_text|>",
                                   "<|eot_id|>",
                                   "<|start_header_id|>",
                                   "<|end_header_id|>",
                                   "<|reserved_special_token_3|>",
                                   "<|python_tag|>",
                                   "<s>",
                                   "</s>",
                                   "<unk>",
                                   "<pad>",
                                   "<bos>",
                                   "<eos>",
                                   "<start_of_turn>",
                                   "<end_of_turn>",
                                   "<|im_start|>",
                                   "<|im_end|>",
                                   "<|endoftext|>",
                                   "<think>",
                                   "</think>",
                                   "<tool_call>",
                                   "</tool_call>",
                                   "<|vision_start|>",
                                   "<|begin_of",
                                   "<|im_",
                                   "<<s>>",
                                   "<s><s>",
                                   "</s></s>",
                                   "<|eot_id|><|eot_id|>",
                                   "<0x41>",
                                   "<0xE2>",
                                   "<0x0A>",
                                   "<0xZZ>",
                                   "▁",
                                   "▁▁▁",
                                   "▁hello",
                                   "\xEF\xBF\xBD",
                                   "<mask>",
                                   "<start_of_image>",
                                   "<image_soft_token>",
                                   "[multimodal]",
                                   "<unused0>",
                                   "<unused99>"};
  return *s;
}

const std::vector<std::string>& Punct() {
  static const auto* p = new std::vector<std::string>{
      "!",    "!!!!", "?",   "???", "?!",  "...", "…",    "—",      "--",
      "---",  "===",  "***", "___", ",,,", ";;",  "::",   "((()))", "[[]]",
      "{{}}", "<<>>", "&&",  "||",  "~~",  "``",  "\"\"", "''",     "@@",
      "##",   "$$",   "%%",  "^^",  "、",  "。",  "，",   "！",     "？",
      "«",    "»",    "“",   "”",   "‘",   "’",   "¿",    "¡",      "§",
      "¶",    "•",    "·",   "†",   "‡",   "°",   "±",    "×",      "÷",
      "≠",    "≤",    "≥",   "∞",   "∑",   "√",   "∫",    "→",      "⇒"};
  return *p;
}

const std::vector<std::string>& Spaces() {
  // No U+FEFF or U+0085: regex engines disagree on whether they are \s.
  static const auto* s = new std::vector<std::string>{
      " ",      "  ",     "   ",    "    ",      "        ", "\t",
      "\t\t",   "\n",     "\n\n",   "\n\n\n",    "\r\n",     "\r",
      " \n",    "\n ",    " \t ",   "\t\n",      "\u00A0",   "\u3000",
      "\u2009", "\u2028", "\u202F", " \n\n  \t", "\n    ",   "\n\t\t"};
  return *s;
}

std::string Number(Rng& rng) {
  std::string s;
  switch (rng.Below(7)) {
    case 0:
      s = std::to_string(rng.Below(10));
      break;
    case 1: {
      const size_t n = 1 + rng.Below(25);
      for (size_t i = 0; i < n; ++i)
        s.push_back(static_cast<char>('0' + rng.Below(10)));
      break;
    }
    case 2:
      s = absl::StrCat(rng.Below(100000), ".", rng.Below(1000));
      break;
    case 3:
      s = absl::StrCat("-", rng.Below(1000000), "e", rng.Chance(50) ? "-" : "+",
                       rng.Below(40));
      break;
    case 4:
      s = absl::StrCat(1 + rng.Below(999), ",", 100 + rng.Below(900), ",",
                       100 + rng.Below(900));
      break;
    case 5:
      s = absl::StrCat("0x", rng.Below(1u << 30));
      break;
    default:
      s = absl::StrCat("٣٤٥",
                       rng.Chance(50) ? "१२३" : "١٢");  // non-ASCII digits
      break;
  }
  return s;
}

std::string Word(Rng& rng) {
  std::string w = rng.Pick(Words());
  switch (rng.Below(5)) {
    case 0:
      for (char& c : w) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      }
      break;
    case 1:
      if (!w.empty() && w[0] >= 'a' && w[0] <= 'z')
        w[0] = static_cast<char>(w[0] - 32);
      break;
    default:
      break;
  }
  if (rng.Chance(20)) w += rng.Pick(Contractions());
  return w;
}

std::string LongWord(Rng& rng) {
  std::string s;
  const size_t n = 40 + rng.Below(600);
  switch (rng.Below(4)) {
    case 0:
      s.assign(n, static_cast<char>('a' + rng.Below(26)));
      break;
    case 1:
      for (size_t i = 0; i < n; ++i)
        s.push_back(static_cast<char>('a' + rng.Below(26)));
      break;
    case 2:
      for (size_t i = 0; i < n / 3; ++i) s += "ab";
      s += "supercalifragilisticexpialidocious";
      break;
    default:
      for (size_t i = 0; i < n / 8; ++i) s += "语言";
      break;
  }
  return s;
}

std::string Url(Rng& rng) {
  static const std::vector<std::string> urls = {
      "https://example.com/path/to/page?query=1&x=y#frag",
      "http://localhost:8080/api/v1/models",
      "ftp://files.example.org/pub/README.txt",
      "user.name+tag@example.co.uk",
      "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/blob/main/"
      "tokenizer.json",
      "C:\\Users\\admin\\Documents\\file (1).txt",
      "/home/user/.config/evald/config.yaml",
      "www.日本語.jp/パス",
      "mailto:someone@example.com?subject=Hi%20there"};
  return rng.Pick(urls);
}

std::string Fragment(Rng& rng) {
  switch (rng.Below(13)) {
    case 0:
    case 1: {
      std::string s;
      const size_t n = 1 + rng.Below(8);
      for (size_t i = 0; i < n; ++i) {
        if (i > 0) s += rng.Chance(85) ? " " : rng.Pick(Spaces());
        s += Word(rng);
      }
      if (rng.Chance(50)) s += rng.Pick(Punct());
      return s;
    }
    case 2:
      return rng.Pick(Code());
    case 3:
      return Number(rng);
    case 4:
      return rng.Pick(Spaces()) + (rng.Chance(50) ? rng.Pick(Spaces()) : "");
    case 5:
      return rng.Pick(Emoji());
    case 6:
      return rng.Pick(Scripts());
    case 7:
      return rng.Pick(Accents());
    case 8:
      return rng.Pick(Specials());
    case 9:
      return rng.Chance(30) ? LongWord(rng)
                            : Word(rng) + rng.Pick(Contractions());
    case 10:
      return Url(rng);
    case 11: {
      std::string s;
      const std::string& p = rng.Pick(Punct());
      const size_t n = 1 + rng.Below(12);
      for (size_t i = 0; i < n; ++i) s += p;
      return s;
    }
    default:
      return rng.Pick(Contractions()) + rng.Pick(Words());
  }
}

std::vector<std::string> HandWritten() {
  return {
      "",
      " ",
      "  ",
      "\n",
      "\t",
      "a",
      "Hello, world!",
      " Hello",
      "Hello ",
      "Hello\n\nworld",
      "I'm sure you'LL SEE it's THEY'RE WE'VE I'D don't DON'T",
      "<|begin_of_text|>",
      "<|begin_of_text|>Hello<|eot_id|>",
      " <|eot_id|> ",
      "<s>",
      "<s> hi </s>",
      "hi<s>there",
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
      "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
      "<think>\nreasoning\n</think>\n\nanswer",
      "▁",
      "▁▁a▁b",
      "<0x41><0x42>",
      "1234567890",
      "3.14159265358979323846",
      "$1,234.56",
      "          leading spaces",
      "trailing spaces          ",
      "tabs\t\tand\t\t\ttabs",
      "\r\n\r\nwindows\r\nlines\r\n",
      "mixed \n \n\t \n",
      "👨‍👩‍👧‍👦👨‍👩‍👧‍👦",
      "e\xCC\x81t\xC3\xA9",
      "한국어와 日本語 and English",
      "مرحبا123abc",
      "नमस्ते",
      "!!!???...",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaa",
      "https://example.com/a_b-c.d?e=f&g=h",
      "\xEF\xBF\xBD\xEF\xBF\xBD",
      "'s's's",
      "''''",
      "a'sa'S",
  };
}

}  // namespace

std::vector<std::string> TokenizerCorpus(int generated, uint64_t seed) {
  std::vector<std::string> out = HandWritten();
  // Long runs of one class, where split and merge loops are stressed most.
  out.push_back(std::string(3000, ' '));
  out.push_back("x" + std::string(2000, ' ') + "y");
  out.push_back(std::string(2500, '7'));
  out.push_back(std::string(2000, '!'));
  out.push_back(std::string(1500, '\n') + "end");
  std::string thumbs;
  for (int i = 0; i < 500; ++i) thumbs += "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD";
  out.push_back(thumbs);
  Rng rng(seed);
  static const std::vector<std::string> joiners = {"",   " ",  " ",  " ",
                                                   "\n", "\t", "  ", "\n\n"};
  for (int i = 0; i < generated; ++i) {
    std::string s;
    const size_t n = 1 + rng.Below(6);
    for (size_t k = 0; k < n; ++k) {
      if (k > 0) s += rng.Pick(joiners);
      s += Fragment(rng);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string EnglishText(size_t bytes, uint64_t seed) {
  static const std::vector<std::string> words = {
      "the",         "of",         "and",           "to",
      "in",          "evaluation", "model",         "language",
      "results",     "were",       "measured",      "across",
      "several",     "benchmarks", "with",          "a",
      "careful",     "protocol",   "that",          "controls",
      "for",         "prompt",     "format",        "it's",
      "we've",       "they're",    "data",          "training",
      "performance", "improved",   "significantly", "when",
      "larger",      "batches",    "used",          "however",
      "some",        "tasks",      "remain",        "difficult",
      "reasoning",   "arithmetic", "questions",     "answers"};
  Rng rng(seed);
  std::string s;
  s.reserve(bytes + 64);
  int in_sentence = 0;
  while (s.size() < bytes) {
    std::string w = rng.Pick(words);
    if (in_sentence == 0 && w[0] >= 'a' && w[0] <= 'z')
      w[0] = static_cast<char>(w[0] - 32);
    s += w;
    ++in_sentence;
    if (in_sentence > 6 && rng.Chance(15)) {
      s += rng.Chance(80) ? ". " : "?\n";
      in_sentence = 0;
    } else if (rng.Chance(8)) {
      s += ", ";
    } else {
      s += " ";
    }
  }
  return s;
}

}  // namespace evald::testing
