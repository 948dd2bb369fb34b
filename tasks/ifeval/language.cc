// File: tasks/ifeval/language.cc
#include "tasks/ifeval/language.h"

#include <cld2/public/compact_lang_det.h>
#include <unicode/uchar.h>

#include "base/utf8.h"

namespace CLD2 {
// Declared in cld2/internal/lang_script.h, which is not meant for inclusion.
const char* LanguageCode(Language lang);
}  // namespace CLD2

namespace evald::tasks::ifeval {

std::optional<std::string> DetectLanguage(absl::string_view text) {
  bool has_letter = false;
  for (uint32_t cp : base::DecodeUtf8(text)) {
    if (u_isalpha(cp)) {
      has_letter = true;
      break;
    }
  }
  if (!has_letter) return std::nullopt;
  // CLD2 only accepts valid UTF-8; replace anything else.
  std::string clean = base::IsValidUtf8(text)
                          ? std::string(text)
                          : base::EncodeUtf8(base::DecodeUtf8(text));
  bool is_reliable = false;
  CLD2::Language lang =
      CLD2::DetectLanguage(clean.data(), static_cast<int>(clean.size()),
                           /*is_plain_text=*/true, &is_reliable);
  if (lang == CLD2::UNKNOWN_LANGUAGE || !is_reliable) return std::string("un");
  std::string code = CLD2::LanguageCode(lang);
  if (code == "iw") return std::string("he");
  if (code == "zh") return std::string("zh-cn");
  if (code == "zh-Hant") return std::string("zh-tw");
  if (code == "jw") return std::string("jv");
  return code;
}

namespace {

class Cld2LanguageDetector : public LanguageDetector {
 public:
  std::optional<std::string> Detect(absl::string_view text) const override {
    return DetectLanguage(text);
  }
  std::string name() const override { return "cld2"; }
  std::string sha256() const override { return ""; }
};

}  // namespace

const LanguageDetector& Cld2Detector() {
  static const auto* detector = new Cld2LanguageDetector();
  return *detector;
}

}  // namespace evald::tasks::ifeval
