// File: base/status_macros.h
// -----------------------------------------------------------------------------
// RETURN_IF_ERROR and ASSIGN_OR_RETURN for absl::Status / absl::StatusOr, in
// standard C++ (no statement expressions). This is the only home of these
// macros in evald.
#ifndef EVALD_BASE_STATUS_MACROS_H_
#define EVALD_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define EVALD_STATUS_CONCAT_INNER_(a, b) a##b
#define EVALD_STATUS_CONCAT_(a, b) EVALD_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function when it is not OK.
#define RETURN_IF_ERROR(expr)                           \
  do {                                                  \
    ::absl::Status evald_status_macro_status_ = (expr); \
    if (!evald_status_macro_status_.ok()) {             \
      return evald_status_macro_status_;                \
    }                                                   \
  } while (false)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on
// error returns its status, otherwise moves the value into `lhs`, which may be
// a declaration (`auto x`) or an existing lvalue.
#define ASSIGN_OR_RETURN(lhs, expr) \
  EVALD_ASSIGN_OR_RETURN_IMPL_(     \
      EVALD_STATUS_CONCAT_(evald_statusor_, __LINE__), lhs, expr)

#define EVALD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) {                                   \
    return std::move(statusor).status();                  \
  }                                                       \
  lhs = std::move(statusor).value()

#endif  // EVALD_BASE_STATUS_MACROS_H_
