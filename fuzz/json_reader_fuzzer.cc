// Fuzzes ParseJson and JsonReader: any input must parse or fail with a
// Status; every read of every value of what parses must succeed or fail with
// one InvalidArgument line that names the field it carries as its path.
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

void Check(const absl::Status& s) {
  if (s.ok()) return;
  const std::string path = evald::base::JsonErrorPath(s);
  if (s.code() != absl::StatusCode::kInvalidArgument ||
      s.message().find('\n') != absl::string_view::npos ||
      (!path.empty() && s.message().find(absl::StrCat("field '", path, "'")) ==
                            absl::string_view::npos)) {
    std::abort();
  }
}

void Walk(const JsonReader& r, int depth) {
  Check(r.Int().status());
  Check(r.Int(-5, 5).status());
  Check(r.IntOr(0, 0, 1).status());
  Check(r.Number().status());
  Check(r.NumberOr(0).status());
  Check(r.Bool().status());
  Check(r.String().status());
  Check(r.StringOr("").status());
  Check(r.Object().status());
  Check(r.Array().status());
  Check(r.Expected("something else"));
  if (depth > 64) return;
  if (r.json().is_object()) {
    for (const auto& [key, value] : r.json().object()) Walk(r.Field(key), depth + 1);
    Check(r.Field("absent").Int().status());
  } else if (r.json().is_array()) {
    for (size_t i = 0; i <= r.size(); ++i) Walk(r.Item(i), depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  evald::base::JsonParseOptions options;
  options.allow_nan_literals = true;
  options.allow_lone_surrogates = true;
  absl::StatusOr<evald::base::Json> json = evald::base::ParseJson(text, options);
  if (!json.ok()) return 0;
  Walk(JsonReader(*json, "fuzz.json"), 0);
  return 0;
}
