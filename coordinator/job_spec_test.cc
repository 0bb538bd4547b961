// Job-spec parsing: every invalid field gets an error that names its path,
// unknown fields are errors, defaults and path resolution, and the shipped
// examples parse.
#include "coordinator/job_spec.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "common/filter/sample_filter.h"
#include "common/sampling/sampling_presets.h"
#include "common/util/file_util.h"

namespace ssd {
namespace {

const char kMinimal[] = "model: m\nproblems: p.jsonl\n";

std::string With(const std::string& extra) { return std::string(kMinimal) + extra; }

TEST(JobSpecTest, MinimalSpecGetsTheDocumentedDefaults) {
  auto s = ParseJobSpecYaml(kMinimal);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->rounds(), 1);
  EXPECT_EQ(s->shard_size(), 16);
  EXPECT_DOUBLE_EQ(s->sampling().temperature(), 1.5);
  EXPECT_EQ(s->sampling().top_k(), 20);
  EXPECT_DOUBLE_EQ(s->sampling().top_p(), 0.8);
  EXPECT_EQ(s->sampling().n(), 1);
  EXPECT_TRUE(s->filter().drop_empty());
  EXPECT_FALSE(s->filter().drop_single_line());
  EXPECT_DOUBLE_EQ(s->filter().drop_shortest_percent(), 10);
  EXPECT_EQ(s->filter().length_unit(), v1::LENGTH_UNIT_CHARS);
  EXPECT_DOUBLE_EQ(s->train().beta2(), 0.95);
  EXPECT_EQ(s->train().trainers(), 1);
  EXPECT_EQ(s->train().activation_checkpoint_every(), 0);
  EXPECT_FALSE(s->has_eval());
}

TEST(JobSpecTest, ActivationCheckpointingTakesNoneFullOrEveryN) {
  for (const auto& [text, every] : std::vector<std::pair<std::string, int>>{{"none", 0}, {"full", 1}, {"every:4", 4}}) {
    auto s = ParseJobSpecYaml(With("train:\n  activation_checkpointing: " + text + "\n"));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->train().activation_checkpoint_every(), every) << text;
  }
}

TEST(JobSpecTest, RouterAuxLossDefaultsToTheModelFilesAndTakesTheNamedLosses) {
  auto unset = ParseJobSpecYaml(With(""));
  ASSERT_TRUE(unset.ok()) << unset.status();
  EXPECT_EQ(unset->train().router_aux_loss(), "");
  EXPECT_FALSE(unset->train().has_router_aux_loss_coef());
  for (const std::string name : {"hf", "per_layer", "off", "auto"}) {
    auto s = ParseJobSpecYaml(With("train:\n  router_aux_loss: " + name + "\n  router_aux_loss_coef: 0.01\n"));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->train().router_aux_loss(), name);
    EXPECT_DOUBLE_EQ(s->train().router_aux_loss_coef(), 0.01);
  }
}

TEST(JobSpecTest, ShardingTakesNoneOptimizerGradientsOrFull) {
  for (const auto& [text, want] :
       std::vector<std::pair<std::string, v1::Sharding>>{{"none", v1::SHARDING_NONE},
                                                         {"optimizer", v1::SHARDING_OPTIMIZER},
                                                         {"gradients", v1::SHARDING_GRADIENTS},
                                                         {"full", v1::SHARDING_FULL}}) {
    auto s = ParseJobSpecYaml(With("train:\n  sharding: " + text + "\n"));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->train().sharding(), want) << text;
  }
}

TEST(JobSpecTest, ShardingOverSeveralTrainersNeedsAnOutputDirEveryRankSees) {
  auto s = ParseJobSpecYaml(With("train:\n  sharding: full\n  trainers: 2\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("train.sharding: full over 2 trainers needs output_dir"), std::string::npos)
      << s.status();
  EXPECT_TRUE(ParseJobSpecYaml(With("output_dir: /shared/run\ntrain:\n  sharding: full\n  trainers: 2\n")).ok());
  EXPECT_TRUE(ParseJobSpecYaml(With("train:\n  sharding: full\n  trainers: 1\n")).ok());
}

// The spec's defaults are the CLI's: `ssd sample` (ssd-train), `ssd eval`
// (ssd-eval's truncation) and `ssd filter` start from the same values.
TEST(JobSpecTest, DefaultsAreTheSamePresetsAndFilterAsTheCommands) {
  auto s = ParseJobSpecYaml(With("eval:\n  benchmark: b\n  temperatures: [0.7]\n"));
  ASSERT_TRUE(s.ok()) << s.status();
  const SamplingParams train = PresetSamplingParams(kSsdTrainPreset);
  EXPECT_EQ(s->sampling().temperature(), train.temperature);
  EXPECT_EQ(s->sampling().top_k(), train.top_k);
  EXPECT_EQ(s->sampling().top_p(), train.top_p);
  EXPECT_EQ(s->sampling().min_p(), train.min_p);
  EXPECT_EQ(s->sampling().repetition_penalty(), train.repetition_penalty);
  EXPECT_EQ(s->sampling().max_tokens(), kDefaultMaxTokens);
  const SamplingParams eval = PresetSamplingParams(kSsdEvalPreset);
  EXPECT_EQ(s->eval().top_k(), eval.top_k);
  EXPECT_EQ(s->eval().top_p(), eval.top_p);
  EXPECT_EQ(s->eval().min_p(), eval.min_p);
  EXPECT_EQ(s->eval().max_tokens(), kDefaultMaxTokens);
  EXPECT_EQ(s->filter().SerializeAsString(), DefaultFilterSpec().SerializeAsString());
}

TEST(JobSpecTest, RelativePathsResolveAgainstTheSpecFolderAndAbsoluteOnesStay) {
  JobSpecParseOptions o;
  o.base_dir = "/jobs/x";
  auto s = ParseJobSpecYaml(
      "model: /abs/model\nproblems: data/p.jsonl\noutput_dir: out\n"
      "eval:\n  benchmark: b.jsonl\n  temperatures: [0.7]\n",
      o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->model(), "/abs/model");
  EXPECT_EQ(s->problems(), "/jobs/x/data/p.jsonl");
  EXPECT_EQ(s->output_dir(), "/jobs/x/out");
  EXPECT_EQ(s->eval().benchmark(), "/jobs/x/b.jsonl");
}

TEST(JobSpecTest, EvalDefaultsBaseTemperaturesToTheSweepAndKsToThoseWithinN) {
  auto s = ParseJobSpecYaml(With("eval:\n  benchmark: b\n  n: 4\n  temperatures: [0.6, 1.0]\n"));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->eval().base_temperatures_size(), 2);
  EXPECT_DOUBLE_EQ(s->eval().base_temperatures(1), 1.0);
  ASSERT_EQ(s->eval().ks_size(), 1);
  EXPECT_EQ(s->eval().ks(0), 1);
}

TEST(JobSpecTest, EvalTruncationsParseWithOmittedPartsOffAndDefaultToTheSingleTruncation) {
  auto s = ParseJobSpecYaml(
      With("eval:\n  benchmark: b\n  temperatures: [1.0]\n  truncations:\n    - {}\n    - {top_k: 20, top_p: 0.8}\n"
           "    - {min_p: 0.05}\n"));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->eval().truncations_size(), 3);
  EXPECT_EQ(s->eval().truncations(0).top_k(), 0);
  EXPECT_EQ(s->eval().truncations(0).top_p(), 1);
  EXPECT_EQ(s->eval().truncations(1).top_k(), 20);
  EXPECT_DOUBLE_EQ(s->eval().truncations(1).top_p(), 0.8);
  EXPECT_DOUBLE_EQ(s->eval().truncations(2).min_p(), 0.05);
  EXPECT_EQ(s->eval().truncations(2).top_p(), 1);
  EXPECT_EQ(EvalTruncations(s->eval()).size(), 3u);

  auto single = ParseJobSpecYaml(With("eval:\n  benchmark: b\n  temperatures: [1.0]\n  top_k: 20\n  top_p: 0.95\n"));
  ASSERT_TRUE(single.ok()) << single.status();
  ASSERT_EQ(single->eval().truncations_size(), 1);
  EXPECT_EQ(single->eval().truncations(0).top_k(), 20);
  EXPECT_DOUBLE_EQ(single->eval().truncations(0).top_p(), 0.95);
  // A spec stored before truncations were a list has none: the single one stands in.
  v1::EvalSpec old = single->eval();
  old.clear_truncations();
  ASSERT_EQ(EvalTruncations(old).size(), 1u);
  EXPECT_DOUBLE_EQ(EvalTruncations(old)[0].top_p(), 0.95);
}

TEST(JobSpecTest, UnknownFieldsAreErrorsWithASuggestion) {
  auto s = ParseJobSpecYaml(With("sampling:\n  topp: 0.9\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("sampling.topp: unknown field (did you mean top_p?) (line 4, column 3)"),
            std::string::npos)
      << s.status();
  auto top = ParseJobSpecYaml(With("modle: x\n"));
  EXPECT_NE(top.status().message().find("modle: unknown field (did you mean model?)"), std::string::npos);
  auto far = ParseJobSpecYaml(With("frobnicate: 1\n"));
  EXPECT_NE(far.status().message().find("frobnicate: unknown field"), std::string::npos);
  EXPECT_EQ(far.status().message().find("did you mean"), std::string::npos);
}

TEST(JobSpecTest, EveryErrorIsReportedNotJustTheFirst) {
  auto s = ParseJobSpecYaml(With("sampling:\n  n: x\n  top_k: y\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("sampling.n: must be an integer"), std::string::npos);
  EXPECT_NE(s.status().message().find("sampling.top_k: must be an integer"), std::string::npos);
}

TEST(JobSpecTest, NotYamlOrNotAMappingIsRefusedWithThePosition) {
  auto s = ParseJobSpecYaml("model: [unclosed\n");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("not valid YAML at line"), std::string::npos) << s.status();
  auto list = ParseJobSpecYaml("- a\n- b\n");
  EXPECT_NE(list.status().message().find("must be a mapping"), std::string::npos);
  auto empty = ParseJobSpecYaml("");
  EXPECT_FALSE(empty.ok());
}

TEST(JobSpecTest, AnEmptyModelIsRequired) {
  EXPECT_NE(ParseJobSpecYaml("model: ''\nproblems: p\n").status().message().find("model: required"), std::string::npos);
}

TEST(JobSpecTest, ProblemsMayBeOmittedOnlyForImports) {
  EXPECT_NE(ParseJobSpecYaml("model: m\n").status().message().find("problems: required"), std::string::npos);
  JobSpecParseOptions o;
  o.problems_optional = true;
  EXPECT_TRUE(ParseJobSpecYaml("model: m\n", o).ok());
}

// One bad value per field; the error must name the field path.
struct BadField {
  const char* name;
  const char* yaml;
  const char* expected;
};

class JobSpecBadFieldTest : public testing::TestWithParam<BadField> {};

TEST_P(JobSpecBadFieldTest, IsRefusedNamingTheField) {
  const BadField& c = GetParam();
  auto s = ParseJobSpecYaml(With(c.yaml));
  ASSERT_FALSE(s.ok()) << c.yaml;
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find(c.expected), std::string::npos)
      << "want \"" << c.expected << "\" in: " << s.status().message();
}

const BadField kBadFields[] = {
    {"model_twice", "model: other\n", "model: given twice (line 3, column 1)"},
    {"name_not_string", "name: [a]\n", "name: must be a string, got a list"},
    {"rounds_zero", "rounds: 0\n", "rounds: must be in [1, 100], got 0"},
    {"rounds_not_int", "rounds: 1.5\n", "rounds: must be an integer, got \"1.5\""},
    {"shard_size_zero", "shard_size: 0\n", "shard_size: must be in [1, 100000], got 0"},
    {"max_shard_attempts", "max_shard_attempts: 0\n", "max_shard_attempts: must be in [1, 100]"},
    {"enable_thinking", "enable_thinking: maybe\n", "enable_thinking: must be true or false"},
    {"sampling_not_map", "sampling: 3\n", "sampling: must be a mapping of fields"},
    {"temperature_zero", "sampling:\n  temperature: 0\n", "sampling.temperature: must be in (0, 10], got 0"},
    {"temperature_text", "sampling:\n  temperature: hot\n", "sampling.temperature: must be a number, got \"hot\""},
    {"top_k_negative", "sampling:\n  top_k: -1\n", "sampling.top_k: must be >= 0"},
    {"top_p_high", "sampling:\n  top_p: 1.5\n", "sampling.top_p: must be in (0, 1], got 1.5"},
    {"top_p_zero", "sampling:\n  top_p: 0\n", "sampling.top_p: must be in (0, 1], got 0"},
    {"min_p", "sampling:\n  min_p: 2\n", "sampling.min_p: must be in [0, 1], got 2"},
    {"repetition_penalty", "sampling:\n  repetition_penalty: 0\n", "sampling.repetition_penalty: must be in (0, 10]"},
    {"n_zero", "sampling:\n  n: 0\n", "sampling.n: must be in [1, 1024], got 0"},
    {"max_tokens", "sampling:\n  max_tokens: 0\n", "sampling.max_tokens: must be in [1, 1048576], got 0"},
    {"min_tokens_over_max", "sampling:\n  max_tokens: 100\n  min_tokens: 101\n",
     "sampling.min_tokens: must be in [0, sampling.max_tokens = 100], got 101"},
    {"min_tokens_negative", "sampling:\n  min_tokens: -1\n", "sampling.min_tokens: must be in [0,"},
    {"seed_negative", "sampling:\n  seed: -3\n", "sampling.seed: must be a non-negative integer"},
    {"router_aux_loss", "train:\n  router_aux_loss: switch\n",
     "train.router_aux_loss: must be hf, per_layer, off or auto (the model file's), got \"switch\""},
    {"router_aux_loss_coef", "train:\n  router_aux_loss_coef: -0.1\n",
     "train.router_aux_loss_coef: must be a finite number >= 0, got -0.1"},
    {"stop_not_list", "sampling:\n  stop: {a: 1}\n", "sampling.stop: must be a list of strings"},
    {"stop_empty", "sampling:\n  stop: ['']\n", "sampling.stop[0]: must not be empty"},
    {"stop_escape_not_utf8", "sampling:\n  stop: [\"\\uD800\"]\n", "invalid unicode: 55296"},
    {"output_dir_escape_not_utf8", "output_dir: \"\\uDFFF\"\n", "invalid unicode: 57343"},
    {"raw_bytes_not_utf8", "name: a\xff\n", "is not valid UTF-8"},
    {"drop_empty", "filter:\n  drop_empty: 7\n", "filter.drop_empty: must be true or false"},
    {"drop_single_line", "filter:\n  drop_single_line: x\n", "filter.drop_single_line: must be true or false"},
    {"drop_percent", "filter:\n  drop_shortest_percent: 100\n", "filter.drop_shortest_percent: must be in [0, 100)"},
    {"length_unit", "filter:\n  length_unit: words\n", "filter.length_unit: must be chars or tokens, got \"words\""},
    {"epochs", "train:\n  epochs: 0\n", "train.epochs: must be in [1, 1000]"},
    {"steps", "train:\n  steps: -1\n", "train.steps: must be >= 0"},
    {"lr", "train:\n  lr: 0\n", "train.lr: must be in (0, 1)"},
    {"schedule", "train:\n  schedule: step\n", "train.schedule: must be cosine, linear or constant, got \"step\""},
    {"activation_checkpointing", "train:\n  activation_checkpointing: every:0\n",
     "train.activation_checkpointing: must be none, full or every:N with N >= 1, got \"every:0\" (line 4"},
    {"sharding", "train:\n  sharding: zero3\n",
     "train.sharding: must be none, optimizer, gradients or full, got \"zero3\" (line 4"},
    {"activation_checkpointing_word", "train:\n  activation_checkpointing: selective\n",
     "train.activation_checkpointing: must be none, full or every:N"},
    {"min_lr", "train:\n  lr: 1.0e-5\n  min_lr: 1.0e-4\n", "train.min_lr: must be in [0, train.lr]"},
    {"warmup", "train:\n  warmup_steps: -2\n", "train.warmup_steps: must be >= 0"},
    {"warmup_over_steps", "train:\n  steps: 10\n  warmup_steps: 20\n",
     "train.warmup_steps: 20 is more than train.steps"},
    {"max_seq_len", "train:\n  max_seq_len: 1\n", "train.max_seq_len: must be in [2, 4194304]"},
    {"micro_batch", "train:\n  micro_batch_tokens: 1000\n",
     "train.micro_batch_tokens: 1000 must be a positive multiple of train.max_seq_len (2048)"},
    {"batch_tokens", "train:\n  batch_tokens: 10000\n",
     "train.batch_tokens: 10000 must be a positive multiple of train.micro_batch_tokens (8192)"},
    {"trainers_zero", "train:\n  trainers: 0\n", "train.trainers: must be in [1, 4096]"},
    {"trainers_uneven", "train:\n  trainers: 3\n", "train.trainers: 3 ranks cannot share the 8 micro-batches"},
    {"weight_decay", "train:\n  weight_decay: 1\n", "train.weight_decay: must be in [0, 1)"},
    {"beta1", "train:\n  beta1: 1\n", "train.beta1: must be in [0, 1)"},
    {"beta2", "train:\n  beta2: -0.1\n", "train.beta2: must be in [0, 1)"},
    {"grad_clip", "train:\n  grad_clip: -1\n", "train.grad_clip: must be >= 0"},
    {"save_every", "train:\n  save_every: -1\n", "train.save_every: must be >= 0"},
    {"batching", "train:\n  batching: bucketed\n", "train.batching: must be packed or padded"},
    {"eval_benchmark", "eval:\n  temperatures: [1]\n", "eval.benchmark: required"},
    {"eval_n", "eval:\n  benchmark: b\n  temperatures: [1]\n  n: 0\n", "eval.n: must be in [1, 1024]"},
    {"eval_top_p", "eval:\n  benchmark: b\n  temperatures: [1]\n  top_p: 2\n", "eval.top_p: must be in (0, 1]"},
    {"eval_top_k", "eval:\n  benchmark: b\n  temperatures: [1]\n  top_k: -5\n", "eval.top_k: must be >= 0"},
    {"eval_min_p", "eval:\n  benchmark: b\n  temperatures: [1]\n  min_p: -1\n", "eval.min_p: must be in [0, 1]"},
    {"eval_max_tokens", "eval:\n  benchmark: b\n  temperatures: [1]\n  max_tokens: 0\n", "eval.max_tokens: must be in"},
    {"eval_no_temperatures", "eval:\n  benchmark: b\n", "eval.temperatures: required"},
    {"eval_temperature_range", "eval:\n  benchmark: b\n  temperatures: [11]\n",
     "eval.temperatures[0]: must be in [0, 10]"},
    {"eval_temperature_twice", "eval:\n  benchmark: b\n  temperatures: [0.7, 0.7]\n",
     "eval.temperatures[1]: 0.7 is listed twice"},
    {"eval_temperature_text", "eval:\n  benchmark: b\n  temperatures: [warm]\n",
     "eval.temperatures[0]: must be a number, got \"warm\""},
    {"eval_base_temperatures", "eval:\n  benchmark: b\n  temperatures: [1]\n  base_temperatures: [-1]\n",
     "eval.base_temperatures[0]: must be in [0, 10]"},
    {"eval_held_out", "eval:\n  benchmark: b\n  temperatures: [1]\n  held_out_fraction: 1\n",
     "eval.held_out_fraction: must be in (0, 1)"},
    {"eval_start_date", "eval:\n  benchmark: b\n  temperatures: [1]\n  start_date: 2025-2-1\n",
     "eval.start_date: must be YYYY-MM-DD, got \"2025-2-1\""},
    {"eval_end_date", "eval:\n  benchmark: b\n  temperatures: [1]\n  end_date: may\n",
     "eval.end_date: must be YYYY-MM-DD"},
    {"eval_shard_size", "eval:\n  benchmark: b\n  temperatures: [1]\n  shard_size: 0\n", "eval.shard_size: must be in"},
    {"eval_timeout", "eval:\n  benchmark: b\n  temperatures: [1]\n  timeout_s: 0\n",
     "eval.timeout_s: must be in (0, 600]"},
    {"eval_ks", "eval:\n  benchmark: b\n  temperatures: [1]\n  n: 4\n  ks: [1, 5]\n",
     "eval.ks[1]: must be in [1, eval.n = 4], got 5"},
    {"eval_base", "eval:\n  benchmark: b\n  temperatures: [1]\n  base: sometimes\n",
     "eval.base: must be true or false"},
    {"eval_truncations_and_top_k",
     "eval:\n  benchmark: b\n  temperatures: [1]\n  top_k: 20\n  truncations: [{top_p: 0.8}]\n",
     "eval.truncations: give either eval.truncations or eval.top_k / top_p / min_p, not both"},
    {"eval_truncations_not_list", "eval:\n  benchmark: b\n  temperatures: [1]\n  truncations: 20\n",
     "eval.truncations: must be a list of mappings"},
    {"eval_truncations_item", "eval:\n  benchmark: b\n  temperatures: [1]\n  truncations: [{top_k: 20}, 5]\n",
     "eval.truncations[1]: must be a mapping of fields"},
    {"eval_truncations_top_p", "eval:\n  benchmark: b\n  temperatures: [1]\n  truncations: [{}, {top_p: 0}]\n",
     "eval.truncations[1].top_p: must be in (0, 1], got 0"},
    {"eval_truncations_top_k", "eval:\n  benchmark: b\n  temperatures: [1]\n  truncations: [{top_k: -1}]\n",
     "eval.truncations[0].top_k: must be >= 0"},
    {"eval_truncations_unknown", "eval:\n  benchmark: b\n  temperatures: [1]\n  truncations: [{topk: 20}]\n",
     "eval.truncations[0].topk: unknown field (did you mean top_k?)"},
    {"eval_truncations_twice",
     "eval:\n  benchmark: b\n  temperatures: [1]\n  truncations: [{top_k: 20}, {top_k: 20, top_p: 1}]\n",
     "eval.truncations[1]: the same as eval.truncations[0]"},
    {"eval_unknown", "eval:\n  benchmark: b\n  temperatures: [1]\n  temperature: 1\n",
     "eval.temperature: unknown field (did you mean temperatures?)"},
};

INSTANTIATE_TEST_SUITE_P(Fields, JobSpecBadFieldTest, testing::ValuesIn(kBadFields),
                         [](const testing::TestParamInfo<BadField>& i) { return std::string(i.param.name); });

TEST(JobSpecTest, ShippedExamplesParse) {
  const char* src = std::getenv("SSD_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  for (const char* f : {"deploy/examples/paper-qwen3-4b-instruct.yaml", "deploy/examples/tiny.yaml",
                        "deploy/examples/quickstart.yaml"}) {
    const std::string path = JoinPath(src, f);
    auto text = ReadFileToString(path);
    ASSERT_TRUE(text.ok()) << text.status();
    JobSpecParseOptions o;
    o.base_dir = JoinPath(src, "deploy/examples");
    auto s = ParseJobSpecYaml(*text, o);
    EXPECT_TRUE(s.ok()) << f << ": " << s.status();
  }
}

TEST(JobSpecTest, PaperExampleCarriesThePapersSettings) {
  const char* src = std::getenv("SSD_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  auto text = ReadFileToString(JoinPath(src, "deploy/examples/paper-qwen3-4b-instruct.yaml"));
  ASSERT_TRUE(text.ok());
  auto s = ParseJobSpecYaml(*text);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->sampling().temperature(), 1.6);
  EXPECT_EQ(s->sampling().top_k(), 20);
  EXPECT_DOUBLE_EQ(s->sampling().top_p(), 0.8);
  EXPECT_EQ(s->sampling().n(), 1);
  EXPECT_DOUBLE_EQ(s->train().lr(), 5e-6);
  EXPECT_DOUBLE_EQ(s->train().min_lr(), 1e-6);
  EXPECT_EQ(s->train().steps(), 2500);
  EXPECT_EQ(s->train().warmup_steps(), 250);
  EXPECT_EQ(s->train().batch_tokens() / s->train().max_seq_len(), 32);  // 32 sequences
  EXPECT_EQ(s->train().max_seq_len(), 65536);
  EXPECT_EQ(s->train().activation_checkpoint_every(), 1) << "65,536-token rows need full checkpointing";
  EXPECT_DOUBLE_EQ(s->train().beta1(), 0.9);
  EXPECT_DOUBLE_EQ(s->train().beta2(), 0.95);
  EXPECT_DOUBLE_EQ(s->train().weight_decay(), 0.1);
  EXPECT_EQ(s->eval().n(), 10);
  EXPECT_DOUBLE_EQ(s->eval().temperatures(0), 1.1);
  EXPECT_DOUBLE_EQ(s->eval().base_temperatures(0), 0.7);
  EXPECT_EQ(s->eval().start_date(), "2025-02-01");
  EXPECT_EQ(s->eval().end_date(), "2025-05-31");
}

}  // namespace
}  // namespace ssd
