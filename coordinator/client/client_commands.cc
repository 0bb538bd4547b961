#include "coordinator/client/client_commands.h"

#include <unistd.h>

#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/cli/cli_util.h"
#include "coordinator/client/api_json.h"
#include "coordinator/client/client_flags.h"
#include "coordinator/client/cluster_client.h"
#include "coordinator/client/job_view.h"
#include "coordinator/client/local_cluster.h"
#include "coordinator/client/watch.h"
#include "coordinator/job_state.h"

namespace ssd {
namespace {

int Follow(ClusterClient* client, const std::string& job_id, bool json) {
  WatchOptions w;
  w.json = json;
  w.tty = isatty(STDOUT_FILENO) != 0;
  auto code = FollowJob(client, job_id, w, std::cout);
  if (!code.ok()) return ReportStatus("watch", code.status());
  return *code;
}

}  // namespace

void RegisterClientCommands(CLI::App& app, std::function<int()>* run) {
  // ---- ssd submit ----
  {
    auto f = std::make_shared<ClientFlags>();
    auto spec = std::make_shared<std::string>();
    auto detach = std::make_shared<bool>(false);
    CLI::App* c = app.add_subcommand("submit", "Submit a job spec (YAML); print its id, then follow it like ssd watch");
    c->add_option("spec", *spec, "job spec YAML (see deploy/examples/)")->required();
    c->add_flag("--detach", *detach, "print the job id and return at once");
    f->Add(c);
    c->callback([f, spec, detach, run] {
      *run = [f, spec, detach] {
        auto client = f->Connect();
        if (!client.ok()) return ReportStatus("submit", client.status());
        auto r = (*client)->SubmitFile(*spec);
        if (!r.ok()) return ReportStatus("submit", r.status());
        if (f->json && *detach) {
          std::cout << ToJson(*r) << "\n";
        } else {
          std::cout << r->job_id() << std::endl;
        }
        if (*detach) return 0;
        return Follow(client->get(), r->job_id(), f->json);
      };
    });
  }
  // ---- ssd watch ----
  {
    auto f = std::make_shared<ClientFlags>();
    auto job = std::make_shared<std::string>();
    CLI::App* c = app.add_subcommand(
        "watch", "Follow a job until it ends; Ctrl-C detaches. Exit 0 SUCCEEDED, 3 FAILED, 4 CANCELLED, 130 detached");
    c->add_option("job", *job, "job id")->required();
    f->Add(c);
    c->callback([f, job, run] {
      *run = [f, job] {
        auto client = f->Connect();
        if (!client.ok()) return ReportStatus("watch", client.status());
        return Follow(client->get(), *job, f->json);
      };
    });
  }
  // ---- ssd jobs ----
  {
    auto f = std::make_shared<ClientFlags>();
    auto states = std::make_shared<std::vector<std::string>>();
    auto limit = std::make_shared<int>(0);
    CLI::App* c = app.add_subcommand("jobs", "List jobs, newest first");
    c->add_option("--state", *states, "only jobs in these states (repeatable), e.g. SAMPLING");
    c->add_option("--limit", *limit, "at most this many (0: all)");
    f->Add(c);
    c->callback([f, states, limit, run] {
      *run = [f, states, limit] {
        v1::ListJobsRequest req;
        for (const std::string& s : *states) {
          v1::JobState st;
          if (!ParseJobStateName(s, &st)) {
            return ReportStatus("jobs", absl::InvalidArgumentError(absl::StrCat("--state: unknown state \"", s, "\"")));
          }
          req.add_states(st);
        }
        if (*limit < 0) return ReportStatus("jobs", absl::InvalidArgumentError("--limit: must be >= 0"));
        auto client = f->Connect();
        if (!client.ok()) return ReportStatus("jobs", client.status());
        auto r = (*client)->ListAllJobs(req, *limit);
        if (!r.ok()) return ReportStatus("jobs", r.status());
        std::cout << (f->json ? ToJson(*r) + "\n" : FormatJobsTable(*r, WallMs()));
        return 0;
      };
    });
  }
  // ---- ssd status ----
  {
    auto f = std::make_shared<ClientFlags>();
    auto job = std::make_shared<std::string>();
    CLI::App* c = app.add_subcommand("status", "One job in detail: stage, rounds, filter, eval tables");
    c->add_option("job", *job, "job id")->required();
    f->Add(c);
    c->callback([f, job, run] {
      *run = [f, job] {
        auto client = f->Connect();
        if (!client.ok()) return ReportStatus("status", client.status());
        auto r = (*client)->GetJob(*job);
        if (!r.ok()) return ReportStatus("status", r.status());
        std::cout << (f->json ? ToJson(*r) + "\n" : FormatJobDetails(*r, WallMs()));
        return 0;
      };
    });
  }
  // ---- ssd cancel ----
  {
    auto f = std::make_shared<ClientFlags>();
    auto job = std::make_shared<std::string>();
    auto reason = std::make_shared<std::string>();
    CLI::App* c = app.add_subcommand("cancel", "Cancel a job; its workers stop at their next heartbeat");
    c->add_option("job", *job, "job id")->required();
    c->add_option("--reason", *reason, "recorded as the job's error");
    f->Add(c);
    c->callback([f, job, reason, run] {
      *run = [f, job, reason] {
        auto client = f->Connect();
        if (!client.ok()) return ReportStatus("cancel", client.status());
        auto r = (*client)->Cancel(*job, *reason);
        if (!r.ok()) return ReportStatus("cancel", r.status());
        std::cout << (f->json ? ToJson(*r) + "\n" : absl::StrCat(r->id(), " ", JobStateName(r->state()), "\n"));
        return 0;
      };
    });
  }
  // ---- ssd workers ----
  {
    auto f = std::make_shared<ClientFlags>();
    auto all = std::make_shared<bool>(false);
    CLI::App* c = app.add_subcommand("workers", "List the cluster's samplers and trainers");
    c->add_flag("--all", *all, "include dead and departed workers");
    f->Add(c);
    c->callback([f, all, run] {
      *run = [f, all] {
        auto client = f->Connect();
        if (!client.ok()) return ReportStatus("workers", client.status());
        auto r = (*client)->ListWorkers(*all);
        if (!r.ok()) return ReportStatus("workers", r.status());
        std::cout << (f->json ? ToJson(*r) + "\n" : FormatWorkersTable(*r, WallMs()));
        return 0;
      };
    });
  }
  // ---- ssd stats ----
  {
    auto f = std::make_shared<ClientFlags>();
    auto job = std::make_shared<std::string>();
    CLI::App* c = app.add_subcommand("stats", "Replay-store counts per job and round");
    c->add_option("job", *job, "job id (default: every job)");
    f->Add(c);
    c->callback([f, job, run] {
      *run = [f, job] {
        auto client = f->Connect();
        if (!client.ok()) return ReportStatus("stats", client.status());
        auto r = (*client)->Stats(*job);
        if (!r.ok()) return ReportStatus("stats", r.status());
        if (f->json) {
          std::cout << ToJson(*r) << "\n";
          return 0;
        }
        for (const v1::RoundStats& s : r->rounds()) {
          std::cout << s.job_id() << " round " << s.round() << ": " << s.samples() << "/" << s.expected()
                    << " samples, " << s.bytes() << " bytes"
                    << (s.survivors() >= 0 ? absl::StrCat(", ", s.survivors(), " survivors") : "") << "\n";
        }
        std::cout << "total: " << r->total_samples() << " samples, " << r->total_bytes() << " bytes, "
                  << r->duplicates_ignored() << " duplicate appends ignored since start\n";
        return 0;
      };
    });
  }
  // ---- ssd export ----
  {
    auto f = std::make_shared<ClientFlags>();
    auto req = std::make_shared<v1::ExportRequest>();
    auto job = std::make_shared<std::string>();
    auto round = std::make_shared<int>(1);
    auto out = std::make_shared<std::string>();
    auto all = std::make_shared<bool>(false);
    CLI::App* c = app.add_subcommand("export", "Write a round's distilled dataset as ml-ssd chat JSONL");
    c->add_option("job", *job, "job id")->required();
    c->add_option("--round", *round, "round")->capture_default_str();
    c->add_option("--out", *out, "output JSONL (written atomically)")->required();
    c->add_flag("--all", *all, "every sample, not only the filter's survivors");
    f->Add(c);
    c->callback([f, job, round, out, all, run] {
      *run = [f, job, round, out, all] {
        auto client = f->Connect();
        if (!client.ok()) return ReportStatus("export", client.status());
        v1::ExportRequest r;
        r.set_job_id(*job);
        r.set_round(*round);
        r.set_all_samples(*all);
        auto n = (*client)->ExportToFile(r, *out);
        if (!n.ok()) return ReportStatus("export", n.status());
        std::cerr << "wrote " << *n << " conversations to " << *out << "\n";
        return 0;
      };
    });
  }
  // ---- ssd local ----
  {
    auto o = std::make_shared<LocalClusterOptions>();
    CLI::App* c = app.add_subcommand(
        "local", "Run a job on a whole cluster started here: coordinator, samplers and trainers as child processes");
    c->add_option("spec", o->spec_path, "job spec YAML")->required();
    c->add_option("--samplers", o->samplers, "sampler processes")->capture_default_str();
    c->add_option("--trainers", o->trainers, "trainer processes")->capture_default_str();
    c->add_option("--port", o->port, "the coordinator's port on 127.0.0.1 (0, or in use: a free one)")
        ->capture_default_str();
    c->add_option("--data-dir", o->data_dir, "state, logs and certificates (default: a new folder under $TMPDIR)");
    c->add_option("--threads-per-process", o->threads_per_process, "threads of each worker (0: split the cores)")
        ->capture_default_str();
    c->add_flag("--unsafe-sandbox", o->unsafe_sandbox, "grade eval answers WITHOUT bubblewrap");
    c->add_flag("--json", o->json, "print the job as JSON lines instead of bars");
    c->callback([o, run] {
      *run = [o] {
        auto code = RunLocalCluster(*o, std::cout);
        if (!code.ok()) return ReportStatus("local", code.status());
        return *code;
      };
    });
  }
  // ---- ssd import ----
  {
    auto f = std::make_shared<ClientFlags>();
    auto file = std::make_shared<std::string>();
    auto spec = std::make_shared<std::string>();
    auto detach = std::make_shared<bool>(false);
    CLI::App* c = app.add_subcommand(
        "import", "Create a job whose round 1 is an ml-ssd chat JSONL file (then filter, train, ... as the spec says)");
    c->add_option("file", *file, "ml-ssd JSONL: {\"messages\": [..., {\"role\": \"assistant\", ...}]} per line")
        ->required();
    c->add_option("--spec", *spec, "job spec YAML (problems may be omitted)")->required();
    c->add_flag("--detach", *detach, "print the job id and return at once");
    f->Add(c);
    c->callback([f, file, spec, detach, run] {
      *run = [f, file, spec, detach] {
        auto client = f->Connect();
        if (!client.ok()) return ReportStatus("import", client.status());
        auto r = (*client)->ImportFile(*file, *spec);
        if (!r.ok()) return ReportStatus("import", r.status());
        std::cout << r->job_id() << std::endl;
        std::cerr << "imported " << r->samples() << " samples of " << r->problems() << " prompts\n";
        if (*detach) return 0;
        return Follow(client->get(), r->job_id(), f->json);
      };
    });
  }
}

}  // namespace ssd
