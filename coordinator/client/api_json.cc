#include "coordinator/client/api_json.h"

#include <google/protobuf/util/json_util.h>

#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using Json = nlohmann::ordered_json;
using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;

size_t CommonPrefixLength(const EnumDescriptor& e) {
  if (e.value_count() < 2) return 0;
  const std::string& first = e.value(0)->name();
  size_t n = first.size();
  for (int i = 1; i < e.value_count(); ++i) {
    const std::string& name = e.value(i)->name();
    size_t k = 0;
    while (k < n && k < name.size() && name[k] == first[k]) ++k;
    n = k;
  }
  // Back to the last underscore, so JOB_STATE_S{UCCEEDED,AMPLING} share
  // "JOB_STATE_", never "JOB_STATE_S".
  while (n > 0 && first[n - 1] != '_') --n;
  return n;
}

void ShortenEnum(const EnumDescriptor& e, Json& value) {
  if (!value.is_string()) return;  // an unknown value, printed as a number
  const google::protobuf::EnumValueDescriptor* v = e.FindValueByName(value.get<std::string>());
  if (v != nullptr) value = std::string(ShortEnumName(*v));
}

void ShortenMessage(const Descriptor& d, Json& object);

// One value of `field` (an element, for a repeated field).
void ShortenValue(const FieldDescriptor& field, Json& value) {
  if (field.type() == FieldDescriptor::TYPE_ENUM) {
    ShortenEnum(*field.enum_type(), value);
  } else if (field.type() == FieldDescriptor::TYPE_MESSAGE && value.is_object()) {
    ShortenMessage(*field.message_type(), value);
  }
}

void ShortenMessage(const Descriptor& d, Json& object) {
  // Well-known types (Timestamp, Struct, ...) have their own JSON forms.
  if (d.file()->package() == "google.protobuf") return;
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor& field = *d.field(i);
    auto it = object.find(field.name());
    if (it == object.end()) continue;
    if (field.is_map()) {
      if (!it->is_object()) continue;
      const FieldDescriptor& value_field = *field.message_type()->map_value();
      for (auto& [key, value] : it->items()) ShortenValue(value_field, value);
    } else if (field.is_repeated()) {
      if (!it->is_array()) continue;
      for (Json& value : *it) ShortenValue(field, value);
    } else {
      ShortenValue(field, *it);
    }
  }
}

}  // namespace

absl::string_view ShortEnumName(const google::protobuf::EnumValueDescriptor& value) {
  absl::string_view name = value.name();
  name.remove_prefix(CommonPrefixLength(*value.type()));
  return name;
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(message, &out, o).ok()) return "{}";
  Json json = Json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return out;
  ShortenMessage(*message.GetDescriptor(), json);
  return json.dump();
}

}  // namespace ssd
