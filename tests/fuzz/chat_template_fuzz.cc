// A chat template of arbitrary source, parsed and rendered over a fixed
// conversation. Properties: parsing and rendering end (the interpreter's
// bounds, jinja/interpreter.h), and an accepted render stays within the
// output bound.
#include <string>

#include "absl/strings/string_view.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/jinja/interpreter.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using Json = nlohmann::ordered_json;
  static const Json* const kMessages = new Json(Json::parse(R"([
    {"role": "system", "content": "You are a coder."},
    {"role": "user", "content": "Write f(n) returning n squared."},
    {"role": "assistant", "content": "def f(n):\n    return n * n", "reasoning_content": "easy"},
    {"role": "user", "content": "Now in one line \u00e9\u4e2d"}])"));
  auto t = ssd::ChatTemplate::FromSource(std::string(reinterpret_cast<const char*>(data), size),
                                         Json{{"eos_token", "<|im_end|>"}, {"bos_token", "<s>"}}, "fuzz.jinja");
  if (!t.ok()) return 0;
  for (bool gen : {false, true}) {
    ssd::ChatOptions o;
    o.add_generation_prompt = gen;
    o.extra["enable_thinking"] = gen;
    auto out = (*t)->Render(*kMessages, o);
    if (out.ok()) SSD_FUZZ_CHECK(out->size() <= ssd::jinja::kMaxTemplateOutputBytes);
  }
  return 0;
}
