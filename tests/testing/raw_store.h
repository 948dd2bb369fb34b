// File: tests/testing/raw_store.h
// -----------------------------------------------------------------------------
// Damage for the store's tests: writes bytes straight into an evald store's
// RocksDB database, past every rule of store::Store, as a bad disk or an
// older evald would have left them.
#ifndef EVALD_TESTS_TESTING_RAW_STORE_H_
#define EVALD_TESTS_TESTING_RAW_STORE_H_

#include <string>

namespace evald::testing {

// Puts `value` at `key` of column family `cf` ("runs", "samples", "meta",
// ...) of the store at `path`, which no process may hold open. Fails the
// current test when the database cannot be opened.
void WriteRawRecord(const std::string& path, const std::string& cf,
                    const std::string& key, const std::string& value);

}  // namespace evald::testing

#endif  // EVALD_TESTS_TESTING_RAW_STORE_H_
