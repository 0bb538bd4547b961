#include "common/tokenizer/ssd_prompts.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

TEST(SsdPromptsTest, StdinProblemsUseTheReferenceWording) {
  auto p = FormatSsdPrompt(DefaultSsdPrompts(), "Sum two ints.", "  \n");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->rfind("You will be given a question (problem specification) and will generate a correct Python "
                     "program that matches the specification and passes all tests.",
                     0),
            0u);
  EXPECT_NE(p->find("Question: Sum two ints.\n\nRead the inputs from stdin"), std::string::npos);
  EXPECT_NE(p->find("writes output to STDOUT.\n```python\n  # YOUR CODE HERE\n```"), std::string::npos);
}

TEST(SsdPromptsTest, StarterCodeProblemsEmbedTheStarterCode) {
  auto p = FormatSsdPrompt(DefaultSsdPrompts(), "Two sum.", "class Solution:\n    def twoSum(self, nums): {}");
  ASSERT_TRUE(p.ok());
  EXPECT_NE(p->find("You will use the following starter code"), std::string::npos);
  // Braces inside the substituted text are not placeholders.
  EXPECT_NE(p->find("```python\nclass Solution:\n    def twoSum(self, nums): {}\n```"), std::string::npos);
  EXPECT_EQ(p->find("Read the inputs from stdin"), std::string::npos);
}

class PromptFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& body) {
    std::string p = dir_ + "/p" + std::to_string(n_++) + ".json";
    std::ofstream(p) << body;
    return p;
  }
  ScopedTempDir tmp_{"ssd_prompts_test"};
  std::string dir_ = tmp_.path();
  int n_ = 0;
};

TEST_F(PromptFileTest, UserTemplatesOverrideTheDefaults) {
  auto t = LoadPromptTemplates(Write(R"({"stdin": "S: {problem_description} {{x}}",
                                          "starter_code": "C: {problem_description}\n{entry_point}"})"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*FormatSsdPrompt(*t, "P", ""), "S: P {x}");
  EXPECT_EQ(*FormatSsdPrompt(*t, "P", "def f(): pass"), "C: P\ndef f(): pass");
}

TEST_F(PromptFileTest, BadTemplatesNameFileFieldAndProblem) {
  auto expect = [&](const std::string& body, const std::string& needle) {
    const std::string path = Write(body);
    auto t = LoadPromptTemplates(path);
    ASSERT_FALSE(t.ok()) << body;
    EXPECT_NE(t.status().message().find(path), std::string::npos) << t.status();
    EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status();
  };
  expect(R"({"stdin": "x"})", "problem_description");
  expect(R"({"stdin": "{problem_description}", "starter_code": "{problem_description}"})", "entry_point");
  expect(R"({"stdin": "{problem_description} {oops}", "starter_code": "{problem_description}{entry_point}"})",
         "{oops}");
  expect(R"({"stdin": "{problem_description", "starter_code": "{problem_description}{entry_point}"})", "unclosed");
  expect(R"({"stdin": 3, "starter_code": "{problem_description}{entry_point}"})", "\"stdin\"");
  expect("not json", "not valid JSON");
}

}  // namespace
}  // namespace ssd
