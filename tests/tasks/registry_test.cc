// File: tests/tasks/registry_test.cc
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tasks/task.h"
#include "tests/testing/status_matchers.h"

namespace evald::tasks {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

TEST(RegistryTest, BuiltInTasksSelfRegister) {
  const std::vector<std::string> names = RegisteredTasks();
  EXPECT_THAT(names, Contains("mmlu"));
  EXPECT_THAT(names, Contains("gsm8k"));
  EXPECT_THAT(names, Contains("gsm8k_cot"));
  EXPECT_THAT(names, Contains("gsm8k_cot_llama"));
}

TEST(RegistryTest, UnknownTaskListsKnownOnes) {
  auto task = CreateTask("mmlu_pro", TaskOptions());
  EXPECT_THAT(
      task, evald::testing::StatusIs(absl::StatusCode::kNotFound,
                                     ::testing::AllOf(HasSubstr("mmlu_pro"),
                                                      HasSubstr("gsm8k_cot"))));
}

TEST(RegistryTest, RegisterReplacesAndCreates) {
  RegisterTask(
      "test_only_task",
      [](const TaskOptions& options) -> absl::StatusOr<std::unique_ptr<Task>> {
        return absl::InvalidArgumentError("made by the test factory: " +
                                          options.data_path);
      });
  TaskOptions options;
  options.data_path = "/x";
  EXPECT_THAT(CreateTask("test_only_task", options),
              evald::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("test factory: /x")));
}

}  // namespace
}  // namespace evald::tasks
