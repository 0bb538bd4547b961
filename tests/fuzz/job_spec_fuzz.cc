// A job-spec YAML of arbitrary bytes. Property: an accepted spec passes the
// validation a spec built in code must pass, and survives a round trip
// through its wire form unchanged.
#include <string>

#include "absl/strings/string_view.h"
#include "coordinator/job_spec.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ssd::JobSpecParseOptions o;
  o.base_dir = "/fuzz";
  auto spec = ssd::ParseJobSpecYaml(absl::string_view(reinterpret_cast<const char*>(data), size), o);
  if (!spec.ok()) return 0;
  SSD_FUZZ_CHECK(ssd::ValidateJobSpec(*spec).ok());
  ssd::v1::JobSpec again;
  SSD_FUZZ_CHECK(again.ParseFromString(spec->SerializeAsString()));
  SSD_FUZZ_CHECK(again.SerializeAsString() == spec->SerializeAsString());
  return 0;
}
