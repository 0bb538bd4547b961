// The `ssd` executable: parses the command line and runs one subcommand.
// This is the one file that sees every folder: each folder owns its
// subcommands' wiring (the Register* functions below), and main only
// registers them. All logic lives in the libraries.
#include <glog/logging.h>

#include <functional>
#include <iostream>

#include "CLI/CLI.hpp"
#include "common/cli/analyze_commands.h"
#include "common/cli/eval_commands.h"
#include "common/cli/filter_commands.h"
#include "common/cli/model_commands.h"
#include "common/cli/sample_commands.h"
#include "common/cli/tokenizer_commands.h"
#include "common/util/openblas_core.h"
#include "coordinator/client/client_commands.h"
#include "coordinator/server/coordinator_commands.h"
#include "sampler_worker/sampler_command.h"
#include "sampler_worker/serve/serve_command.h"
#include "trainer_worker/plan_command.h"
#include "trainer_worker/train_command.h"
#include "trainer_worker/trainer_command.h"

int main(int argc, char** argv) {
  // Before anything else: this may re-execute the process with OpenBLAS
  // kernels for this CPU (common/util/openblas_core.h).
  ssd::ReexecWithBetterOpenBlasCore(argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  // A crash (SIGSEGV, SIGABRT, ...) prints the signal and a stack trace to
  // the log before the process dies, instead of vanishing silently.
  google::InstallFailureSignalHandler();

  CLI::App app{"ssd: Simple Self-Distillation for code models"};
  app.require_subcommand(1);
  bool dry_run = false;
  app.add_flag("--dry-run", dry_run,
               "parse the command line (before the subcommand: `ssd --dry-run sampler ...`), say whether it is "
               "accepted and exit without running it; the deploy files' command lines are tested this way");
  std::function<int()> run;
  // Single-machine tools (common/cli).
  ssd::RegisterModelCommands(app, &run);
  ssd::RegisterTokenizerCommands(app, &run);
  ssd::RegisterSampleCommands(app, &run);
  ssd::RegisterFilterCommands(app, &run);
  ssd::RegisterEvalCommands(app, &run);
  ssd::RegisterAnalyzeCommands(app, &run);
  // Training (trainer_worker).
  ssd::RegisterTrainCommand(app, &run);
  ssd::RegisterPlanCommand(app, &run);
  // The cluster: daemons and the users' commands.
  ssd::RegisterCoordinatorCommands(app, &run);
  ssd::RegisterClientCommands(app, &run);
  ssd::RegisterSamplerCommand(app, &run);
  ssd::RegisterServeCommand(app, &run);
  ssd::RegisterTrainerCommand(app, &run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (dry_run) {
    std::cout << "ssd " << app.get_subcommands().front()->get_name() << ": command line accepted (dry run)\n";
    return 0;
  }
  return run ? run() : 0;
}
