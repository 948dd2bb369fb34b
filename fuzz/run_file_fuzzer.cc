// File: fuzz/run_file_fuzzer.cc
// -----------------------------------------------------------------------------
// Fuzzes RunFileReader (daemon/run_file.h), the reader of evald's run files
// behind `evalctl import`. The input is read as a file, and again after the
// magic line so that the chunk reader is reached. Any input must be read
// whole or refused with one InvalidArgument line that starts with the
// file's name and the byte offset; what is read whole must write again
// (RunFileWriter) into bytes that read back to the same chunks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "daemon/run_file.h"
#include "google/protobuf/util/message_differencer.h"

namespace {

using evald::daemon::RunFileReader;
using evald::v1::ImportRunChunk;
using google::protobuf::util::MessageDifferencer;

constexpr absl::string_view kName = "fuzz.evald";

void CheckError(const absl::Status& status) {
  const absl::string_view m = status.message();
  if (status.code() != absl::StatusCode::kInvalidArgument ||
      m.find('\n') != absl::string_view::npos ||
      m.substr(0, kName.size() + 7) != "fuzz.evald: byte ") {
    std::abort();
  }
}

// Every chunk of `bytes`, or nullopt when it is refused.
std::optional<std::vector<ImportRunChunk>> ReadAll(const std::string& bytes) {
  std::istringstream in(bytes);
  RunFileReader reader(&in, std::string(kName));
  auto first = reader.ReadStart();
  if (!first.ok()) {
    CheckError(first.status());
    return std::nullopt;
  }
  std::vector<ImportRunChunk> chunks = {*first};
  while (true) {
    auto next = reader.Next();
    if (!next.ok()) {
      CheckError(next.status());
      return std::nullopt;
    }
    if (!next->has_value()) break;
    chunks.push_back(**next);
  }
  return chunks;
}

void Try(const std::string& bytes) {
  std::optional<std::vector<ImportRunChunk>> chunks = ReadAll(bytes);
  if (!chunks) return;
  std::ostringstream out;
  evald::daemon::RunFileWriter writer(&out, "out");
  if (!writer.Begin((*chunks)[0].run(), (*chunks)[0].scores()).ok())
    std::abort();
  for (size_t i = 1; i < chunks->size(); ++i) {
    for (const auto& s : (*chunks)[i].samples()) {
      if (!writer.AddSample(s).ok()) std::abort();
    }
  }
  if (!writer.Finish().ok()) std::abort();
  std::optional<std::vector<ImportRunChunk>> again = ReadAll(out.str());
  if (!again) std::abort();
  std::vector<const evald::v1::SampleRecord*> a, b;
  for (const auto& c : *chunks)
    for (const auto& s : c.samples()) a.push_back(&s);
  for (const auto& c : *again)
    for (const auto& s : c.samples()) b.push_back(&s);
  if (a.size() != b.size()) std::abort();
  for (size_t i = 0; i < a.size(); ++i) {
    if (!MessageDifferencer::Equals(*a[i], *b[i])) std::abort();
  }
  if (!MessageDifferencer::Equals((*again)[0].run(), (*chunks)[0].run()))
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  Try(input);
  Try(std::string(evald::daemon::kRunFileMagic) + input);
  return 0;
}
