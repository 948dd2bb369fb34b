// File: tests/store/test_samples.h
// -----------------------------------------------------------------------------
// Deterministic store records for tests: the same arguments always give the
// same record, so a reader can rebuild what a writer (maybe another process)
// stored and compare field by field.
#ifndef EVALD_TESTS_STORE_TEST_SAMPLES_H_
#define EVALD_TESTS_STORE_TEST_SAMPLES_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "proto/store.pb.h"

namespace evald::store::testing {

inline evald::v1::SampleRecord MakeTestSample(const std::string& run_id,
                                              const std::string& task,
                                              int64_t doc_index) {
  evald::v1::SampleRecord s;
  s.set_run_id(run_id);
  s.set_task(task);
  s.set_doc_index(doc_index);
  s.set_doc_id(absl::StrCat(task, "-doc-", doc_index));
  s.set_prompt(absl::StrCat("Question ", doc_index, ": ",
                            std::string(200 + doc_index % 50, 'q')));
  s.set_target(absl::StrCat(doc_index % 4));
  s.add_responses(absl::StrCat("The answer is ", doc_index % 3));
  (*s.mutable_metrics())["acc"] = (doc_index % 3 == doc_index % 4) ? 1.0 : 0.0;
  s.set_extracted(absl::StrCat(doc_index % 3));
  s.set_prompt_tokens(100 + doc_index);
  s.set_cached_tokens(80);
  s.set_generated_tokens(doc_index % 17);
  s.set_wall_s(0.001 * static_cast<double>(doc_index));
  s.set_finished_unix_ms(1'700'000'000'000 + doc_index);
  return s;
}

}  // namespace evald::store::testing

#endif  // EVALD_TESTS_STORE_TEST_SAMPLES_H_
