#include "tests/testing/fixtures.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "tests/testing/temp_dir.h"

namespace evald::testing {
namespace {

std::string Gsm8kLine(int a, int b) {
  return absl::StrCat(
      R"({"question": "Sam has )", a, " apples and buys ", b,
      R"( more. How many apples does Sam have now?", "answer": "Sam has )", a,
      " + ", b, " = <<", a, "+", b, "=", a + b, ">>", a + b,
      R"( apples.\n#### )", a + b, "\"}\n");
}

}  // namespace

void WriteGsm8kFixture(const std::string& dir, int docs) {
  std::string test, train;
  for (int i = 0; i < docs; ++i) test += Gsm8kLine(i + 3, 2 * i + 1);
  for (int i = 0; i < 8; ++i) train += Gsm8kLine(i + 10, i + 2);
  WriteTestFile(dir + "/test.jsonl", test);
  WriteTestFile(dir + "/train.jsonl", train);
}

void WriteMmluFixture(const std::string& dir, int docs) {
  std::string test, dev;
  for (int i = 0; i < docs; ++i) {
    test += absl::StrCat("What is ", i, " plus ", i + 1, "?,", 2 * i, ",",
                         2 * i + 1, ",", 2 * i + 2, ",", 2 * i + 3, ",",
                         std::string(1, "ABCD"[i % 4]), "\n");
  }
  for (int i = 0; i < 5; ++i) {
    dev += absl::StrCat("What is ", i, " times 2?,", 2 * i, ",", i, ",", i + 2,
                        ",1,A\n");
  }
  WriteTestFile(dir + "/test/high_school_mathematics_test.csv", test);
  WriteTestFile(dir + "/dev/high_school_mathematics_dev.csv", dev);
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace evald::testing
