// evald-hash-bench: how fast a checkpoint is fingerprinted on first sight.
//
//   evald-hash-bench [--path DIR | --out DIR --shards N --shard-mb MB]
//   [--repeat N]
//                    [--buffer-kib N] [--drop-caches] [--keep]
//
// Without --path it writes a checkpoint-shaped folder of random shards
// (default 4 x 1024 MiB, model-0000i-of-0000N.safetensors + config.json) and
// removes it afterwards unless --keep. It then times, on the same files:
//   - sha256sum (coreutils) on the files one after another: the baseline;
//   - the scalar SHA-256 evald used before (bench/scalar_sha256), one file
//     after another as FingerprintModel did: "before";
//   - FingerprintModel with no hash cache, on one thread (OpenSSL alone) and
//     on its default pool: "after";
//   - FingerprintModel again with a warm FileHashCache (stat only);
// first with the files in the page cache (each read once beforehand), then,
// with --drop-caches and permission to write /proc/sys/vm/drop_caches, with
// the caches dropped before each measurement. Every digest is checked
// against sha256sum's. Last, 80-byte messages (the KV cache's block hashes)
// through the former scalar class and base::Sha256.
//
// Each figure is the best of --repeat runs (default 1): other work on a
// shared machine only ever makes a run slower.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/sha256.h"
#include "bench/scalar_sha256.h"
#include "daemon/fingerprint.h"

namespace {

namespace fs = std::filesystem;
using evald::base::FileIdentity;

constexpr char kUsage[] =
    "usage: evald-hash-bench [--path DIR | --out DIR --shards N --shard-mb MB] "
    "[--repeat N]\n"
    "                        [--buffer-kib N] [--drop-caches] [--keep]\n";

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// Writes `bytes` of splitmix64 output to `path`.
bool WriteRandomFile(const std::string& path, uint64_t bytes, uint64_t seed) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::vector<uint64_t> buf((8u << 20) / sizeof(uint64_t));
  uint64_t x = seed;
  for (uint64_t written = 0; written < bytes;) {
    for (uint64_t& v : buf) {
      uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      v = z ^ (z >> 31);
    }
    const uint64_t n =
        std::min<uint64_t>(bytes - written, buf.size() * sizeof(uint64_t));
    out.write(reinterpret_cast<const char*>(buf.data()),
              static_cast<std::streamsize>(n));
    written += n;
  }
  return static_cast<bool>(out);
}

// Answers every lookup without reading, so FingerprintModel lists exactly the
// files it would hash (names and sizes) and nothing is read.
class ListOnlyCache : public evald::daemon::FileHashCache {
 public:
  std::optional<std::string> Lookup(const std::string&,
                                    const FileIdentity&) override {
    return std::string(64, '0');
  }
  void Remember(const std::string&, const FileIdentity&,
                const std::string&) override {}
};

// A plain in-memory cache, as the daemon's store-backed one behaves.
class MemoryCache : public evald::daemon::FileHashCache {
 public:
  std::optional<std::string> Lookup(const std::string& path,
                                    const FileIdentity& id) override {
    auto it = entries_.find(path);
    if (it == entries_.end() || it->second.first.size != id.size ||
        it->second.first.mtime_ns != id.mtime_ns ||
        it->second.first.inode != id.inode ||
        it->second.first.device != id.device) {
      return std::nullopt;
    }
    return it->second.second;
  }
  void Remember(const std::string& path, const FileIdentity& id,
                const std::string& sha) override {
    entries_[path] = {id, sha};
  }

 private:
  std::map<std::string, std::pair<FileIdentity, std::string>> entries_;
};

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// sha256sum's digest of `path`, or "" on failure.
std::string CoreutilsSha256(const std::string& path) {
  FILE* p = popen(absl::StrCat("sha256sum -- ", ShellQuote(path)).c_str(), "r");
  if (p == nullptr) return "";
  char buf[65] = {0};
  const size_t n = std::fread(buf, 1, 64, p);
  const int rc = pclose(p);
  return n == 64 && rc == 0 ? std::string(buf, 64) : std::string();
}

std::string CoreutilsVersion() {
  FILE* p = popen("sha256sum --version 2>/dev/null", "r");
  if (p == nullptr) return "?";
  char line[256] = {0};
  std::string out = std::fgets(line, sizeof(line), p) != nullptr ? line : "?";
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
    out.pop_back();
  return out;
}

// Reads every file once so the warm measurements find them in the page cache.
void ReadAll(const std::vector<std::string>& paths) {
  std::vector<char> buf(8 << 20);
  for (const std::string& path : paths) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    while (::read(fd, buf.data(), buf.size()) > 0) {
    }
    ::close(fd);
  }
}

// Empties the page cache; "" on success, else why not.
std::string DropCaches() {
  ::sync();
  FILE* f = std::fopen("/proc/sys/vm/drop_caches", "w");
  if (f == nullptr)
    return absl::StrCat("cannot open /proc/sys/vm/drop_caches: ",
                        std::strerror(errno));
  const bool ok = std::fputs("3\n", f) >= 0;
  const bool closed = std::fclose(f) == 0;
  return ok && closed
             ? ""
             : absl::StrCat("writing /proc/sys/vm/drop_caches failed: ",
                            std::strerror(errno));
}

struct Row {
  std::string name;
  double seconds = 0;
};

void PrintRows(const std::vector<Row>& rows, uint64_t bytes, double baseline_s,
               double before_s) {
  std::printf("  %-44s %9s %8s %13s %11s\n", "", "seconds", "GB/s",
              "vs sha256sum", "vs before");
  for (const Row& r : rows) {
    std::printf("  %-44s %9.3f %8.3f %12.2fx %10.2fx\n", r.name.c_str(),
                r.seconds, bytes * 1e-9 / r.seconds, baseline_s / r.seconds,
                before_s / r.seconds);
  }
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "evald-hash-bench: %s\n%s", message.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  std::string out_dir;
  int shards = 4;
  int shard_mb = 1024;
  int repeat = 1;
  int buffer_kib = 0;
  bool drop_caches = false;
  bool keep = false;
  std::setvbuf(stdout, nullptr, _IOLBF,
               0);  // in order with the log lines on stderr
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--drop-caches") {
      drop_caches = true;
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (i + 1 < argc && a == "--path") {
      path = argv[++i];
    } else if (i + 1 < argc && a == "--out") {
      out_dir = argv[++i];
    } else if (i + 1 < argc && a == "--shards") {
      if (!absl::SimpleAtoi(argv[++i], &shards) || shards <= 0)
        return Fail("--shards: want N > 0");
    } else if (i + 1 < argc && a == "--repeat") {
      if (!absl::SimpleAtoi(argv[++i], &repeat) || repeat <= 0)
        return Fail("--repeat: want N > 0");
    } else if (i + 1 < argc && a == "--buffer-kib") {
      if (!absl::SimpleAtoi(argv[++i], &buffer_kib) || buffer_kib <= 0) {
        return Fail("--buffer-kib: want N > 0");
      }
    } else if (i + 1 < argc && a == "--shard-mb") {
      if (!absl::SimpleAtoi(argv[++i], &shard_mb) || shard_mb <= 0) {
        return Fail("--shard-mb: want MB > 0");
      }
    } else {
      return Fail(absl::StrCat("unknown flag or missing value: ", a));
    }
  }

  bool remove_after = false;
  if (path.empty()) {
    if (out_dir.empty()) {
      char tmpl[] = "/tmp/evald-hash-bench-XXXXXX";
      if (mkdtemp(tmpl) == nullptr)
        return Fail("cannot create a folder under /tmp");
      out_dir = tmpl;
    }
    path = out_dir;
    remove_after = !keep;
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) return Fail(absl::StrCat(path, ": ", ec.message()));
    std::printf("writing %d x %d MiB random shards to %s ...\n", shards,
                shard_mb, path.c_str());
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    for (int s = 0; s < shards; ++s) {
      const std::string name = absl::StrFormat(
          "%s/model-%05d-of-%05d.safetensors", path, s + 1, shards);
      if (!WriteRandomFile(name, uint64_t(shard_mb) << 20, 0x5eed0000ULL + s)) {
        return Fail(absl::StrCat(name, ": write failed"));
      }
    }
    std::ofstream(path + "/config.json")
        << R"({"architectures":["LlamaForCausalLM"]})"
        << "\n";
    std::printf("  written in %.1f s\n", Seconds(start));
  }
  auto cleanup = [&] {
    if (remove_after) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };

  evald::v1::ModelSpec spec;
  spec.set_path(path);
  spec.set_dtype("auto");
  ListOnlyCache list_only;
  auto listed = evald::daemon::FingerprintModel("candidate", spec, &list_only);
  if (!listed.ok()) {
    cleanup();
    return Fail(std::string(listed.status().message()));
  }
  std::vector<std::string> paths;
  uint64_t bytes = 0;
  for (const evald::v1::FileHash& f : listed->files()) {
    paths.push_back(absl::StrCat(path, "/", f.name()));
    bytes += f.size();
  }
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("evald-hash-bench: %zu files, %.2f GB in %s\n", paths.size(),
              bytes * 1e-9, path.c_str());
  std::printf(
      "  %u hardware threads; load average %.2f %.2f %.2f at the start; "
      "baseline: %s\n",
      std::thread::hardware_concurrency(), load[0], load[1], load[2],
      CoreutilsVersion().c_str());

  // Every implementation must give sha256sum's digests.
  std::vector<std::string> expected(paths.size());
  bool mismatch = false;
  auto check = [&](const std::string& who, size_t i, const std::string& sha) {
    if (sha != expected[i]) {
      std::fprintf(stderr, "evald-hash-bench: %s: %s gives %s, sha256sum %s\n",
                   paths[i].c_str(), who.c_str(), sha.c_str(),
                   expected[i].c_str());
      mismatch = true;
    }
  };
  auto check_fingerprint =
      [&](const std::string& who,
          const absl::StatusOr<evald::v1::ModelFingerprint>& fp) {
        if (!fp.ok()) {
          std::fprintf(stderr, "evald-hash-bench: %s: %s\n", who.c_str(),
                       std::string(fp.status().message()).c_str());
          mismatch = true;
          return;
        }
        for (int i = 0; i < fp->files_size(); ++i)
          check(who, static_cast<size_t>(i), fp->files(i).sha256());
      };

  evald::daemon::HashOptions pool;  // FingerprintModel's defaults
  if (buffer_kib > 0) pool.read_buffer_bytes = size_t(buffer_kib) << 10;
  evald::daemon::HashOptions one = pool;
  one.max_threads = 1;
  const int threads = std::min<int>(
      {static_cast<int>(paths.size()),
       std::max(1, static_cast<int>(std::thread::hardware_concurrency())), 8});
  const std::vector<std::pair<std::string, std::function<void()>>>
      measurements = {
          {"sha256sum, one file after another",
           [&] {
             for (size_t i = 0; i < paths.size(); ++i) {
               std::string sha = CoreutilsSha256(paths[i]);
               if (expected[i].empty()) expected[i] = sha;
               check("sha256sum", i, sha);
             }
           }},
          {"before: former scalar, one file after another",
           [&] {
             for (size_t i = 0; i < paths.size(); ++i) {
               auto sha = evald::bench::ScalarSha256File(paths[i]);
               check("former scalar SHA-256", i,
                     sha.ok() ? *sha : std::string(sha.status().message()));
             }
           }},
          {"FingerprintModel, OpenSSL, 1 thread",
           [&] {
             check_fingerprint("FingerprintModel (1 thread)",
                               evald::daemon::FingerprintModel(
                                   "candidate", spec, nullptr, one));
           }},
          {absl::StrCat("after: FingerprintModel, ", threads,
                        " threads, no cache"),
           [&] {
             check_fingerprint("FingerprintModel",
                               evald::daemon::FingerprintModel(
                                   "candidate", spec, nullptr, pool));
           }},
      };
  // Best of `repeat` for each, in rounds; `prepare` runs before each (untimed).
  auto run_all = [&](const std::function<void()>& prepare) {
    std::vector<Row> rows;
    for (const auto& m : measurements) rows.push_back({m.first, 1e300});
    for (int r = 0; r < repeat; ++r) {
      for (size_t k = 0; k < measurements.size(); ++k) {
        prepare();
        const auto start = std::chrono::steady_clock::now();
        measurements[k].second();
        rows[k].seconds = std::min(rows[k].seconds, Seconds(start));
      }
    }
    return rows;
  };

  ReadAll(paths);
  std::printf(
      "\npage cache warm (every file read once just before; %.2f GB), best of "
      "%d:\n",
      bytes * 1e-9, repeat);
  std::vector<Row> warm = run_all([] {});
  PrintRows(warm, bytes, warm[0].seconds, warm[1].seconds);

  MemoryCache cache;
  check_fingerprint("FingerprintModel (filling the cache)",
                    evald::daemon::FingerprintModel("candidate", spec, &cache));
  auto start = std::chrono::steady_clock::now();
  check_fingerprint("FingerprintModel (cached)",
                    evald::daemon::FingerprintModel("candidate", spec, &cache));
  std::printf("  %-44s %9.6f s (stat only)\n",
              "FingerprintModel again, FileHashCache warm", Seconds(start));

  if (drop_caches) {
    const std::string why_not = DropCaches();
    if (!why_not.empty()) {
      std::printf("\npage cache dropped: not measured (%s)\n", why_not.c_str());
    } else {
      std::printf(
          "\npage cache dropped before each measurement (echo 3 > "
          "/proc/sys/vm/drop_caches),"
          " best of %d:\n",
          repeat);
      std::vector<Row> cold = run_all([] { (void)DropCaches(); });
      PrintRows(cold, bytes, cold[0].seconds, cold[1].seconds);
    }
  } else {
    std::printf(
        "\npage cache dropped: not measured (pass --drop-caches; needs "
        "root)\n");
  }

  // The KV cache hashes one 16-token block (80 bytes) per block of every
  // prompt, so a per-message cost in OpenSSL would show here.
  constexpr int kMessages = 2'000'000;
  uint8_t msg[80];
  for (int i = 0; i < 80; ++i) msg[i] = static_cast<uint8_t>(i * 37);
  start = std::chrono::steady_clock::now();
  // Written so the compiler cannot drop the hashing.
  volatile uint8_t sink = 0;
  for (int i = 0; i < kMessages; ++i) {
    msg[0] = static_cast<uint8_t>(i);
    evald::bench::ScalarSha256 h;
    h.Update(msg, sizeof(msg));
    sink = static_cast<uint8_t>(sink ^ h.Digest()[0]);
  }
  const double scalar_s = Seconds(start);
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < kMessages; ++i) {
    msg[0] = static_cast<uint8_t>(i);
    evald::base::Sha256 h;
    h.Update(msg, sizeof(msg));
    sink = static_cast<uint8_t>(sink ^ h.Digest()[0]);
  }
  const double openssl_s = Seconds(start);
  std::printf(
      "\n80-byte messages (KV block hashes), %d each: former scalar %.2f M/s, "
      "base::Sha256 "
      "%.2f M/s (%.2fx)\n",
      kMessages, kMessages / scalar_s * 1e-6, kMessages / openssl_s * 1e-6,
      scalar_s / openssl_s);

  std::printf(
      "\nbefore -> after (page cache warm): %.3f -> %.3f GB/s, %.2fx; after vs "
      "sha256sum %.2fx\n",
      bytes * 1e-9 / warm[1].seconds, bytes * 1e-9 / warm[3].seconds,
      warm[1].seconds / warm[3].seconds, warm[0].seconds / warm[3].seconds);
  getloadavg(load, 3);
  std::printf("load average %.2f %.2f %.2f at the end\n", load[0], load[1],
              load[2]);
  cleanup();
  if (mismatch) {
    std::fprintf(stderr, "evald-hash-bench: digests differ (see above)\n");
    return 1;
  }
  return 0;
}
