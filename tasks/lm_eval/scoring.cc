// File: tasks/lm_eval/scoring.cc
#include "tasks/lm_eval/scoring.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "py/str.h"
#include "tasks/python_random.h"

namespace evald::tasks::lm_eval {
namespace {

// A recursive-descent reader of Python literal syntax.
class LiteralParser {
 public:
  explicit LiteralParser(absl::string_view text) : s_(text) {}

  absl::StatusOr<base::Json> Run() {
    ASSIGN_OR_RETURN(base::Json v, Value(0));
    SkipSpace();
    if (p_ != s_.size()) return Error("unexpected text after the literal");
    return v;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a Python literal (", what, " at offset ", p_, "): ", s_));
  }
  void SkipSpace() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' ||
                              s_[p_] == '\n' || s_[p_] == '\r'))
      ++p_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }

  absl::StatusOr<base::Json> Value(int depth) {
    if (depth > 64) return Error("nesting too deep");
    SkipSpace();
    if (p_ >= s_.size()) return Error("unexpected end");
    const char c = s_[p_];
    if (c == '[' || c == '(') {
      const char close = c == '[' ? ']' : ')';
      ++p_;
      base::Json::Array items;
      bool comma = false;
      while (!Eat(close)) {
        if (!items.empty() && !comma) return Error("expected ','");
        ASSIGN_OR_RETURN(base::Json item, Value(depth + 1));
        items.push_back(std::move(item));
        comma = Eat(',');
      }
      // (x) without a comma is x itself.
      if (close == ')' && items.size() == 1 && !comma) return items[0];
      return base::Json::MakeArray(std::move(items));
    }
    if (c == '{') {
      ++p_;
      base::Json::Object members;
      bool comma = false;
      while (!Eat('}')) {
        if (!members.empty() && !comma) return Error("expected ','");
        ASSIGN_OR_RETURN(base::Json key, Value(depth + 1));
        if (!key.is_string()) return Error("dict keys must be strings");
        if (!Eat(':')) return Error("expected ':'");
        ASSIGN_OR_RETURN(base::Json value, Value(depth + 1));
        members.emplace_back(key.string_value(), std::move(value));
        comma = Eat(',');
      }
      return base::Json::MakeObject(std::move(members));
    }
    if (c == '\'' || c == '"') {
      std::string out;
      // Adjacent string literals concatenate.
      do {
        RETURN_IF_ERROR(String(&out));
        SkipSpace();
      } while (p_ < s_.size() && (s_[p_] == '\'' || s_[p_] == '"'));
      return base::Json::String(std::move(out));
    }
    if (absl::ascii_isalpha(static_cast<unsigned char>(c))) {
      size_t q = p_;
      while (q < s_.size() &&
             (absl::ascii_isalnum(static_cast<unsigned char>(s_[q])) ||
              s_[q] == '_'))
        ++q;
      const absl::string_view word = s_.substr(p_, q - p_);
      p_ = q;
      if (word == "True") return base::Json::Bool(true);
      if (word == "False") return base::Json::Bool(false);
      if (word == "None") return base::Json::Null();
      return Error(absl::StrCat("name '", word, "'"));
    }
    return Number();
  }

  absl::StatusOr<base::Json> Number() {
    size_t q = p_;
    if (q < s_.size() && (s_[q] == '-' || s_[q] == '+')) ++q;
    const size_t digits = q;
    bool is_float = false;
    while (q < s_.size() &&
           (absl::ascii_isdigit(static_cast<unsigned char>(s_[q])) ||
            s_[q] == '.' || s_[q] == 'e' || s_[q] == 'E' || s_[q] == '_' ||
            ((s_[q] == '-' || s_[q] == '+') &&
             (s_[q - 1] == 'e' || s_[q - 1] == 'E')))) {
      if (s_[q] == '.' || s_[q] == 'e' || s_[q] == 'E') is_float = true;
      ++q;
    }
    if (q == digits) return Error("expected a value");
    std::string text(s_.substr(p_, q - p_));
    text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    p_ = q;
    if (!is_float) {
      int64_t v;
      if (text.size() > 1 && text[text[0] == '-' || text[0] == '+'] == '0')
        return Error("leading zeros in an integer");
      if (!absl::SimpleAtoi(text, &v)) return Error("bad integer");
      return base::Json::Int(v);
    }
    double d;
    if (!absl::SimpleAtod(text, &d)) return Error("bad number");
    return base::Json::Double(d);
  }

  absl::Status String(std::string* out) {
    const char quote = s_[p_];
    const bool triple = s_.substr(p_, 3) == std::string(3, quote);
    p_ += triple ? 3 : 1;
    while (true) {
      if (p_ >= s_.size()) return Error("unterminated string");
      const char c = s_[p_];
      if (triple ? s_.substr(p_, 3) == std::string(3, quote) : c == quote) {
        p_ += triple ? 3 : 1;
        return absl::OkStatus();
      }
      if (c == '\n' && !triple) return Error("newline in a string");
      if (c != '\\') {
        out->push_back(c);
        ++p_;
        continue;
      }
      if (p_ + 1 >= s_.size()) return Error("unterminated string");
      const char e = s_[p_ + 1];
      p_ += 2;
      switch (e) {
        case '\n':
          break;
        case '\\':
        case '\'':
        case '"':
          out->push_back(e);
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 'a':
          out->push_back('\a');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'v':
          out->push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          const size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (p_ + n > s_.size()) return Error("truncated escape");
          uint32_t cp = 0;
          for (size_t k = 0; k < n; ++k) {
            const char h = s_[p_ + k];
            if (!absl::ascii_isxdigit(static_cast<unsigned char>(h)))
              return Error("bad escape");
            cp =
                cp * 16 + static_cast<uint32_t>(
                              absl::ascii_isdigit(static_cast<unsigned char>(h))
                                  ? h - '0'
                                  : absl::ascii_tolower(h) - 'a' + 10);
          }
          p_ += n;
          if (cp > 0x10FFFF) return Error("bad escape");
          base::AppendUtf8(cp, out);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0;
                 k < 2 && p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '7';
                 ++k, ++p_)
              cp = cp * 8 + static_cast<uint32_t>(s_[p_] - '0');
            base::AppendUtf8(cp, out);
          } else {
            // Python keeps an unknown escape as written.
            out->push_back('\\');
            out->push_back(e);
          }
      }
    }
  }

  absl::string_view s_;
  size_t p_ = 0;
};

constexpr absl::string_view kPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

}  // namespace

absl::StatusOr<base::Json> ParsePythonLiteral(absl::string_view text) {
  return LiteralParser(text).Run();
}

std::string RegexExtract(const py::Regex& regex, int group_select,
                         absl::string_view fallback, absl::string_view text) {
  std::vector<std::vector<std::string>> matches = regex.FindAll(text);
  if (matches.empty()) return std::string(fallback);
  const int n = static_cast<int>(matches.size());
  const int index = group_select < 0 ? n + group_select : group_select;
  // Python raises IndexError here; the fallback is the closest defined
  // answer.
  if (index < 0 || index >= n) return std::string(fallback);
  const std::vector<std::string>& match = matches[index];
  std::string picked;
  if (regex.group_count() <= 1) {
    picked = match[0];
  } else {
    picked = std::string(fallback);
    for (const std::string& group : match) {
      if (!group.empty()) {
        picked = group;
        break;
      }
    }
  }
  return std::string(py::Strip(picked));
}

absl::StatusOr<CompiledFilters> CompiledFilters::Compile(
    const FilterPipeline& pipeline) {
  CompiledFilters out;
  out.name_ = pipeline.name;
  bool single = false;
  for (const FilterStep& step : pipeline.steps) {
    const std::string where = step.origin.ToString();
    if (single) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": filter '", step.function, "' of pipeline '", pipeline.name,
          "' comes after take_first, which already chose one response"));
    }
    Step s;
    s.function = step.function;
    if (step.function == "regex") {
      auto regex = py::Regex::Compile(step.regex_pattern);
      if (!regex.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": regex_pattern: ", regex.status().message()));
      }
      s.regex = *std::move(regex);
      s.group_select = step.group_select;
      s.fallback = step.fallback;
    } else if (step.function == "take_first") {
      single = true;
    } else if (step.function != "lowercase" && step.function != "uppercase" &&
               step.function != "remove_whitespace" &&
               step.function != "majority_vote") {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": filter function '", step.function,
          "' is not one evald runs (regex, take_first, lowercase, uppercase, "
          "remove_whitespace, majority_vote)"));
    }
    out.steps_.push_back(std::move(s));
  }
  return out;
}

std::string CompiledFilters::Apply(
    const std::vector<std::string>& responses) const {
  std::vector<std::string> values = responses;
  for (const Step& step : steps_) {
    if (step.function == "take_first") {
      values.resize(values.empty() ? 0 : 1);
      break;
    }
    if (step.function == "majority_vote") {
      // Counter.most_common(1): the highest count, first seen on ties.
      std::map<std::string, int> counts;
      std::string best;
      int best_count = 0;
      for (const std::string& v : values) ++counts[v];
      for (const std::string& v : values) {
        if (counts[v] > best_count) {
          best = v;
          best_count = counts[v];
        }
      }
      values = {best};
      continue;
    }
    for (std::string& v : values) {
      if (step.function == "regex") {
        v = RegexExtract(*step.regex, step.group_select, step.fallback, v);
      } else if (step.function == "lowercase") {
        v = py::Lower(v);
      } else if (step.function == "uppercase") {
        v = py::Upper(v);
      } else if (step.function == "remove_whitespace") {
        v = std::string(py::Strip(v));
      }
    }
  }
  return values.empty() ? std::string() : values[0];
}

absl::StatusOr<ExactMatcher> ExactMatcher::Create(const MetricConfig& metric) {
  ExactMatcher m;
  m.ignore_case_ = metric.ignore_case;
  m.ignore_punctuation_ = metric.ignore_punctuation;
  for (const std::string& pattern : metric.regexes_to_ignore) {
    auto regex = py::Regex::Compile(pattern);
    if (!regex.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(metric.origin.ToString(),
                       ": regexes_to_ignore: ", regex.status().message()));
    }
    m.ignore_.push_back(*std::move(regex));
  }
  return m;
}

std::string ExactMatcher::Normalize(absl::string_view text) const {
  std::string out(text);
  for (const py::Regex& regex : ignore_) out = regex.Sub(out, "");
  if (ignore_case_) out = py::Lower(out);  // np.char.lower is str.lower
  if (ignore_punctuation_) {
    std::string kept;
    for (char c : out) {
      if (kPunctuation.find(c) == absl::string_view::npos) kept.push_back(c);
    }
    out = std::move(kept);
  }
  return out;
}

double ExactMatcher::Score(absl::string_view prediction,
                           absl::string_view reference) const {
  return Normalize(prediction) == Normalize(reference) ? 1.0 : 0.0;
}

double PerplexityBootstrapStderr(const std::vector<double>& xs, int iters) {
  const int chunk = std::min(1000, iters);
  const size_t n = xs.size();
  std::vector<double> replicates;
  replicates.reserve(static_cast<size_t>(iters));
  for (int i = 0; i < iters / chunk; ++i) {
    PythonRandom rng(static_cast<uint64_t>(i));
    for (int r = 0; r < chunk; ++r) {
      // choices(): population[floor(random() * n)], summed in order as
      // Python's sum() does, then lm-eval's mean and perplexity.
      double sum = 0;
      for (size_t k = 0; k < n; ++k) {
        sum += xs[static_cast<size_t>(
            std::floor(rng.Random() * static_cast<double>(n)))];
      }
      replicates.push_back(std::exp(-(sum / static_cast<double>(n))));
    }
  }
  if (replicates.size() < 2) return 0;
  double total = 0;
  for (double v : replicates) total += v;
  const double mu = total / static_cast<double>(replicates.size());
  double squares = 0;
  for (double v : replicates) squares += (v - mu) * (v - mu);
  return std::sqrt(squares / static_cast<double>(replicates.size() - 1));
}

std::vector<MetricConfig> DefaultMetrics(const std::string& output_type) {
  std::vector<std::string> names;
  if (output_type == "loglikelihood") {
    names = {"perplexity", "acc"};
  } else if (output_type == "loglikelihood_rolling") {
    names = {"word_perplexity", "byte_perplexity", "bits_per_byte"};
  } else if (output_type == "multiple_choice") {
    names = {"acc", "acc_norm"};
  } else {
    names = {"exact_match"};
  }
  std::vector<MetricConfig> out;
  for (const std::string& name : names) {
    MetricConfig m;
    m.metric = name;
    out.push_back(std::move(m));
  }
  return out;
}

absl::StatusOr<MetricSpec> ResolveMetric(const MetricConfig& metric,
                                         const std::string& output_type) {
  struct Known {
    const char* name;
    const char* output_types;  // '|'-separated
    Aggregation aggregation;
    const char* aggregation_name;
    bool higher_is_better;
  };
  static constexpr Known kKnown[] = {
      {"acc", "|loglikelihood|multiple_choice|", Aggregation::kMean, "mean",
       true},
      {"acc_norm", "|multiple_choice|", Aggregation::kMean, "mean", true},
      {"acc_mutual_info", "|multiple_choice|", Aggregation::kMean, "mean",
       true},
      {"exact_match", "|generate_until|", Aggregation::kMean, "mean", true},
      {"perplexity", "|loglikelihood|", Aggregation::kPerplexity, "perplexity",
       false},
      {"word_perplexity", "|loglikelihood_rolling|",
       Aggregation::kWeightedPerplexity, "weighted_perplexity", false},
      {"byte_perplexity", "|loglikelihood_rolling|",
       Aggregation::kWeightedPerplexity, "weighted_perplexity", false},
      {"bits_per_byte", "|loglikelihood_rolling|", Aggregation::kBitsPerByte,
       "bits_per_byte", false},
  };
  const std::string where = metric.origin.ToString();
  for (const Known& k : kKnown) {
    if (metric.metric != k.name) continue;
    if (absl::string_view(k.output_types)
            .find(absl::StrCat("|", output_type, "|")) ==
        absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": metric '", metric.metric,
          "' is not computed for output_type '", output_type, "'"));
    }
    MetricSpec spec;
    spec.metric = k.name;
    spec.aggregation = k.aggregation;
    spec.aggregation_name = k.aggregation_name;
    spec.higher_is_better =
        metric.higher_is_better.value_or(k.higher_is_better);
    if (!metric.aggregation.empty() &&
        metric.aggregation != k.aggregation_name) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": metric '", metric.metric, "' aggregates with '",
          k.aggregation_name, "' here, not '", metric.aggregation, "'"));
    }
    return spec;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      where, ": metric '", metric.metric,
      "' is not one evald computes (acc, acc_norm, acc_mutual_info, "
      "exact_match, perplexity, word_perplexity, byte_perplexity, "
      "bits_per_byte)"));
}

std::string MetricKey(absl::string_view metric, absl::string_view filter) {
  if (filter == "none") return std::string(metric);
  return absl::StrCat(metric, ",", filter);
}

}  // namespace evald::tasks::lm_eval
