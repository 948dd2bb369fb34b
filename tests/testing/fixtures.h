// File: tests/testing/fixtures.h
// -----------------------------------------------------------------------------
// Small datasets the end-to-end tests write for themselves, in the layouts
// the built-in tasks read.
#ifndef EVALD_TESTS_TESTING_FIXTURES_H_
#define EVALD_TESTS_TESTING_FIXTURES_H_

#include <string>

namespace evald::testing {

// Writes <dir>/test.jsonl with `docs` GSM8K-shaped problems ("Sam has a
// apples and buys b more...", answer "#### a+b") and <dir>/train.jsonl with 8
// more for the few-shot examples. The same arguments give the same bytes.
void WriteGsm8kFixture(const std::string& dir, int docs);

// Writes an MMLU-shaped subject, high_school_mathematics: `docs` questions
// ("What is i plus i+1?") in <dir>/test/ and 5 few-shot ones in <dir>/dev/.
// The same arguments give the same bytes.
void WriteMmluFixture(const std::string& dir, int docs);

// A loopback TCP port nobody listens on now (the kernel's pick, released
// again); 0 when none could be had.
int FreeLoopbackPort();

}  // namespace evald::testing

#endif  // EVALD_TESTS_TESTING_FIXTURES_H_
