#include "sampler_worker/managed_server.h"

#include <glog/logging.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace ssd {
namespace {

std::string ShellQuote(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

}  // namespace

absl::StatusOr<std::string> ExpandServerCommand(const std::string& command, const std::string& model_dir, int port) {
  if (command.find("{model}") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--backend-command \"", command, "\" has no {model}: the worker could not point the server at a "
                                                      "new weights version"));
  }
  return absl::StrReplaceAll(command, {{"{model}", ShellQuote(model_dir)}, {"{port}", std::to_string(port)}});
}

absl::Status ManagedServer::Start(const std::string& model_dir, int port) {
  Stop();
  absl::StatusOr<std::string> line = ExpandServerCommand(command_, model_dir, port);
  if (!line.ok()) return line.status();
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", *line};
  o.log_path = log_path_;
  LOG(INFO) << "starting the backend server: " << *line << " (output in " << log_path_ << ")";
  absl::StatusOr<std::unique_ptr<ProcessGroup>> child = ProcessGroup::Spawn(o);
  if (!child.ok()) return child.status();
  child_ = std::move(*child);
  model_dir_ = model_dir;
  port_ = port;
  return absl::OkStatus();
}

void ManagedServer::Stop(absl::Duration grace) {
  if (child_ == nullptr) return;
  LOG(INFO) << "stopping the backend server (" << model_dir_ << ")";
  child_->Stop(grace);
  child_.reset();
  model_dir_.clear();
}

bool ManagedServer::Alive(std::string* why) {
  if (child_ == nullptr) {
    *why = "the backend server is not started";
    return false;
  }
  if (!child_->Poll()) return true;
  *why = absl::StrCat("the backend server ", child_->DescribeExit(), "; the end of ", log_path_, ":\n",
                      TailOfLog(log_path_, 15));
  return false;
}

}  // namespace ssd
