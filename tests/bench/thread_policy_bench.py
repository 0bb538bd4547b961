#!/usr/bin/python3
"""thread_policy_bench: two `ssd` processes sharing this machine's cores.

  tests/bench/thread_policy_bench.py --ssd build/bin/ssd [--repeats 3] [--smoke]

An `ssd train` run and `ssd sample` runs (looped so that they cover the whole
training run) go side by side, as on a laptop cluster or a shared node, under
several thread policies; each process's rate is compared with the same
process alone with its default threads (all cores, libgomp's default wait
policy), measured in the same round. Rounds repeat --repeats times with the
scenarios in the same order, and the table gives medians of the per-round
ratios. The load average before each scenario is printed, because a
neighbour's work changes every number here.

  policy               threads  environment
  default              cores    (libgomp spins ~300k iterations before sleeping)
  passive              cores    OMP_WAIT_POLICY=PASSIVE (sleep at once)
  spin-N               cores    GOMP_SPINCOUNT=N (spin N iterations, then sleep)
  threads-N            N        (threads-1: one thread each, nothing to wait for)

(--policies picks them; default is always measured.)

Training tokens/s: the median over its steps after the first (metrics.jsonl);
sampling tokens/s: the median over the sample runs that finished while the
trainer ran ("sampled ... (N tok/s)"). Asserts nothing about time.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(argv, env=None, **kw):
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"thread_policy_bench: {' '.join(argv)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r


def load():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def setup(ssd, work, smoke):
    corpus = "".join(
        f"def solve_{i}(xs):\n    total = 0\n    for x in xs:\n        total += x * {i}\n    return total\n\n"
        f"print(solve_{i}(list(map(int, input().split()))))\n"
        for i in range(400))
    with open(f"{work}/corpus.txt", "w") as f:
        f.write(corpus)
    run([ssd, "tokenizer", "train", "--corpus", f"{work}/corpus.txt", "--vocab-size", "2048", "--out", f"{work}/tok"])
    hidden, layers = ("128", "2") if smoke else ("256", "6")
    run([ssd, "model", "init", "--tokenizer", f"{work}/tok", "--hidden", hidden, "--layers", layers, "--heads", "8",
         "--kv-heads", "4", "--head-dim", "32", "--intermediate", str(3 * int(hidden)), "--init-std", "0.05",
         "--out", f"{work}/model"])
    with open(f"{work}/train.jsonl", "w") as f:
        for i in range(400):
            f.write(json.dumps({"messages": [
                {"role": "user", "content": f"Write solve_{i}: multiply each number by {i} and add them up."},
                {"role": "assistant", "content": corpus[i * 100:(i + 1) * 100 + 300]}]}) + "\n")
    with open(f"{work}/prompts.jsonl", "w") as f:
        for i in range(8):
            f.write(json.dumps({"id": f"p{i}", "prompt": f"def solve_{i}(xs):\n"}) + "\n")


def train_argv(ssd, work, out, threads, steps):
    argv = [ssd, "train", "--model", f"{work}/model", "--data", f"{work}/train.jsonl", "--out", out,
            "--max-seq-len", "256", "--micro-batch-tokens", "1024", "--batch-tokens", "1024", "--max-steps",
            str(steps), "--lr", "1e-4", "--no-progress", "--peak-flops", "0"]
    if threads:
        argv += ["--threads", str(threads)]
    return argv


def sample_argv(ssd, work, threads, max_tokens):
    argv = [ssd, "sample", "--model", f"{work}/model", "--prompts", f"{work}/prompts.jsonl", "--n", "2",
            "--max-tokens", str(max_tokens), "--ignore-eos", "--quiet", "--out", f"{work}/samples.jsonl"]
    if threads:
        argv += ["--threads", str(threads)]
    return argv


def train_rate(out):
    rows = [json.loads(l) for l in open(f"{out}/metrics.jsonl") if l.strip()]
    return statistics.median(r["tokens_per_s"] for r in rows[1:])


SAMPLED = re.compile(r"sampled .* in [0-9.]+ s \(([0-9]+) tok/s\)")


def sample_rate(stderr):
    m = SAMPLED.search(stderr)
    if not m:
        sys.exit(f"thread_policy_bench: no rate in `ssd sample` output:\n{stderr[-1000:]}")
    return float(m.group(1))


def alone_train(ssd, work, env, threads, steps):
    out = tempfile.mkdtemp(dir=work)
    run(train_argv(ssd, work, out, threads, steps), env=env)
    rate = train_rate(out)
    shutil.rmtree(out)
    return rate


def alone_sample(ssd, work, env, threads, max_tokens, runs):
    return statistics.median(
        sample_rate(run(sample_argv(ssd, work, threads, max_tokens), env=env).stderr) for _ in range(runs))


def together(ssd, work, env, threads, steps, max_tokens):
    """Trainer and a looping sampler side by side: (train tok/s, sample tok/s)."""
    out = tempfile.mkdtemp(dir=work)
    trainer = subprocess.Popen(train_argv(ssd, work, out, threads, steps), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    rates = []
    while True:
        s = subprocess.run(sample_argv(ssd, work, threads, max_tokens), env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if trainer.poll() is not None:
            break  # this sample run outlived the trainer: not side by side throughout
        rates.append(sample_rate(s.stderr))
    err = trainer.stderr.read()
    if trainer.wait() != 0:
        sys.exit(f"thread_policy_bench: trainer failed:\n{err[-2000:]}")
    rate = train_rate(out)
    shutil.rmtree(out)
    if not rates:
        sys.exit("thread_policy_bench: no sample run finished while the trainer ran; raise the steps")
    return rate, statistics.median(rates)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ssd", default="build/bin/ssd")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--policies", default="passive,spin-10000,threads-1",
                    help="besides default: passive, spin-N (GOMP_SPINCOUNT=N), threads-N")
    a = ap.parse_args()
    ssd = os.path.abspath(a.ssd)
    steps, max_tokens, sample_runs = (4, 16, 1) if a.smoke else (12, 96, 3)
    repeats = 1 if a.smoke else a.repeats
    work = tempfile.mkdtemp(prefix="thread_policy_bench.")
    try:
        setup(ssd, work, a.smoke)
        base_env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
        policies = []
        for name in ["default"] + [p for p in a.policies.split(",") if p and p != "default"]:
            if name == "default":
                policies.append((name, base_env, 0))
            elif name == "passive":
                policies.append((name, dict(base_env, OMP_WAIT_POLICY="PASSIVE"), 0))
            elif name.startswith("spin-"):
                policies.append((name, dict(base_env, GOMP_SPINCOUNT=name[len("spin-"):]), 0))
            elif name.startswith("threads-"):
                policies.append((name, base_env, int(name[len("threads-"):])))
            else:
                sys.exit(f"thread_policy_bench: unknown policy {name}")
        # ratio[(scenario, process)] = per-round values
        ratios, rates, loads = {}, {}, {}
        for rnd in range(repeats):
            ref_train = alone_train(ssd, work, base_env, 0, steps)
            ref_sample = alone_sample(ssd, work, base_env, 0, max_tokens, sample_runs)
            rates.setdefault(("alone", "default"), []).append((ref_train, ref_sample))
            for name, env, threads in policies:
                if name != "default":
                    loads.setdefault(("alone", name), []).append(load())
                    t = alone_train(ssd, work, env, threads, steps)
                    s = alone_sample(ssd, work, env, threads, max_tokens, sample_runs)
                    rates.setdefault(("alone", name), []).append((t, s))
                    ratios.setdefault(("alone", name), []).append((t / ref_train, s / ref_sample))
                loads.setdefault(("shared", name), []).append(load())
                t, s = together(ssd, work, env, threads, steps, max_tokens)
                rates.setdefault(("shared", name), []).append((t, s))
                ratios.setdefault(("shared", name), []).append((t / ref_train, s / ref_sample))
            print(f"round {rnd + 1}/{repeats} done (load {load():.2f})", file=sys.stderr)
        cores = os.cpu_count()
        print(f"thread_policy_bench: {cores} cores; train and sample alone with default threads are the 1.00x "
              f"reference of each round; medians of {repeats} rounds\n")
        print("| scenario | policy | train tok/s | x alone | sample tok/s | x alone | sum of x | load avg |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        med = statistics.median
        t0, s0 = zip(*rates[("alone", "default")])
        print(f"| alone | default | {med(t0):.0f} | 1.00x | {med(s0):.0f} | 1.00x | | |")
        for scenario in ("alone", "shared"):
            for name, _, _ in policies:
                key = (scenario, name)
                if key not in ratios:
                    continue
                tr, sr = zip(*ratios[key])
                ta, sa = zip(*rates[key])
                print(f"| {scenario} | {name} | {med(ta):.0f} | {med(tr):.2f}x | {med(sa):.0f} | {med(sr):.2f}x | "
                      f"{med(tr) + med(sr):.2f} | {med(loads[key]):.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
