#!/usr/bin/python3
"""The include rules of the source tree, per folder (README, "Layout").

  common/                  includes no service folder (coordinator/,
                           sampler_worker/, trainer_worker/), except
                           common/cli/main.cc, the one file that wires them;
  sampler_worker/          never includes trainer_worker/, and the other way
  trainer_worker/          round: the workers meet only through proto/ and
                           the coordinator;
  coordinator/             (outside coordinator/client/, the client library
                           the workers link) includes neither worker;
  common/model/            includes no RPC: nothing of common/rpc/, gRPC or
                           generated *.grpc.pb.h.

  /usr/bin/python3 tests/layout/include_rules.py [ROOT]
  /usr/bin/python3 tests/layout/include_rules.py --self-test

Prints one line per broken rule, `path:line: includes X (rule)`, and exits 1
when there is any. --self-test runs the checker over a scratch tree with one
forbidden include of each kind and fails unless each is reported.
"""
import os
import re
import sys
import tempfile

SOURCE_SUFFIXES = (".h", ".cc", ".cpp", ".cu", ".cuh")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]')
SERVICES = ("coordinator/", "sampler_worker/", "trainer_worker/")
RPC = ("common/rpc/", "grpcpp/", "grpc/", "grpc++/")


def under(path, folder):
    return path.startswith(folder)


def broken_rule(path, target):
    """The rule `path` breaks by including `target`, or None."""
    if under(path, "common/") and path != "common/cli/main.cc" and target.startswith(SERVICES):
        return "common/ includes no service folder; only common/cli/main.cc wires them"
    if under(path, "sampler_worker/") and target.startswith("trainer_worker/"):
        return "the workers never include each other; they meet through proto/ and the coordinator"
    if under(path, "trainer_worker/") and target.startswith("sampler_worker/"):
        return "the workers never include each other; they meet through proto/ and the coordinator"
    if (under(path, "coordinator/") and not under(path, "coordinator/client/")
            and target.startswith(("sampler_worker/", "trainer_worker/"))):
        return "the coordinator (outside client/) includes neither worker"
    if under(path, "common/model/") and (target.startswith(RPC) or target.endswith(".grpc.pb.h")):
        return "model code includes no RPC"
    return None


def violations(root):
    out = []
    for top in ("common", "coordinator", "sampler_worker", "trainer_worker"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                with open(full, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        rule = broken_rule(rel, m.group(1))
                        if rule:
                            out.append("%s:%d: includes %s (%s)" % (rel, number, m.group(1), rule))
    return out


def self_test():
    cases = {
        "common/util/bad.cc": "coordinator/coordinator.h",
        "sampler_worker/bad.cc": "trainer_worker/sft_dataset.h",
        "trainer_worker/bad.h": "sampler_worker/engine_backend.h",
        "coordinator/bad.cc": "sampler_worker/sampler_worker.h",
        "common/model/bad.cc": "grpcpp/grpcpp.h",
    }
    allowed = {
        "common/cli/main.cc": "trainer_worker/train_command.h",
        "coordinator/client/ok.cc": "sampler_worker/weights_store.h",
        "common/model/ok.cc": "common/util/file_util.h",
    }
    with tempfile.TemporaryDirectory(prefix="include_rules_") as root:
        for path, target in list(cases.items()) + list(allowed.items()):
            os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write('// scratch\n#include "%s"\n' % target)
        found = violations(root)
    failed = False
    for path, target in cases.items():
        if not any(v.startswith("%s:2: includes %s " % (path, target)) for v in found):
            print("self-test: %s including %s was not reported" % (path, target))
            failed = True
    for path in allowed:
        if any(v.startswith(path + ":") for v in found):
            print("self-test: %s was reported but is allowed" % path)
            failed = True
    if len(found) != len(cases):
        print("self-test: %d reports for %d forbidden includes: %s" % (len(found), len(cases), found))
        failed = True
    print("self-test: %s" % ("FAILED" if failed else "every forbidden include reported, every allowed one passed"))
    return 1 if failed else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    found = violations(root)
    for v in found:
        print(v)
    if found:
        print("%d include(s) break the layout rules (tests/layout/include_rules.py)" % len(found))
        return 1
    print("include rules hold under %s" % root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
