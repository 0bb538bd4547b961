// Where untrusted, model-generated programs run. The sandbox is a security
// boundary: generated code must not reach the network, the host's files,
// other processes, or more CPU, memory, processes and disk than it is given.
//
//   Sandbox                 the interface graders use; thread-safe.
//   BwrapSandbox            bubblewrap: new user, PID, network, IPC, UTS,
//                           mount and cgroup namespaces; a read-only view of
//                           an allow-list of system paths (not /, so data
//                           folders stay invisible); a size-capped private
//                           tmpfs as the only writable place; no capabilities;
//                           rlimits on CPU, address space, processes and file
//                           size; a wall-clock kill; --die-with-parent.
//   UnsafeSandbox           the same rlimits and wall-clock kill, no
//                           isolation. Only for trusted code, and for tests
//                           that show a probe the real sandbox stops does
//                           work without it.
//   FakeSandbox (fake_sandbox.h)  scripted results for grader tests.
//
// Process limits: the run's RLIMIT_NPROC is set inside the sandbox's own
// user namespace (util-linux prlimit execs the command). Since Linux 5.14 the
// kernel counts RLIMIT_NPROC per (user namespace, uid), so there the count is
// the run's own tasks and nothing else, whoever runs the sampler; bubblewrap
// itself keeps the caller's limit. Before 5.14 the count is every task of the
// host uid that runs bubblewrap, so the limit is raised by the tasks (threads
// included) that uid already has, as far as /proc shows them.
// RLIMIT_NPROC is not enforced for root, so when run as root BwrapSandbox
// also starts each concurrent run as its own unprivileged uid (see
// BwrapSandboxOptions::uid_base) and limits bubblewrap to that uid's count:
// a fork bomb in one run cannot starve another, and a run's leftovers are
// found by uid.
#ifndef SSD_COMMON_EVAL_SANDBOX_H_
#define SSD_COMMON_EVAL_SANDBOX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/eval/process_runner.h"

namespace ssd {

struct SandboxLimits {
  double wall_s = 60;                              // the whole run is killed after this
  int64_t cpu_s = 60;                              // per process
  int64_t address_space_bytes = int64_t{4} << 30;  // per process
  int max_processes = 64;                          // live processes of the run
  int64_t file_size_bytes = int64_t{256} << 20;    // largest file it may write
  int64_t tmpfs_bytes = int64_t{1} << 30;          // all of /tmp together
  size_t max_output_bytes = size_t{64} << 20;      // captured stdout, and stderr
  absl::Status Validate() const;
};

struct SandboxCommand {
  std::vector<std::string> argv;  // argv[0] is an absolute path inside the sandbox
  std::vector<std::string> env;   // "KEY=value"; the host environment is not passed
  std::string stdin_data;
  SandboxLimits limits;
};

class Sandbox {
 public:
  virtual ~Sandbox() = default;
  // Runs the command to completion (or to its wall-clock limit). Blocks while
  // max_parallel() runs are already in flight. Thread-safe. An error means
  // the sandbox itself failed, not the program.
  virtual absl::StatusOr<ProcessRunResult> Run(const SandboxCommand& command) = 0;
  virtual absl::string_view name() const = 0;
  virtual int max_parallel() const = 0;
  // True when every run gets a PID namespace of its own in which the
  // command is the first process after an init (bubblewrap's layout): the
  // grader then batches several programs into one run, since the harness
  // can kill everything a program left behind.
  virtual bool own_pid_namespace() const { return false; }
};

struct BwrapSandboxOptions {
  std::string bwrap_path = "/usr/bin/bwrap";
  // Sets the run's process limit inside the sandbox, so it must lie under
  // one of read_only_paths.
  std::string prlimit_path = "/usr/bin/prlimit";
  // Mounted read-only at the same place; paths that do not exist are
  // skipped. Merged-/usr links (/bin, /lib, /lib64, /sbin) are recreated as
  // links. Nothing else of the host is visible.
  std::vector<std::string> read_only_paths = {
      "/usr",           "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
      "/etc/localtime", "/etc/python3",      "/etc/python3.11"};
  int max_parallel = 2;
  // Root only: each concurrent run gets its own uid from [uid_base,
  // uid_base + uid_range). Uids are claimed with a lock file in
  // uid_lock_dir for the sandbox's lifetime, so several processes (parallel
  // tests, two `ssd eval-code` runs) never share one.
  int uid_base = 61000;
  int uid_range = 1000;
  std::string uid_lock_dir = "/tmp/ssd-sandbox-uids";
  absl::Status Validate() const;
};

class BwrapSandbox : public Sandbox {
 public:
  // Checks that bubblewrap can create its namespaces here by running
  // /bin/true inside it; the error says why not and what to do.
  static absl::StatusOr<std::unique_ptr<BwrapSandbox>> Create(const BwrapSandboxOptions& options);
  ~BwrapSandbox() override;

  absl::StatusOr<ProcessRunResult> Run(const SandboxCommand& command) override;
  absl::string_view name() const override { return "bwrap"; }
  int max_parallel() const override { return options_.max_parallel; }
  bool own_pid_namespace() const override { return true; }

  // The bwrap command line for one run (exposed for tests and logs).
  std::vector<std::string> BwrapArgv(const SandboxCommand& command, int64_t nproc_in_sandbox) const;

 private:
  explicit BwrapSandbox(BwrapSandboxOptions options);
  absl::Status ClaimUids();
  int AcquireSlot();
  void ReleaseSlot(int slot);

  // Constant after construction.
  const BwrapSandboxOptions options_;
  const bool is_root_;
  const bool nproc_per_user_namespace_;  // Linux 5.14 or later
  std::vector<uid_t> slot_uids_;         // root only; set by ClaimUids
  std::vector<int> lock_fds_;

  absl::Mutex mu_;
  std::vector<bool> slot_busy_ ABSL_GUARDED_BY(mu_);
};

class UnsafeSandbox : public Sandbox {
 public:
  explicit UnsafeSandbox(int max_parallel = 2);
  absl::StatusOr<ProcessRunResult> Run(const SandboxCommand& command) override;
  absl::string_view name() const override { return "unsafe-no-sandbox"; }
  int max_parallel() const override { return max_parallel_; }

 private:
  const int max_parallel_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_SANDBOX_H_
