// File: daemon/status_convert.h
// -----------------------------------------------------------------------------
// The one place that maps absl::Status to grpc::Status and back; codes map
// one to one and messages pass through unchanged.
#ifndef EVALD_DAEMON_STATUS_CONVERT_H_
#define EVALD_DAEMON_STATUS_CONVERT_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace evald::daemon {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace evald::daemon

#endif  // EVALD_DAEMON_STATUS_CONVERT_H_
