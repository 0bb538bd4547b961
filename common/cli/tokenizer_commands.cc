#include "common/cli/tokenizer_commands.h"

#include <iostream>
#include <iterator>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/cli/cli_util.h"
#include "common/tokenizer/bpe_trainer.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/file_util.h"
#include "common/util/json.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

struct TokenizeFlags {
  std::string tokenizer;
  std::string text;
  bool has_text = false;
  bool special = false;
  std::string ids;
  bool skip_special = false;
  std::string messages;
  bool add_generation_prompt = false;
  std::string enable_thinking;  // "", "true" or "false"
  std::string corpus, out;
  BpeTrainerOptions train;
};

absl::Status RunTokenize(const TokenizeFlags& f) {
  ASSIGN_OR_RETURN(auto tok, Tokenizer::Load(f.tokenizer));
  std::string text = f.text;
  if (!f.has_text) text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  EncodeOptions opts;
  opts.allow_special = f.special;
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, tok->Encode(text, opts));
  std::cout << JsonIntArray(std::vector<int64_t>(ids.begin(), ids.end())) << std::endl;
  return absl::OkStatus();
}

absl::Status RunDetokenize(const TokenizeFlags& f) {
  ASSIGN_OR_RETURN(auto tok, Tokenizer::Load(f.tokenizer));
  ASSIGN_OR_RETURN(std::vector<int64_t> ids64, ParseIdList("--ids", f.ids, tok->vocab_size()));
  ASSIGN_OR_RETURN(std::string text, tok->Decode(std::vector<int32_t>(ids64.begin(), ids64.end()), f.skip_special));
  std::cout << text;
  return absl::OkStatus();
}

absl::Status RunChatTemplate(const TokenizeFlags& f) {
  ASSIGN_OR_RETURN(auto tmpl, ChatTemplate::Load(f.tokenizer));
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(f.messages, size_t{256} << 20));
  nlohmann::ordered_json messages;
  {
    absl::StatusOr<nlohmann::ordered_json> parsed = ParseJson<nlohmann::ordered_json>(text);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(f.messages, ": ", parsed.status().message()));
    messages = std::move(*parsed);
  }
  // Accept a bare list or an ml-ssd record {"messages": [...]}.
  if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
  ChatOptions opts;
  opts.add_generation_prompt = f.add_generation_prompt;
  if (f.enable_thinking == "true" || f.enable_thinking == "false") {
    opts.extra["enable_thinking"] = f.enable_thinking == "true";
  } else if (!f.enable_thinking.empty()) {
    return absl::InvalidArgumentError("--enable-thinking: must be true or false");
  }
  auto rendered = tmpl->Render(messages, opts);
  if (!rendered.ok()) {
    return absl::Status(rendered.status().code(), absl::StrCat(f.messages, ": ", rendered.status().message()));
  }
  std::cout << *rendered;
  return absl::OkStatus();
}

absl::Status RunTrain(const TokenizeFlags& f) {
  ASSIGN_OR_RETURN(std::string corpus, ReadFileToString(f.corpus, size_t{4} << 30));
  auto st = TrainBpeTokenizer(corpus, f.train, f.out);
  if (!st.ok()) return absl::Status(st.code(), absl::StrCat(f.corpus, ": ", st.message()));
  std::cout << f.out << std::endl;
  return absl::OkStatus();
}

}  // namespace

void RegisterTokenizerCommands(CLI::App& app, std::function<int()>* run) {
  auto f = std::make_shared<TokenizeFlags>();
  CLI::App* t = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array");
  t->add_option("--tokenizer", f->tokenizer, "tokenizer.json or a model folder")->required();
  t->add_option("--text", f->text, "the text (default: all of stdin)")->each([f](const std::string&) {
    f->has_text = true;
  });
  t->add_flag("--special", f->special, "recognize special tokens such as <|im_start|> in the text");
  t->callback([f, run] { *run = [f] { return ReportStatus("tokenize", RunTokenize(*f)); }; });

  CLI::App* d = app.add_subcommand("detokenize", "Print the text of comma-separated token ids");
  d->add_option("--tokenizer", f->tokenizer, "tokenizer.json or a model folder")->required();
  d->add_option("--ids", f->ids, "comma-separated ids")->required();
  d->add_flag("--skip-special", f->skip_special, "leave special tokens out");
  d->callback([f, run] { *run = [f] { return ReportStatus("detokenize", RunDetokenize(*f)); }; });

  CLI::App* c = app.add_subcommand("chat-template", "Render a conversation with the model's chat template");
  c->add_option("--tokenizer", f->tokenizer, "tokenizer_config.json or a model folder")->required();
  c->add_option("--messages", f->messages, "JSON file: [{\"role\", \"content\"}, ...]")->required();
  c->add_flag("--add-generation-prompt", f->add_generation_prompt, "end with the assistant header");
  c->add_option("--enable-thinking", f->enable_thinking, "Qwen3: true or false (default: template's)");
  c->callback([f, run] { *run = [f] { return ReportStatus("chat-template", RunChatTemplate(*f)); }; });

  CLI::App* tok = app.add_subcommand("tokenizer", "Tokenizer utilities");
  tok->require_subcommand(1);
  CLI::App* tr =
      tok->add_subcommand("train", "Train a byte-level BPE; writes tokenizer.json and tokenizer_config.json");
  tr->add_option("--corpus", f->corpus, "UTF-8 text file")->required();
  tr->add_option("--vocab-size", f->train.vocab_size, "including bytes and special tokens")->capture_default_str();
  tr->add_option("--min-frequency", f->train.min_frequency, "stop when no pair occurs this often")
      ->capture_default_str();
  tr->add_option("--special-tokens", f->train.special_tokens, "special tokens (default ChatML markers)")
      ->delimiter(',');
  tr->add_option("--out", f->out, "output folder")->required();
  tr->callback([f, run] { *run = [f] { return ReportStatus("tokenizer train", RunTrain(*f)); }; });
}

}  // namespace ssd
