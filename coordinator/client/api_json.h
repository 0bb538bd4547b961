// JSON for scripts (`--json` of ssd status, jobs, workers, watch, and ssd
// local's report.json): the protobuf JSON mapping with field names as in
// proto/ and every field printed, except that enum values are their short
// names, the ones the tables print ("SUCCEEDED", not "JOB_STATE_SUCCEEDED";
// "TRAINER", "LEASE_KIND" → "TRAIN"). The short name is the value's name
// without the prefix that all values of its enum share. A value this build
// does not know stays a number, as the mapping prints it.
#ifndef SSD_COORDINATOR_CLIENT_API_JSON_H_
#define SSD_COORDINATOR_CLIENT_API_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace ssd {

// One line of JSON.
std::string ToJson(const google::protobuf::Message& message);

// "JOB_STATE_SUCCEEDED" → "SUCCEEDED": `value`'s name without the prefix
// (up to and including an underscore) common to every value of its enum.
absl::string_view ShortEnumName(const google::protobuf::EnumValueDescriptor& value);

}  // namespace ssd

#endif  // SSD_COORDINATOR_CLIENT_API_JSON_H_
