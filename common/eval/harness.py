# The ssd grading harness. It runs inside the sandbox with /usr/bin/python3:
# it reads one job (a JSON object) on stdin, runs every test of one problem
# and writes one JSON line per test to stdout, then {"done": true}.
#
# A batch job ({"items": [job, ...]}, bubblewrap only) grades several
# programs in one sandbox, one after another, to pay Python's start-up and
# the prelude imports once: every line then carries "item", and each item
# ends with {"item": i, "done": true}. Between items nothing of the last one
# survives: every other process in the sandbox's PID namespace is killed
# and every file it left in the writable places (/, /dev, /dev/shm, /tmp)
# is removed. When that cannot be made sure (a process that will not die, a
# file that cannot go, an entry that was there at the start replaced), the
# harness stops with {"abort": why}; the grader then grades the items that
# have no "done" line alone, each in a sandbox of its own. So does a batch
# that dies (an item killed the harness): one program can cost the others a
# run of their own, never their verdict.
#
# Each test runs in a fresh child forked from this process, so tests cannot
# see each other's state, a hang in C code is still killed at its timeout,
# and the child never holds this process's pipes. The verdict is decided
# here, from what the child printed or returned, never by the child:
# functional results cross back as plain JSON, so an object with a rigged
# __eq__ cannot pass. The solution's source is only compiled here, never
# executed.
#
# Semantics follow LiveCodeBench: the same star-imports before the code,
# stdin outputs compared line by line after stripping with a Decimal
# fallback, functional calls Solution().<func_name>(*args) with one JSON
# argument per input line, tuples compared as lists.
import builtins
import ctypes
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
from decimal import Decimal

# What LiveCodeBench puts in front of every solution: later imports shadow
# earlier ones, builtins last but typing.
PRELUDE = "\n".join(
    ["from %s import *" % m for m in (
        "string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
        "statistics", "itertools", "functools", "operator", "io", "sys", "json", "builtins", "typing")]
    + ["import string, re, datetime, collections, heapq, bisect, copy, math, random, statistics, "
       "itertools, functools, operator, io, sys, json",
       "sys.setrecursionlimit(50000)", ""])

DETAIL_CHARS = 400


class Unrepresentable(Exception):
    pass


def to_plain(x):
    """x as JSON-compatible builtins, refusing subclasses and other types."""
    t = type(x)
    if x is None or t in (bool, int, float, str):
        return x
    if t in (list, tuple):
        return [to_plain(v) for v in x]
    if t is dict:
        if not all(type(k) is str for k in x):
            raise Unrepresentable("a dict with non-str keys")
        return {k: to_plain(v) for k, v in x.items()}
    raise Unrepresentable("a value of type %s" % t.__name__)


def lines_of(text):
    return [line.strip() for line in text.strip().split("\n")]


def same_stdout(got, want):
    a, b = lines_of(got), lines_of(want)
    if len(a) != len(b):
        return False, "expected %d lines, got %d" % (len(b), len(a))
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        try:
            if [Decimal(e) for e in x.split()] == [Decimal(e) for e in y.split()]:
                continue
        except Exception:
            pass
        return False, "line %d: expected %r, got %r" % (i + 1, y[:100], x[:100])
    return True, ""


def short(text):
    text = str(text)
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "..."


def run_child(job, namespace, program, test, paths):
    """In the forked child: redirect, run the program once, record, _exit."""
    write_file = paths["status"]
    fd = os.open(paths["input"], os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    for target, name in ((1, "out"), (2, "err")):
        fd = os.open(paths[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, "r", encoding="utf-8", errors="replace", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    cpu = int(job["timeout_s"]) + 1
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard == resource.RLIM_INFINITY or hard > cpu:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard))
    os_open, os_write, dumps = os.open, os.write, json.dumps  # before the solution can patch them

    def record(status, result=None):
        try:
            sys.stdout.flush()
        except BaseException:
            status = {"kind": "runtime_error", "detail": "writing the output failed (output limit?)"}
        if result is not None:
            fd = os_open(paths["result"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os_write(fd, result.encode("utf-8"))
        fd = os_open(write_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os_write(fd, dumps(status).encode("utf-8"))
        os._exit(0)

    mode = job["mode"]
    # The prelude's names, bound once in the harness: a copy of that dict is
    # what executing the prelude again here would give, without redoing its
    # 18 star-imports for every test.
    g = dict(namespace)
    g["__name__"] = "__solution__" if mode == "functional" else "__main__"
    try:
        if mode == "functional":
            try:
                exec(program, g)
                if "class Solution" in job["code"]:
                    method = getattr(g["Solution"](), job["func_name"])
                else:
                    method = g[job["func_name"]]
            except BaseException as e:
                record({"kind": "compile_error", "detail": short("%s: %s" % (type(e).__name__, e))})
            args = [json.loads(line) for line in test["input"].split("\n")]
            value = method(*args)
            try:
                result = dumps(to_plain(value))
            except (Unrepresentable, ValueError, RecursionError) as e:
                record({"kind": "wrong_answer", "detail": short("returned %s" % e)})
            record({"kind": "ok"}, result)
        exec(program, g)
        record({"kind": "ok"})
    except SystemExit as e:
        if mode == "stdin":
            record({"kind": "ok"})  # a program may end itself with exit()
        record({"kind": "runtime_error", "detail": "exited before finishing (SystemExit %s)" % short(e.code)})
    except MemoryError:
        record({"kind": "memory_limit", "detail": "MemoryError"})
    except AssertionError as e:
        if mode == "humaneval":
            record({"kind": "wrong_answer", "detail": short("assertion failed %s" % e)})
        record({"kind": "runtime_error", "detail": short("AssertionError: %s" % e)})
    except BaseException as e:
        record({"kind": "runtime_error", "detail": short("%s: %s" % (type(e).__name__, e))})


def wait_child(pid, timeout_s):
    start = time.monotonic()
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    timed_out = not poller.poll(int(timeout_s * 1000))
    if timed_out:
        for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                kill()
            except OSError:
                pass
    _, status = os.waitpid(pid, 0)
    os.close(pidfd)
    try:
        os.killpg(pid, signal.SIGKILL)  # what the test left running
    except OSError:
        pass
    return status, timed_out, time.monotonic() - start


def read(path, limit=None):
    try:
        with open(path, "rb") as f:
            return f.read() if limit is None else f.read(limit)
    except OSError:
        return None


def judge(job, test, expected, paths, status, timed_out):
    if timed_out:
        return "timeout", "over %gs" % job["timeout_s"]
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "timeout", "CPU time limit"
        return "runtime_error", "killed by signal %d" % sig
    raw = read(paths["status"], 1 << 16)
    try:
        st = json.loads(raw)
        kind = st["kind"]
    except Exception:
        return "runtime_error", "exited (code %d) before finishing" % os.WEXITSTATUS(status)
    if kind != "ok":
        return kind, st.get("detail", "")
    mode = job["mode"]
    if mode == "humaneval":
        return "pass", ""
    if mode == "stdin":
        got = (read(paths["out"]) or b"").decode("utf-8", errors="replace")
        ok, why = same_stdout(got, test["output"])
        return ("pass", "") if ok else ("wrong_answer", why)
    try:
        got = json.loads(read(paths["result"]) or b"")
    except Exception:
        return "runtime_error", "no result"
    try:
        ok = got == expected
    except Exception:
        ok = False
    return ("pass", "") if ok else ("wrong_answer", short("expected %s, got %s" % (
        json.dumps(expected), json.dumps(got))))


def run_job(job, namespace, emit, tag):
    """Runs every test of one program; each line written carries `tag`."""
    tests = job["tests"]
    mode = job["mode"]
    source = job["code"]
    if mode == "humaneval":
        source = "%s\n\n%s\n\ncheck(%s)\n" % (job["code"], job["test_code"], job["entry_point"])

    def line(fields):
        fields.update(tag)
        emit.write(json.dumps(fields) + "\n")

    try:
        program = compile(source, "<solution>", "exec")
    except BaseException as e:
        detail = short("%s: %s" % (type(e).__name__, e))
        for i in range(1 if job["stop_at_first_failure"] else len(tests)):
            line({"test": i, "verdict": "compile_error", "time_s": 0, "detail": detail})
        return
    scratch = tempfile.mkdtemp(prefix="ssd_harness_")
    paths = {k: os.path.join(scratch, k) for k in ("input", "out", "err", "status", "result")}
    try:
        for i, test in enumerate(tests):
            with open(paths["input"], "w", encoding="utf-8") as f:
                f.write(test["input"] if mode == "stdin" else "")
            for k in ("out", "err", "status", "result"):
                try:
                    os.unlink(paths[k])
                except OSError:
                    pass
            expected = json.loads(test["output"]) if mode == "functional" else None
            emit.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    os.setpgid(0, 0)
                    run_child(job, namespace, program, test, paths)
                finally:
                    os._exit(70)
            try:
                os.setpgid(pid, pid)
            except OSError:
                pass
            status, timed_out, elapsed = wait_child(pid, job["timeout_s"])
            verdict, detail = judge(job, test, expected, paths, status, timed_out)
            line({"test": i, "verdict": verdict, "time_s": round(elapsed, 4), "detail": detail})
            emit.flush()
            if verdict != "pass" and job["stop_at_first_failure"]:
                break
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


WRITABLE = ("/", "/dev", "/dev/shm")


def entry_id(path):
    st = os.lstat(path)
    return (st.st_ino, st.st_mode, st.st_rdev, st.st_uid)


def snapshot():
    """What the writable places hold before any program runs."""
    snap = {}
    for d in WRITABLE:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            p = os.path.join(d, n)
            if p == "/tmp":
                continue
            try:
                snap[p] = entry_id(p)
            except OSError:
                pass
    return snap


def living_others():
    me = os.getpid()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, me):
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # gone already
        if state != b"Z":
            out.append(int(name))
    return out


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def reset(snap):
    """Leaves nothing of the last item: returns None, or why it could not."""
    for _ in range(200):
        try:
            os.kill(-1, signal.SIGKILL)  # every process but init and this one
        except OSError:
            pass  # none left to signal; what is still alive is checked below
        left = living_others()
        if not left:
            break
        time.sleep(0.001)
    else:
        return "processes %s would not die" % left[:5]
    try:
        for n in os.listdir("/tmp"):
            remove(os.path.join("/tmp", n))
        for d in WRITABLE:
            for n in os.listdir(d):
                p = os.path.join(d, n)
                if p == "/tmp":
                    continue
                if p not in snap:
                    remove(p)
                elif entry_id(p) != snap[p]:
                    return "%s was replaced" % p
    except OSError as e:
        return "cannot clean up: %s" % e
    for p in snap:
        if not os.path.lexists(p):
            return "%s was removed" % p
    return None


def main():
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    # The children share this uid: without this they could ptrace this
    # process or open its pipes through /proc.
    try:
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    emit = sys.stdout
    # Import the modules and bind their names once; the children inherit
    # both.
    namespace = {"__builtins__": builtins}
    exec(compile(PRELUDE, "<prelude>", "exec"), namespace)
    items = job.get("items")
    if items is None:
        run_job(job, namespace, emit, {})
        emit.write('{"done": true}\n')
        emit.flush()
        return
    # Killing "every other process" is only safe in a PID namespace of our
    # own, where this harness is the first process after bubblewrap's init.
    if os.getpid() != 2:
        emit.write(json.dumps({"abort": "a batch needs its own PID namespace (pid %d)" % os.getpid()}) + "\n")
        emit.flush()
        return
    snap = snapshot()
    for i, item in enumerate(items):
        if i > 0:
            why = reset(snap)
            if why is not None:
                emit.write(json.dumps({"abort": "before item %d: %s" % (i, why)}) + "\n")
                emit.flush()
                return
        run_job(item, namespace, emit, {"item": i})
        emit.write(json.dumps({"item": i, "done": True}) + "\n")
        emit.flush()


main()
