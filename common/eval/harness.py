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
# A program's tests run in a child forked from this process, one test at a
# time when this process says so (see run_job), so a hang in C code is
# still killed at its timeout and the child never holds this process's
# pipes; each test starts from a fresh copy of the prelude's names, so a
# program's globals do not carry over between its tests. The verdict is decided
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
import gc
import json
import math
import os
import resource
import select
import shutil
import signal
import socket
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


# Bound when the harness starts, before any solution runs: a solution can
# rebind names in these modules, and its later tests share its process.
_os_open, _os_write, _os_dup2, _os_close, _dumps, _loads = os.open, os.write, os.dup2, os.close, json.dumps, json.loads


def redirect(paths):
    """Points fds 0, 1 and 2 at one test's files, and sys.std* at them."""
    for target, name, flags in ((0, "input", os.O_RDONLY),
                                (1, "out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                (2, "err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        fd = _os_open(paths[name], flags, 0o600)
        if fd != target:  # fd is the target itself when a program closed it
            _os_dup2(fd, target)
            _os_close(fd)
    sys.stdin = open(0, "r", encoding="utf-8", errors="replace", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)


def silence():
    """Points fds 0, 1 and 2 at /dev/null: what a finished test still writes goes nowhere."""
    sys.stdin = sys.stdout = sys.stderr = None
    fd = _os_open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        if fd != target:
            _os_dup2(fd, target)
    if fd > 2:
        _os_close(fd)


def run_program(job, namespace, program, test):
    """Runs the program once on one test: (status, functional result or None)."""
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
                return {"kind": "compile_error", "detail": short("%s: %s" % (type(e).__name__, e))}, None
            args = [_loads(line) for line in test["input"].split("\n")]
            value = method(*args)
            try:
                return {"kind": "ok"}, _dumps(to_plain(value))
            except (Unrepresentable, ValueError, RecursionError) as e:
                return {"kind": "wrong_answer", "detail": short("returned %s" % e)}, None
        exec(program, g)
        return {"kind": "ok"}, None
    except SystemExit as e:
        if mode == "stdin":
            return {"kind": "ok"}, None  # a program may end itself with exit()
        return {"kind": "runtime_error", "detail": "exited before finishing (SystemExit %s)" % short(e.code)}, None
    except MemoryError:
        return {"kind": "memory_limit", "detail": "MemoryError"}, None
    except AssertionError as e:
        if mode == "humaneval":
            return {"kind": "wrong_answer", "detail": short("assertion failed %s" % e)}, None
        return {"kind": "runtime_error", "detail": short("AssertionError: %s" % e)}, None
    except BaseException as e:
        return {"kind": "runtime_error", "detail": short("%s: %s" % (type(e).__name__, e))}, None


def child_main(job, namespace, program, first, scratch, channel):
    """In the forked child: runs tests first, first + 1, ... of one program,
    each when the harness says so, and records each in its own files."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    saved_builtins = dict(builtins.__dict__)
    recursion_limit = sys.getrecursionlimit()
    tests = job["tests"]
    for i in range(first, last_test(job, first)):
        if channel.recv(1) != b"g":
            break
        paths = test_paths(scratch, i)
        # What an earlier test of this program changed in the shared places.
        builtins.__dict__.clear()
        builtins.__dict__.update(saved_builtins)
        sys.setrecursionlimit(recursion_limit)
        signal.alarm(0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        # RLIMIT_CPU counts the whole process: allow this test its own share.
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu = math.ceil(used.ru_utime + used.ru_stime) + int(job["timeout_s"]) + 1
        if cpu_hard == resource.RLIM_INFINITY or cpu_hard > cpu:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu_hard))
        redirect(paths)
        try:
            status, result = run_program(job, namespace, program, tests[i])
            try:
                sys.stdout.flush()
            except BaseException:
                status = {"kind": "runtime_error", "detail": "writing the output failed (output limit?)"}
        except BaseException:
            status, result = {"kind": "runtime_error", "detail": "the program's error could not be reported"}, None
        if result is not None:
            fd = _os_open(paths["result"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            _os_write(fd, result.encode("utf-8"))
            _os_close(fd)
        fd = _os_open(paths["status"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        _os_write(fd, _dumps(status).encode("utf-8"))
        _os_close(fd)
        # The test's objects (and any writer they hold) die here, with
        # nothing to write to; only what this program created is scanned,
        # as the harness froze its own objects.
        silence()
        status = result = None
        gc.collect()
        # A thread the program left running could reach its next test: then
        # that test runs in a new child ("x": done, and this child ends).
        if len(os.listdir("/proc/self/task")) > 1:
            channel.send(b"x")
            break
        channel.send(b"d")
    os._exit(0)


def last_test(job, first):
    """One past the last test a child started at `first` may run."""
    return first + 1 if job.get("fork_per_test") else len(job["tests"])


def test_paths(scratch, i):
    return {k: os.path.join(scratch, "%d.%s" % (i, k)) for k in ("input", "out", "err", "status", "result")}


def read(path, limit=None):
    try:
        with open(path, "rb") as f:
            return f.read() if limit is None else f.read(limit)
    except OSError:
        return None


def judge(job, test, expected, paths, status, timed_out):
    """One test's verdict. `status` is the child's wait status when it ended
    during the test, None when it finished the test and lives on."""
    if timed_out:
        return "timeout", "over %gs" % job["timeout_s"]
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "timeout", "CPU time limit"
        return "runtime_error", "killed by signal %d" % sig
    raw = read(paths["status"], 1 << 16)
    try:
        st = json.loads(raw)
        kind = st["kind"]
    except Exception:
        if status is None:
            return "runtime_error", "the test ended without a verdict"
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


def end_child(pid, pidfd):
    """Kills the child and what it left running, and reaps it: its wait status."""
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except OSError:
            pass
    _, status = os.waitpid(pid, 0)
    os.close(pidfd)
    try:
        os.killpg(pid, signal.SIGKILL)  # what it left running
    except OSError:
        pass
    return status


def run_child(job, namespace, program, first, scratch, line, emit):
    """Forks one child for tests first, first + 1, ...; returns the test to
    go on from in a new child, or the number of tests when done."""
    tests = job["tests"]
    n = len(tests)
    last = last_test(job, first)
    parent_end, child_end = socket.socketpair()
    emit.flush()
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            parent_end.close()
            child_main(job, namespace, program, first, scratch, child_end)
        finally:
            os._exit(70)
    child_end.close()
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(parent_end.fileno(), select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    i = first
    try:
        while i < last:
            test = tests[i]
            paths = test_paths(scratch, i)
            with open(paths["input"], "w", encoding="utf-8") as f:
                f.write(test["input"] if job["mode"] == "stdin" else "")
            expected = json.loads(test["output"]) if job["mode"] == "functional" else None
            start = time.monotonic()
            timeout_ms = int(job["timeout_s"] * 1000)
            finished = timed_out = retired = False
            try:
                parent_end.send(b"g", socket.MSG_NOSIGNAL)
                sent = True
            except OSError:
                if i > first:
                    return i  # the child died between tests: this one runs in a new child
                sent = False
            while sent:
                left = timeout_ms - int((time.monotonic() - start) * 1000)
                events = dict(poller.poll(max(left, 0)))
                if not events:
                    timed_out = True
                    break
                if parent_end.fileno() in events:
                    try:
                        said = parent_end.recv(1)
                    except OSError:
                        said = b""
                    if said in (b"d", b"x"):
                        finished = True  # even if the child ended just after
                        retired = said == b"x"
                        break
                    if pidfd not in events:
                        # The channel broke (the program closed it): the child
                        # ends after this test, and its files tell how it went.
                        poller.unregister(parent_end.fileno())
                        continue
                break  # the child ended during the test
            status = None
            if not finished:
                status, pidfd = end_child(pid, pidfd), None
            elapsed = time.monotonic() - start
            verdict, detail = judge(job, test, expected, paths, status, timed_out)
            line({"test": i, "verdict": verdict, "time_s": round(elapsed, 4), "detail": detail})
            emit.flush()
            for p in paths.values():
                try:
                    os.unlink(p)
                except OSError:
                    pass
            i += 1
            if verdict != "pass" and job["stop_at_first_failure"]:
                return n
            if not finished or retired:
                return i
        return i
    finally:
        parent_end.close()
        if pidfd is not None:
            end_child(pid, pidfd)


def run_job(job, namespace, emit, tag):
    """Runs every test of one program; each line written carries `tag`.

    The tests run one after another in a child forked from this process:
    one fork per program rather than per test, which is most of what
    grading costs where creating a process is slow. Each test still starts
    from a fresh copy of the prelude's names, with its own stdin, output
    files and CPU limit, and the builtins and recursion limit as the
    harness left them. What a program changes elsewhere (a module's
    attributes, a file in /tmp) can reach its own later tests, as in
    LiveCodeBench, whose tests of one program share a process. After a test
    that ends the child (a timeout, a crash) or leaves a thread running in
    it, the next one runs in a new child. With "fork_per_test" every test has a child of its own."""
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
    try:
        i = 0
        while i < len(tests):
            i = run_child(job, namespace, program, i, scratch, line, emit)
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
    # What exists now is never garbage: the children's collections skip it,
    # and leave its pages shared with this process.
    gc.freeze()
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
