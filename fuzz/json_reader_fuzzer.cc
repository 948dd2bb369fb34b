// Fuzzes ParseJson and JsonReader: any input must parse or fail with a
// Status; every read of every value of what parses must succeed or fail with
// one InvalidArgument line that names the field.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/json.h"

namespace {

using evald::base::JsonReader;

// A failed read must be one InvalidArgument line that starts with the field
// it is about (or, for the root, with what was expected).
void Check(const absl::Status& s, const JsonReader& from) {
  if (s.ok()) return;
  const std::string start =
      from.path().empty()
          ? std::string("fuzz.json: expected ")
          : absl::StrCat("fuzz.json: field '", from.path(), "'");
  if (s.code() != absl::StatusCode::kInvalidArgument ||
      s.message().find('\n') != absl::string_view::npos ||
      s.message().substr(0, start.size()) != start) {
    std::abort();
  }
}

void Walk(const JsonReader& r, int depth) {
  Check(r.Int().status(), r);
  Check(r.Int(-5, 5).status(), r);
  Check(r.IntOr(0, 0, 1).status(), r);
  Check(r.Number().status(), r);
  Check(r.NumberOr(0).status(), r);
  Check(r.Bool().status(), r);
  Check(r.String().status(), r);
  Check(r.StringOr("").status(), r);
  Check(r.Object().status(), r);
  Check(r.Array().status(), r);
  Check(r.Expected("something else"), r);
  if (depth > 64) return;
  // Items of an object are its members, duplicates included; one past the
  // end is absent.
  for (size_t i = 0; i <= r.size(); ++i) Walk(r.Item(i), depth + 1);
  if (r.json().is_object()) {
    for (const auto& [key, value] : r.json().object()) {
      Check(r.Field(key).String().status(), r.Field(key));
    }
    Check(r.Field("absent").Int().status(), r.Field("absent"));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  evald::base::JsonParseOptions options;
  options.allow_nan_literals = true;
  options.allow_lone_surrogates = true;
  absl::StatusOr<evald::base::Json> json =
      evald::base::ParseJson(text, options);
  if (!json.ok()) return 0;
  Walk(JsonReader(*json, "fuzz.json"), 0);
  return 0;
}
