// File: daemon/cli/datasets_cmd.cc
// -----------------------------------------------------------------------------
// `evalctl datasets fetch mmlu|gsm8k|ifeval|punkt [--data-dir DIR]
//  [--url-base URL] [--pin NAME=SHA256]...` downloads a dataset from its
// original public URL, checks it against the sha256s pinned here, and stores
// it under <data-dir>/datasets/<name>/. `evalctl datasets verify [NAME...]`
// re-hashes what is stored.
//
// Pins are per file, except for the datasets that arrive as an archive
// (mmlu, punkt), which are pinned by a manifest hash: the sha256 of the
// `sha256sum`-style listing ("<sha256>  <relative path>\n", sorted by path)
// of the files kept from the archive. That listing is stored as SHA256SUMS.
//
// A fetch is staged in a temporary folder beside the destination and moved
// into place only when every hash matches, so a failed or interrupted fetch
// leaves the previous copy (or nothing) behind, never a half-written one.
// --url-base replaces the origin: a file is then read from
// <url-base>/<name>/<file name of the original URL> (mirrors, tests).
//
// With --json, fetch prints its progress to stderr and then one JSON object,
// {"fetched": [{"name", "path"}]}; verify prints {"datasets": [{"name",
// "status": "ok"|"not fetched"|"failed", "error"}]}. The exit codes do not
// change.
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/json.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "daemon/cli/command.h"
#include "daemon/cli/parse.h"

namespace evald::daemon::cli {
namespace {

namespace fs = std::filesystem;

// How a downloaded file becomes stored files.
enum class Unpack {
  kNone,      // stored as is, under its file name
  kMmluTar,   // data/{dev,test}/*.csv -> {dev,test}/
  kPunktZip,  // punkt_tab/english/* -> english/
};

struct Source {
  std::string url;
  Unpack unpack = Unpack::kNone;
};

struct DatasetSpec {
  std::string name;
  std::vector<Source> sources;
  // Pin key -> sha256. Keys are stored file names, or "SHA256SUMS" for a
  // manifest-pinned dataset.
  std::map<std::string, std::string> pins;
};

const std::vector<DatasetSpec>& Specs() {
  static const auto* const kSpecs = new std::vector<DatasetSpec>{
      {"mmlu",
       {{"https://people.eecs.berkeley.edu/~hendrycks/data.tar",
         Unpack::kMmluTar}},
       {{"SHA256SUMS",
         "27ac46972a63c94a496cb9d24cce245af31d01bfe7c2b60ab8a0815263f75d19"}}},
      {"gsm8k",
       {{"https://raw.githubusercontent.com/openai/grade-school-math/master/"
         "grade_school_math/data/test.jsonl"},
        {"https://raw.githubusercontent.com/openai/grade-school-math/master/"
         "grade_school_math/data/train.jsonl"}},
       {{"test.jsonl",
         "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14"},
        {"train.jsonl",
         "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465"}}},
      {"ifeval",
       {{"https://raw.githubusercontent.com/google-research/google-research/"
         "master/"
         "instruction_following_eval/data/input_data.jsonl"}},
       {{"input_data.jsonl",
         "67ffeee0fcb87c317c5b08a2de85557b4a7e96ada6178aa645b4954fe4b53d49"}}},
      {"punkt",
       {{"https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/"
         "tokenizers/punkt_tab.zip",
         Unpack::kPunktZip}},
       {{"SHA256SUMS",
         "64a11993fc3608ce53dff2e4ca6ea29dbd29acc22b7a43ede6ee864d3d95983d"}}},
  };
  return *kSpecs;
}

const DatasetSpec* FindSpec(const std::string& name) {
  for (const DatasetSpec& spec : Specs()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::string BaseName(const std::string& url) {
  return url.substr(url.rfind('/') + 1);
}

size_t CurlWrite(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

absl::StatusOr<std::string> Download(const std::string& url) {
  static const bool kInit = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)kInit;
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(),
                                              curl_easy_cleanup);
  if (!curl) return absl::InternalError("libcurl: cannot create a handle");
  std::string body;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, CurlWrite);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "evalctl");
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat("download ", url, ": ",
                     error[0] != 0 ? error : curl_easy_strerror(rc)));
  }
  return body;
}

// Only plain names are written, so an archive cannot escape the folder.
bool SafeFileName(absl::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

// Extracts the members `map` accepts (returning their stored relative path,
// or "" to skip) from an archive held in memory.
template <typename MapFn>
absl::Status Extract(const std::string& archive_bytes, const std::string& what,
                     const fs::path& dir, MapFn map, int* extracted) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(),
                                                archive_read_free);
  archive_read_support_format_tar(a.get());
  archive_read_support_format_zip(a.get());
  archive_read_support_filter_all(a.get());
  if (archive_read_open_memory(a.get(), archive_bytes.data(),
                               archive_bytes.size()) != ARCHIVE_OK) {
    return absl::DataLossError(absl::StrCat(
        what, ": not a readable archive: ", archive_error_string(a.get())));
  }
  archive_entry* entry = nullptr;
  while (true) {
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return absl::DataLossError(
          absl::StrCat(what, ": ", archive_error_string(a.get())));
    }
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    const std::string relative =
        map(std::string(archive_entry_pathname(entry)));
    if (relative.empty()) continue;
    std::string contents;
    char buffer[1 << 16];
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), buffer, sizeof(buffer))) > 0)
      contents.append(buffer, n);
    if (n < 0)
      return absl::DataLossError(
          absl::StrCat(what, ": ", archive_error_string(a.get())));
    const fs::path out = dir / relative;
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    RETURN_IF_ERROR(base::WriteFileAtomically(out.string(), contents));
    ++*extracted;
  }
  return absl::OkStatus();
}

std::string MmluMember(const std::string& path) {
  // data/dev/<subject>_dev.csv, data/test/<subject>_test.csv
  std::vector<std::string> parts = absl::StrSplit(path, '/');
  if (parts.size() != 3 || parts[0] != "data") return "";
  if ((parts[1] != "dev" && parts[1] != "test") ||
      !absl::EndsWith(parts[2], ".csv") || !SafeFileName(parts[2])) {
    return "";
  }
  return parts[1] + "/" + parts[2];
}

std::string PunktMember(const std::string& path) {
  std::vector<std::string> parts = absl::StrSplit(path, '/');
  if (parts.size() != 3 || parts[0] != "punkt_tab" || parts[1] != "english" ||
      !SafeFileName(parts[2]))
    return "";
  return "english/" + parts[2];
}

// "<sha256>  <relative path>\n" for every regular file under `dir` except
// SHA256SUMS, sorted by path.
absl::StatusOr<std::string> Manifest(const fs::path& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string relative = fs::relative(it->path(), dir).string();
    if (relative == "SHA256SUMS") continue;
    files.push_back(relative);
  }
  if (ec)
    return absl::InternalError(
        absl::StrCat(dir.string(), ": cannot list: ", ec.message()));
  std::sort(files.begin(), files.end());
  std::string manifest;
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(std::string sha, base::Sha256File((dir / file).string()));
    absl::StrAppend(&manifest, sha, "  ", file, "\n");
  }
  return manifest;
}

// Checks the files under `dir` against `pins`; the error names the first
// file whose hash differs, with both values.
absl::Status CheckPins(const fs::path& dir,
                       const std::map<std::string, std::string>& pins,
                       const std::string& dataset) {
  for (const auto& [key, expected] : pins) {
    std::string found;
    if (key == "SHA256SUMS") {
      ASSIGN_OR_RETURN(std::string manifest, Manifest(dir));
      if (manifest.empty())
        return absl::NotFoundError(absl::StrCat(dataset, ": no files"));
      found = base::Sha256Hex(manifest);
    } else {
      const fs::path path = dir / key;
      if (!fs::exists(path))
        return absl::NotFoundError(
            absl::StrCat(dataset, ": ", key, " is missing"));
      ASSIGN_OR_RETURN(found, base::Sha256File(path.string()));
    }
    if (found != expected) {
      return absl::DataLossError(absl::StrCat(dataset, ": sha256 mismatch for ",
                                              key, ": expected ", expected,
                                              ", found ", found));
    }
  }
  return absl::OkStatus();
}

// Removes a folder tree when it goes out of scope unless released.
class ScopedRemove {
 public:
  explicit ScopedRemove(fs::path path) : path_(std::move(path)) {}
  ~ScopedRemove() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  void Release() { path_.clear(); }

 private:
  fs::path path_;
};

absl::Status Fetch(const DatasetSpec& spec, const std::string& data_dir,
                   const std::string& url_base,
                   const std::map<std::string, std::string>& pin_overrides,
                   std::ostream& out) {
  std::map<std::string, std::string> pins = spec.pins;
  for (const auto& [key, sha] : pin_overrides) {
    std::vector<std::string> parts =
        absl::StrSplit(key, absl::MaxSplits('/', 1));
    if (parts.size() == 2 && parts[0] == spec.name) pins[parts[1]] = sha;
  }
  const fs::path root = fs::path(data_dir) / "datasets";
  const fs::path dest = root / spec.name;
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat(root.string(), ": cannot create: ", ec.message()));
  const fs::path staging =
      root / absl::StrCat(".", spec.name, ".partial-", getpid());
  fs::remove_all(staging, ec);
  ScopedRemove cleanup(staging);
  fs::create_directories(staging, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat(staging.string(), ": cannot create: ", ec.message()));

  for (const Source& source : spec.sources) {
    const std::string url =
        url_base.empty()
            ? source.url
            : absl::StrCat(url_base, "/", spec.name, "/", BaseName(source.url));
    out << "fetching " << url << "\n";
    ASSIGN_OR_RETURN(std::string body, Download(url));
    out << "  " << body.size() << " bytes, sha256 " << base::Sha256Hex(body)
        << "\n";
    int extracted = 0;
    switch (source.unpack) {
      case Unpack::kNone:
        RETURN_IF_ERROR(base::WriteFileAtomically(
            (staging / BaseName(source.url)).string(), body));
        break;
      case Unpack::kMmluTar:
        RETURN_IF_ERROR(Extract(body, url, staging, MmluMember, &extracted));
        break;
      case Unpack::kPunktZip:
        RETURN_IF_ERROR(Extract(body, url, staging, PunktMember, &extracted));
        break;
    }
    if (source.unpack != Unpack::kNone) {
      if (extracted == 0)
        return absl::DataLossError(absl::StrCat(
            url, ": the archive holds none of the expected files"));
      out << "  extracted " << extracted << " files\n";
    }
  }
  RETURN_IF_ERROR(CheckPins(staging, pins, spec.name));
  ASSIGN_OR_RETURN(std::string manifest, Manifest(staging));
  RETURN_IF_ERROR(
      base::WriteFileAtomically((staging / "SHA256SUMS").string(), manifest));

  // Swap the verified copy into place; the old copy goes only afterwards.
  const fs::path old = root / absl::StrCat(".", spec.name, ".old-", getpid());
  bool had_old = fs::exists(dest);
  if (had_old) {
    fs::rename(dest, old, ec);
    if (ec)
      return absl::InternalError(
          absl::StrCat(dest.string(), ": cannot replace: ", ec.message()));
  }
  fs::rename(staging, dest, ec);
  if (ec) {
    if (had_old) fs::rename(old, dest, ec);
    return absl::InternalError(absl::StrCat(
        dest.string(), ": cannot move into place: ", ec.message()));
  }
  cleanup.Release();
  if (had_old) fs::remove_all(old, ec);
  out << spec.name << ": ok, stored in " << dest.string() << "\n";
  return absl::OkStatus();
}

int Usage(CommandContext& context, const std::string& verb,
          const std::string& message) {
  context.err << "evalctl datasets " << verb << ": " << message << "\n";
  return kExitInvalidInput;
}

std::string DatasetNames() {
  std::vector<std::string> names;
  for (const DatasetSpec& spec : Specs()) names.push_back(spec.name);
  return absl::StrJoin(names, ", ");
}

struct DatasetsFlags {
  std::vector<std::string> fetch_names;
  std::vector<std::string> verify_names;
  std::string url_base;
  std::vector<std::string> pins;
  CLI::App* fetch = nullptr;
  CLI::App* verify = nullptr;
};

int DatasetsCommand(CommandContext& context, const DatasetsFlags& flags) {
  const bool fetch = flags.fetch->parsed();
  const std::string verb = fetch ? "fetch" : "verify";
  std::string data_dir = context.global.data_dir;
  if (data_dir.empty()) data_dir = DefaultDataDir();
  std::string url_base = flags.url_base;
  while (!url_base.empty() && url_base.back() == '/') url_base.pop_back();
  std::map<std::string, std::string> pins;
  for (const std::string& v : flags.pins) {
    if (v.find('=') == std::string::npos) {
      return Usage(context, verb,
                   absl::StrCat("--pin ", v, ": expected NAME/FILE=SHA256"));
    }
    pins[v.substr(0, v.find('='))] = v.substr(v.find('=') + 1);
  }
  std::vector<std::string> names =
      fetch ? flags.fetch_names : flags.verify_names;
  for (const std::string& name : names) {
    if (FindSpec(name) == nullptr) {
      return Usage(context, verb,
                   absl::StrCat("unknown dataset \"", name,
                                "\" (known: ", DatasetNames(), ")"));
    }
  }
  const bool json = context.global.json;
  if (fetch) {
    base::Json fetched = base::Json::MakeArray();
    for (const std::string& name : names) {
      absl::Status status = Fetch(*FindSpec(name), data_dir, url_base, pins,
                                  json ? context.err : context.out);
      if (!status.ok()) {
        context.err << "evalctl datasets fetch: " << status.message() << "\n";
        return kExitRunFailed;
      }
      base::Json item = base::Json::MakeObject();
      item.Set("name", base::Json::String(name));
      item.Set("path", base::Json::String(
                           (fs::path(data_dir) / "datasets" / name).string()));
      fetched.Push(std::move(item));
    }
    if (json) {
      base::Json out = base::Json::MakeObject();
      out.Set("fetched", std::move(fetched));
      context.out << out.Dump() << "\n";
    }
    return kExitOk;
  }
  const bool all = names.empty();
  if (all) {
    for (const DatasetSpec& spec : Specs()) names.push_back(spec.name);
  }
  int failures = 0;
  base::Json results = base::Json::MakeArray();
  auto record = [&](const std::string& name, const std::string& status,
                    const std::string& error) {
    base::Json item = base::Json::MakeObject();
    item.Set("name", base::Json::String(name));
    item.Set("status", base::Json::String(status));
    if (!error.empty()) item.Set("error", base::Json::String(error));
    results.Push(std::move(item));
    if (json) return;
    context.out << name << ": "
                << (status == "failed" ? "FAILED: " + error : status) << "\n";
  };
  for (const std::string& name : names) {
    const DatasetSpec& spec = *FindSpec(name);
    const fs::path dir = fs::path(data_dir) / "datasets" / name;
    if (!fs::exists(dir)) {
      record(name, "not fetched", "");
      if (!all) ++failures;
      continue;
    }
    std::map<std::string, std::string> spec_pins = spec.pins;
    for (const auto& [key, sha] : pins) {
      if (absl::StartsWith(key, name + "/"))
        spec_pins[key.substr(name.size() + 1)] = sha;
    }
    absl::Status status = CheckPins(dir, spec_pins, name);
    if (status.ok()) {
      record(name, "ok", "");
    } else {
      record(name, "failed", std::string(status.message()));
      ++failures;
    }
  }
  if (json) {
    base::Json out = base::Json::MakeObject();
    out.Set("datasets", std::move(results));
    context.out << out.Dump() << "\n";
  }
  return failures == 0 ? kExitOk : kExitRunFailed;
}

const bool kRegistered = RegisterCommand({
    .name = "datasets",
    .summary = "download datasets from their public URLs and check their "
               "pinned sha256s",
    .example = "evalctl datasets fetch mmlu gsm8k ifeval punkt",
    .setup = [](CLI::App& command) -> CommandFn {
      auto flags = std::make_shared<DatasetsFlags>();
      command.require_subcommand(1);
      const std::string names = "mmlu|gsm8k|ifeval|punkt";
      const std::string pin_help =
          "expect this sha256 for a file instead of the built-in pin (a mirror "
          "of another "
          "revision); FILE is SHA256SUMS for mmlu and punkt";
      flags->fetch =
          command.add_subcommand("fetch",
                                 "download datasets, check their sha256s and "
                                 "store them in DATA_DIR/datasets");
      flags->fetch->add_option("NAME", flags->fetch_names, "the datasets")
          ->type_name(names)
          ->required();
      flags->fetch
          ->add_option("--url-base", flags->url_base,
                       "read <URL>/<name>/<file> instead of the original URLs")
          ->type_name("URL");
      AddRepeated(*flags->fetch, "--pin", &flags->pins, pin_help)
          ->type_name("NAME/FILE=SHA256");
      SetExamples(*flags->fetch,
                  {"evalctl datasets fetch gsm8k --data-dir ~/.evald"});
      flags->verify = command.add_subcommand(
          "verify", "hash the stored datasets again and compare with the pins");
      flags->verify
          ->add_option("NAME", flags->verify_names,
                       "the datasets (default: all fetched)")
          ->type_name(names);
      AddRepeated(*flags->verify, "--pin", &flags->pins, pin_help)
          ->type_name("NAME/FILE=SHA256");
      SetExamples(*flags->verify, {"evalctl datasets verify"});
      return [flags](CommandContext& context) {
        return DatasetsCommand(context, *flags);
      };
    },
});

}  // namespace
}  // namespace evald::daemon::cli
