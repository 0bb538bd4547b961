#include "common/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"

namespace ssd {

struct Regex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  std::string pattern;
};

Regex::~Regex() {
  if (impl_ && impl_->code) pcre2_code_free(impl_->code);
}

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(const std::string& pattern, bool literal) {
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  uint32_t flags = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), flags, &err, &err_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    return absl::InvalidArgumentError(absl::StrCat("regex \"", pattern, "\" does not compile at offset ", err_offset,
                                                   ": ", reinterpret_cast<char*>(msg)));
  }
  std::unique_ptr<Regex> r(new Regex());
  r->impl_ = std::make_unique<Impl>();
  r->impl_->code = code;
  r->impl_->pattern = pattern;
  r->impl_->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return r;
}

absl::Status Regex::FindAll(absl::string_view text, std::vector<std::pair<size_t, size_t>>* out) const {
  out->clear();
  // JIT matching needs a larger stack than the 32 KiB default for long runs
  // of whitespace; one per thread, reused.
  thread_local pcre2_jit_stack* jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  thread_local pcre2_match_context* context = [] {
    pcre2_match_context* c = pcre2_match_context_create(nullptr);
    pcre2_jit_stack_assign(c, nullptr, jit_stack);
    return c;
  }();
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  absl::Status status;
  while (pos <= text.size()) {
    int rc = impl_->jit ? pcre2_jit_match(impl_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, context)
                        : pcre2_match(impl_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      status = absl::ResourceExhaustedError(
          absl::StrCat("regex \"", impl_->pattern, "\" failed at byte ", pos, ": ", reinterpret_cast<char*>(msg)));
      break;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t begin = ov[0], end = ov[1];
    if (end == begin) {
      // An empty match: step over one code point to make progress.
      if (begin >= text.size()) break;
      size_t next = begin + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      pos = next;
      continue;
    }
    out->emplace_back(begin, end);
    pos = end;
  }
  pcre2_match_data_free(md);
  return status;
}

}  // namespace ssd
