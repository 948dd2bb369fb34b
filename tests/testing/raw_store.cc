#include "tests/testing/raw_store.h"

#include <gtest/gtest.h>

#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace evald::testing {

void WriteRawRecord(const std::string& path, const std::string& cf,
                    const std::string& key, const std::string& value) {
  std::vector<std::string> names;
  ASSERT_TRUE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok())
      << path;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& n : names)
    descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors, &handles, &db)
          .ok())
      << path;
  bool found = false;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != cf) continue;
    found = true;
    EXPECT_TRUE(db->Put(rocksdb::WriteOptions(), handles[i], key, value).ok());
  }
  EXPECT_TRUE(found) << "no column family " << cf << " in " << path;
  for (rocksdb::ColumnFamilyHandle* h : handles)
    db->DestroyColumnFamilyHandle(h);
  delete db;
}

}  // namespace evald::testing
