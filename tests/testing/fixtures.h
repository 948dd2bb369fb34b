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

}  // namespace evald::testing

#endif  // EVALD_TESTS_TESTING_FIXTURES_H_
