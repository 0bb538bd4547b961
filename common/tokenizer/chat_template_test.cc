#include "common/tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include "common/tokenizer/jinja/interpreter.h"

namespace ssd {
namespace {

using Json = nlohmann::ordered_json;

std::string RenderOrDie(const std::string& src, const Json& messages, const ChatOptions& opts = {},
                        Json special = Json::object()) {
  auto t = ChatTemplate::FromSource(src, special, "t");
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return "";
  auto out = (*t)->Render(messages, opts);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : "";
}

const Json kConversation = Json::parse(R"([{"role":"system","content":"Be brief."},
  {"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}])");

TEST(ChatTemplateTest, LoopsConditionalsAndLoopVariables) {
  const std::string src =
      "{% for m in messages %}{{ loop.index0 }}/{{ loop.length }}:{{ m.role }}"
      "{% if loop.first %}F{% elif loop.last %}L{% else %}M{% endif %};{% endfor %}";
  EXPECT_EQ(RenderOrDie(src, kConversation), "0/3:systemF;1/3:userM;2/3:assistantL;");
}

TEST(ChatTemplateTest, WhitespaceControlTrimBlocksAndLstripBlocks) {
  const std::string src = "A\n  {% if true %}\n  B\n  {%- endif %}\nC {{- ' D ' -}} E";
  // lstrip_blocks drops "  " before {% if %}, trim_blocks the newline after
  // it; "{%-" eats "\n  " before endif, trim_blocks the newline after it;
  // "{{-"/"-}}" eat the spaces around the output.
  EXPECT_EQ(RenderOrDie(src, Json::array()), "A\n  BC D E");
}

TEST(ChatTemplateTest, NamespaceSetAndReverseSlice) {
  const std::string src =
      "{% set ns = namespace(last=-1) %}{% for m in messages[::-1] %}"
      "{% if ns.last < 0 and m.role == 'user' %}{% set ns.last = (messages|length - 1) - loop.index0 %}{% endif %}"
      "{% endfor %}{{ ns.last }}";
  EXPECT_EQ(RenderOrDie(src, kConversation), "1");
}

TEST(ChatTemplateTest, StringMethodsFiltersAndTests) {
  const std::string src =
      "{{ '  x  '|trim }}|{{ 'a</think>b'.split('</think>')[-1] }}|{{ '\\n\\nq'.lstrip('\\n') }}|"
      "{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith('x') }}|{{ 'a-b'.replace('-', '+') }}|"
      "{{ messages|length }}|{{ undefined_var is defined }}|{{ none is none }}|{{ [1, 2]|tojson }}|"
      "{{ {'k': 'v'}|tojson }}|{{ 'x' in 'xyz' }}|{{ 3 // 2 }}|{{ 'a' ~ 1 }}|{{ 1 if false else 2 }}";
  EXPECT_EQ(RenderOrDie(src, kConversation), "x|b|q|True|False|a+b|3|False|True|[1, 2]|{\"k\": \"v\"}|True|1|a1|2");
}

TEST(ChatTemplateTest, ExtraVariablesAndSpecialTokens) {
  const std::string src =
      "{{ bos_token }}{% if enable_thinking is defined and enable_thinking is false %}NT{% endif %}";
  ChatOptions opts;
  opts.extra["enable_thinking"] = false;
  EXPECT_EQ(RenderOrDie(src, Json::array(), opts, Json{{"bos_token", "<s>"}}), "<s>NT");
}

void ExpectParseError(const std::string& src, const std::string& needle) {
  auto t = ChatTemplate::FromSource(src, Json::object(), "tpl");
  ASSERT_FALSE(t.ok()) << "accepted: " << src;
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status();
}

TEST(ChatTemplateTest, SyntaxErrorsNameLineAndColumn) {
  ExpectParseError("ok\n{% if x %}never closed", "endif");
  ExpectParseError("{{ 'unterminated }}", "line 1");
  ExpectParseError("a\n\n  {{ x + }}", "line 3, column");
  ExpectParseError("{% macro m() %}{% endmacro %}", "macro");
  ExpectParseError("{{ x ]] }}", "line 1");
  ExpectParseError("{% for in x %}{% endfor %}", "for loop");
}

TEST(ChatTemplateTest, RuntimeErrorsAreStatusesNotCrashes) {
  auto t = ChatTemplate::FromSource("{{ raise_exception('no system role') }}", Json::object(), "tpl");
  ASSERT_TRUE(t.ok());
  auto out = (*t)->Render(Json::array(), {});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("no system role"), std::string::npos);
  auto bad = ChatTemplate::FromSource("{{ 1 + 'a' }}", Json::object(), "tpl");
  ASSERT_TRUE(bad.ok());
  auto r = (*bad)->Render(Json::array(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unsupported operand"), std::string::npos) << r.status();
  EXPECT_FALSE((*bad)->Render(Json::parse(R"([{"content":"no role"}])"), {}).ok());
}

// Renders `src` expecting a failure whose message holds `want`.
void ExpectRenderFails(const std::string& src, const std::string& want) {
  auto t = ChatTemplate::FromSource(src, Json::object(), "tpl");
  std::string message;
  if (!t.ok()) {
    message = std::string(t.status().message());
  } else {
    auto out = (*t)->Render(Json::array(), {});
    ASSERT_FALSE(out.ok()) << src.substr(0, 80) << " rendered " << out->size() << " bytes";
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    message = std::string(out.status().message());
  }
  EXPECT_NE(message.find(want), std::string::npos) << message;
}

TEST(ChatTemplateTest, HostileTemplatesHitTheirBoundsInsteadOfHangingOrExhaustingMemory) {
  // Work: nested loops of 1000^3 iterations.
  ExpectRenderFails(
      "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
      "{% endfor %}{% endfor %}{% endfor %}",
      "units of work");
  // A string that doubles 40 times.
  ExpectRenderFails(
      "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
      "{% endfor %}{{ ns.s | length }}",
      "bytes; the limit is 16777216");
  // A list that doubles.
  ExpectRenderFails(
      "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
      "{% endfor %}",
      "items; the limit is 1000000");
  ExpectRenderFails("{% for i in range(2000000) %}{% endfor %}", "range of 2000000 items");
  // Output: 64 KiB of text written 1000 times.
  ExpectRenderFails("{% for i in range(1000) %}" + std::string(65536, 'a') + "{% endfor %}",
                    "the output passed 16777216 bytes");
  // Output exactly at the limit renders; one byte more does not.
  const std::string at_limit = "{% for i in range(256) %}" + std::string(65536, 'a') + "{% endfor %}";
  EXPECT_EQ(RenderOrDie(at_limit, Json::array()).size(), jinja::kMaxTemplateOutputBytes);
  ExpectRenderFails(at_limit + "b", "the output passed 16777216 bytes");
  // Nesting.
  ExpectRenderFails("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}", "nest more than 100");
  ExpectRenderFails(
      "{{ " +
          [] {
            std::string s;
            for (int i = 0; i < 5000; ++i) s += "not ";
            return s;
          }() +
          "1 }}",
      "nest more than 100");
  ExpectRenderFails("{{ " + std::string(5000, '-') + "1 }}", "nest more than 100");
  std::string ifs;
  for (int i = 0; i < 500; ++i) ifs += "{% if true %}";
  for (int i = 0; i < 500; ++i) ifs += "{% endif %}";
  ExpectRenderFails(ifs, "blocks nest more than 100");
  // Integer overflow is an error, not undefined behaviour.
  ExpectRenderFails("{{ 9223372036854775807 + 1 }}", "integer overflow");
  ExpectRenderFails("{{ 4611686018427387904 * 4 }}", "integer overflow");
  ExpectRenderFails("{{ (-9223372036854775807 - 1) // -1 }}", "integer overflow");
  // Literals too large for their type (found by tests/fuzz: std::stoll threw).
  ExpectRenderFails("{{ 99999999999999999999 }}", "integer literal 99999999999999999999 is out of range");
  ExpectRenderFails("{{ 1" + std::string(400, '0') + ".5 }}", "is out of range");
  // What real templates do stays well inside the bounds.
  EXPECT_EQ(RenderOrDie("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}ok", Json::array()),
            "ok");
  EXPECT_EQ(RenderOrDie("{{ (-9223372036854775807 - 1) % -1 }}", Json::array()), "0");
}

}  // namespace
}  // namespace ssd
