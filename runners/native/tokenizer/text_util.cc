#include "runners/native/tokenizer/text_util.h"

#include <unicode/bytestream.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <array>

#include "base/utf8.h"

namespace evald::runners::native::tokenizer::internal {
namespace {

struct ByteMap {
  std::array<std::string, 256> byte_to_char;
  std::array<int32_t, 324> char_to_byte;  // code points 0..323 cover the map
};

const ByteMap& GetByteMap() {
  static const ByteMap* map = [] {
    auto* m = new ByteMap;
    m->char_to_byte.fill(-1);
    // Printable Latin-1 bytes stand for themselves; the rest are shifted to
    // 256 and up in byte order so no byte maps to whitespace or a control.
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) ||
                             (b >= 0xA1 && b <= 0xAC) ||
                             (b >= 0xAE && b <= 0xFF);
      const uint32_t cp =
          printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(next++);
      base::AppendUtf8(cp, &m->byte_to_char[b]);
      m->char_to_byte[cp] = b;
    }
    return m;
  }();
  return *map;
}

}  // namespace

const std::string& ByteToChar(uint8_t b) {
  return GetByteMap().byte_to_char[b];
}

int CharToByte(uint32_t cp) {
  const ByteMap& m = GetByteMap();
  return cp < m.char_to_byte.size() ? m.char_to_byte[cp] : -1;
}

std::string Utf8Lossy(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const uint8_t lead = static_cast<uint8_t>(s[i]);
    if (lead < 0x80) {
      out.push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    size_t need = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      need = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      need = 2;
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      need = 3;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    size_t j = i + 1;
    size_t got = 0;
    while (got < need && j < n) {
      const uint8_t c = static_cast<uint8_t>(s[j]);
      const uint8_t l = got == 0 ? lo : 0x80;
      const uint8_t h = got == 0 ? hi : 0xBF;
      if (c < l || c > h) break;
      ++j;
      ++got;
    }
    if (got == need) {
      out.append(s.data() + i, j - i);
    } else {
      out += "\xEF\xBF\xBD";
    }
    i = j;
  }
  return out;
}

std::string NormalizeUnicode(absl::string_view s, NormalForm form) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case NormalForm::kNfc:
      n = icu::Normalizer2::getNFCInstance(err);
      break;
    case NormalForm::kNfd:
      n = icu::Normalizer2::getNFDInstance(err);
      break;
    case NormalForm::kNfkc:
      n = icu::Normalizer2::getNFKCInstance(err);
      break;
    case NormalForm::kNfkd:
      n = icu::Normalizer2::getNFKDInstance(err);
      break;
  }
  if (U_FAILURE(err) || n == nullptr) return std::string(s);
  const icu::StringPiece piece(s.data(), static_cast<int32_t>(s.size()));
  if (n->isNormalizedUTF8(piece, err) && U_SUCCESS(err)) return std::string(s);
  err = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  n->normalizeUTF8(0, piece, sink, nullptr, err);
  if (U_FAILURE(err)) return std::string(s);
  return out;
}

std::string LowercaseUnicode(absl::string_view s) {
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(
      icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
  u.toLower(icu::Locale::getRoot());
  std::string out;
  u.toUTF8String(out);
  return out;
}

std::string StripAccents(absl::string_view s) {
  const std::string nfd = NormalizeUnicode(s, NormalForm::kNfd);
  std::string out;
  size_t pos = 0;
  while (pos < nfd.size()) {
    const uint32_t cp = base::DecodeUtf8At(nfd, &pos);
    if (u_charType(static_cast<UChar32>(cp)) == U_NON_SPACING_MARK) continue;
    base::AppendUtf8(cp, &out);
  }
  return out;
}

bool IsWhitespace(uint32_t cp) {
  return u_isUWhiteSpace(static_cast<UChar32>(cp));
}

bool IsWordChar(uint32_t cp) {
  if (cp == '_') return true;
  const UChar32 c = static_cast<UChar32>(cp);
  if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC)) return true;
  const int8_t type = u_charType(c);
  return type == U_DECIMAL_DIGIT_NUMBER || type == U_LETTER_NUMBER ||
         type == U_OTHER_NUMBER;
}

}  // namespace evald::runners::native::tokenizer::internal
