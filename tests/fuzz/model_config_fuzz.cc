// config.json of arbitrary bytes. Property: an accepted config describes a
// model whose shapes can be built (positive sizes, heads that divide).
#include <string>

#include "absl/strings/string_view.h"
#include "common/model/model_config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c = ssd::ParseModelConfig(absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
  if (!c.ok()) return 0;
  SSD_FUZZ_CHECK(c->hidden_size > 0 && c->num_hidden_layers > 0 && c->vocab_size > 0);
  SSD_FUZZ_CHECK(c->num_attention_heads > 0 && c->num_key_value_heads > 0);
  SSD_FUZZ_CHECK(c->num_attention_heads % c->num_key_value_heads == 0);
  SSD_FUZZ_CHECK(c->head_dim > 0 && c->intermediate_size > 0);
  SSD_FUZZ_CHECK(c->NumParameters() > 0);  // no overflow on the way (UBSan)
  return 0;
}
