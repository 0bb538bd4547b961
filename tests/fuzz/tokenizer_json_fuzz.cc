// tokenizer.json of arbitrary bytes. Properties: an accepted tokenizer
// encodes valid UTF-8 to ids inside its vocabulary (or refuses with an
// error), decodes those ids, and refuses invalid UTF-8 instead of
// tokenizing it.
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/utf8.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tok =
      ssd::Tokenizer::FromJson(absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz/tokenizer.json");
  if (!tok.ok()) return 0;
  const ssd::Tokenizer& t = **tok;
  SSD_FUZZ_CHECK(t.vocab_size() >= 0);
  static const char* const kTexts[] = {"def f(x):\n    return x * 2  # ok\n", "Hello, world! 'll 're 123",
                                       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\t\r\n", "<|im_start|>user\n"};
  for (const char* text : kTexts) {
    for (bool special : {false, true}) {
      ssd::EncodeOptions options;
      options.allow_special = special;
      auto ids = t.Encode(text, options);
      if (!ids.ok()) continue;
      for (int32_t id : *ids) SSD_FUZZ_CHECK(id >= 0 && id < t.vocab_size());
      auto decoded = t.Decode(*ids);
      SSD_FUZZ_CHECK(decoded.ok());
      SSD_FUZZ_CHECK(ssd::FindInvalidUtf8(*decoded) == ssd::kValidUtf8);
    }
  }
  SSD_FUZZ_CHECK(!t.Encode("ab\xff\xfe").ok());
  return 0;
}
