// RETURN_IF_ERROR and ASSIGN_OR_RETURN, which abseil 20220623 does not ship.
//
//   RETURN_IF_ERROR(file.Sync());
//   ASSIGN_OR_RETURN(auto header, ParseHeader(bytes));
//   ASSIGN_OR_RETURN(header_, ParseHeader(bytes));
#ifndef SSD_COMMON_UTIL_STATUS_MACROS_H_
#define SSD_COMMON_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SSD_STATUS_CONCAT_INNER_(a, b) a##b
#define SSD_STATUS_CONCAT_(a, b) SSD_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status ssd_status_ = (expr);       \
    if (!ssd_status_.ok()) return ssd_status_; \
  } while (0)

#define SSD_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) SSD_ASSIGN_OR_RETURN_IMPL_(SSD_STATUS_CONCAT_(ssd_statusor_, __LINE__), lhs, expr)

#endif  // SSD_COMMON_UTIL_STATUS_MACROS_H_
