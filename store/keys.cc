#include "store/keys.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace evald::store::keys {
namespace {

constexpr char kSep = '\0';
constexpr absl::string_view kRunIdTimeFormat = "%Y%m%dT%H%M%S";
// "r" + "YYYYMMDDTHHMMSS" + "Z-" + "NNNN", then "-" + instance in new ids.
constexpr size_t kOldRunIdLength = 1 + 15 + 2 + 4;
constexpr size_t kRunIdLength = kOldRunIdLength + 1 + kInstanceIdLength;
constexpr absl::string_view kInstanceAlphabet =
    "abcdefghijklmnopqrstuvwxyz234567";

std::string Join(std::initializer_list<absl::string_view> parts) {
  std::string out;
  bool first = true;
  for (absl::string_view p : parts) {
    if (!first) out.push_back(kSep);
    first = false;
    out.append(p.data(), p.size());
  }
  return out;
}

}  // namespace

void AppendBigEndian64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian64(absl::string_view bytes) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return v;
}

std::string FormatRunId(absl::Time time, int sequence,
                        absl::string_view instance) {
  std::string id = absl::StrCat(
      "r", absl::FormatTime(kRunIdTimeFormat, time, absl::UTCTimeZone()), "Z-",
      absl::StrFormat("%04d", sequence));
  if (!instance.empty()) absl::StrAppend(&id, "-", instance);
  return id;
}

bool IsInstanceId(absl::string_view s) {
  if (s.size() != kInstanceIdLength) return false;
  for (char c : s) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

std::string NewInstanceId() {
  std::random_device device;
  uint64_t bits = (static_cast<uint64_t>(device()) << 32) | device();
  std::string id;
  for (size_t i = 0; i < kInstanceIdLength; ++i) {
    id.push_back(kInstanceAlphabet[bits & 31]);
    bits >>= 5;
  }
  return id;
}

std::optional<ParsedRunId> ParseRunId(absl::string_view id) {
  if ((id.size() != kOldRunIdLength && id.size() != kRunIdLength) ||
      id[0] != 'r' || id.substr(16, 2) != "Z-") {
    return std::nullopt;
  }
  absl::string_view instance;
  if (id.size() == kRunIdLength) {
    instance = id.substr(kOldRunIdLength + 1);
    if (id[kOldRunIdLength] != '-' || !IsInstanceId(instance))
      return std::nullopt;
  }
  // Fixed-width digit fields: year, month, day, 'T', hour, minute, second,
  // then the sequence. (absl's %Y would swallow every digit that follows.)
  auto digits = [&](size_t pos, size_t n, int* out) {
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(id[i]))) return false;
      v = v * 10 + (id[i] - '0');
    }
    *out = v;
    return true;
  };
  int year, month, day, hour, minute, second;
  ParsedRunId parsed;
  if (id[9] != 'T' || !digits(1, 4, &year) || !digits(5, 2, &month) ||
      !digits(7, 2, &day) || !digits(10, 2, &hour) || !digits(12, 2, &minute) ||
      !digits(14, 2, &second) || !digits(18, 4, &parsed.sequence)) {
    return std::nullopt;
  }
  parsed.time =
      absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second),
                      absl::UTCTimeZone());
  // Reject spellings that parse but would not round-trip (e.g. month 13
  // normalised by the parser), so parsed ids always sort as their times do.
  parsed.instance = std::string(instance);
  if (FormatRunId(parsed.time, parsed.sequence, instance) != id)
    return std::nullopt;
  return parsed;
}

absl::Status ValidateName(absl::string_view what, absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  }
  if (name.find(kSep) != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " \"", absl::CHexEscape(name), "\" contains a NUL byte"));
  }
  return absl::OkStatus();
}

std::string SampleKey(absl::string_view run_id, absl::string_view task,
                      uint64_t doc_index) {
  std::string key = SamplePrefix(run_id, task);
  AppendBigEndian64(doc_index, &key);
  return key;
}

std::string SamplePrefix(absl::string_view run_id, absl::string_view task) {
  std::string key = Join({run_id, task});
  key.push_back(kSep);
  return key;
}

std::optional<uint64_t> DocIndexFromSampleKey(absl::string_view prefix,
                                              absl::string_view key) {
  if (key.size() != prefix.size() + 8 || !absl::StartsWith(key, prefix)) {
    return std::nullopt;
  }
  return ReadBigEndian64(key.substr(prefix.size()));
}

std::string ScoresKey(absl::string_view run_id, absl::string_view task) {
  return Join({run_id, task});
}

std::string RunPrefix(absl::string_view run_id) {
  std::string key(run_id);
  key.push_back(kSep);
  return key;
}

std::string QueueKey(int32_t priority, uint64_t seq) {
  // Bias the sign bit so that unsigned order equals signed order, then invert
  // so that a larger priority gives a smaller key and comes first.
  const uint32_t biased = static_cast<uint32_t>(priority) ^ 0x80000000u;
  const uint32_t inverted = ~biased;
  std::string key;
  for (int shift = 24; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((inverted >> shift) & 0xff));
  }
  AppendBigEndian64(seq, &key);
  return key;
}

std::string ProgressKey(absl::string_view run_id, absl::string_view task) {
  return Join({"progress", run_id, task});
}

std::string FiguresKey(absl::string_view run_id, int32_t attempt) {
  std::string key = FiguresPrefix(run_id);
  AppendBigEndian64(static_cast<uint64_t>(attempt), &key);
  return key;
}

std::string FiguresPrefix(absl::string_view run_id) {
  std::string key = Join({"figures", run_id});
  key.push_back(kSep);
  return key;
}

std::string ImportingKey(absl::string_view run_id) {
  return Join({"importing", run_id});
}

std::string ProgressPrefix(absl::string_view run_id) {
  std::string key = Join({"progress", run_id});
  key.push_back(kSep);
  return key;
}

}  // namespace evald::store::keys
