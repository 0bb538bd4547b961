"""deploy/reproduce.sh end to end at a few seconds' size: two seeds, each with
its own tiny-code benchmark, its own base built by deploy/make-base.sh (one
layer, 32 wide, one epoch) and its own SSD job on a real local cluster
(deploy/quickstart.sh), then the table over the seeds. A second run resumes
without redoing anything, and bad flags are named before any work.

  SSD_BIN=build/bin/ssd /usr/bin/python3 tests/deploy/reproduce_test.py   # ctest: reproduce_test
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

SRC = os.environ.get("SSD_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(SRC, "deploy", "reproduce.sh")
SSD = os.environ.get("SSD_BIN", os.path.join(SRC, "build", "bin", "ssd"))
sys.path.insert(0, os.path.join(SRC, "tests", "testing"))
from prerequisites import needs  # noqa: E402

# The quickstart's settings at a size that runs in seconds.
JOB = """name: reproduce-test
model: unused
problems: unused
shard_size: 10
sampling: {temperature: 1.5, top_k: 20, top_p: 0.8, n: 1, max_tokens: 64, seed: 99}
filter: {drop_empty: true, drop_shortest_percent: 10}
train: {epochs: 1, lr: 3.0e-4, warmup_steps: 1, max_seq_len: 1024, micro_batch_tokens: 1024, batch_tokens: 2048, trainers: 2, seed: 99}
eval:
  benchmark: unused
  n: 2
  ks: [1, 2]
  max_tokens: 64
  temperatures: [0, 1.0]
  truncations: [{}, {top_k: 20, top_p: 0.8}]
  held_out_fraction: 0.5
  shard_size: 4
  base: true
"""

# make-base.sh at make_base_test's size.
BASE_FLAGS = ("--vocab 600 --hidden 32 --layers 1 --heads 2 --kv-heads 1 --intermediate 64 --epochs 1 "
              "--threads 1 --batch-tokens 2048 --micro-batch-tokens 1024 --max-seq-len 1024 --tail-epochs 1")


def slurp(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


@needs(os.access(SSD, os.X_OK), f"{SSD} is not built")
class ReproduceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ssd_reproduce_")
        cls.out = os.path.join(cls.tmp.name, "out")
        cls.spec = os.path.join(cls.tmp.name, "job.yaml")
        with open(cls.spec, "w") as f:
            f.write(JOB)
        start = time.monotonic()
        # Each base also trains on 20 extra problems that the job does not sample.
        cls.first = cls.reproduce("--seeds", "1,2", "--extra", "20")
        cls.first_s = time.monotonic() - start

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def reproduce(cls, *flags, out=None, timeout=900):
        argv = [SCRIPT, "--out", out or cls.out, "--spec", cls.spec, "--train", "30", "--eval", "12",
                "--base-flags", BASE_FLAGS, *flags]
        env = dict(os.environ, SSD_BIN=SSD)
        # Its own process group, so that a timeout kills the whole tree.
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            stdout, stderr = p.communicate()
            raise AssertionError(f"reproduce.sh ran past {timeout} s:\n{stdout}\n{stderr}")
        finally:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
        return subprocess.CompletedProcess(argv, p.returncode, stdout, stderr)

    def seed_dir(self, s):
        return os.path.join(self.out, f"seed-{s}")

    def test_each_seed_ran_every_stage_with_its_own_benchmark_base_and_seeds(self):
        r = self.first
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for s in (1, 2):
            d = self.seed_dir(s)
            for stage in ("1/3 tiny-code", "2/3 base", "3/3 the SSD job", "done in"):
                self.assertIn(f"seed {s}: {stage}" if "/" in stage else f"seed {s} {stage}", r.stdout)
            self.assertEqual(len(slurp(os.path.join(d, "tiny-code", "train.jsonl")).splitlines()), 30)
            self.assertEqual(len(slurp(os.path.join(d, "tiny-code", "eval.jsonl")).splitlines()), 12)
            self.assertEqual(len(slurp(os.path.join(d, "tiny-code", "extra.jsonl")).splitlines()), 20)
            base_log = slurp(os.path.join(d, "base.log"))
            self.assertIn("training on train.jsonl and extra.jsonl", base_log)
            self.assertIn("sft-references: 50 conversations", base_log)
            self.assertTrue(os.path.getsize(os.path.join(d, "base", "bf16", "model.safetensors")) > 0)
            job = slurp(os.path.join(d, "job.yaml"))
            self.assertIn(os.path.join(d, "base", "bf16"), job)
            self.assertIn(os.path.join(d, "tiny-code", "eval.jsonl"), job)
            self.assertEqual(job.count(f"seed: {s}\n"), 2, job)
            report = json.loads(slurp(os.path.join(d, "run", "report.json")))
            self.assertEqual(set(report["models"]), {"base", "ssd"})
            # The run's eval read this seed's benchmark: 12 problems.
            setting = report["models"]["base"]["settings"][0]
            self.assertEqual(setting["groups"]["overall"]["problems"], 12)
        # The seed changes the benchmark and the base.
        self.assertNotEqual(slurp(os.path.join(self.seed_dir(1), "tiny-code", "train.jsonl")),
                            slurp(os.path.join(self.seed_dir(2), "tiny-code", "train.jsonl")))
        self.assertNotEqual(slurp(os.path.join(self.seed_dir(1), "base", "bf16", "model.safetensors"), "rb"),
                            slurp(os.path.join(self.seed_dir(2), "base", "bf16", "model.safetensors"), "rb"))

    def test_the_table_averages_both_seeds(self):
        self.assertEqual(self.first.returncode, 0, self.first.stderr)
        table = slurp(os.path.join(self.out, "table.md"))
        self.assertIn("Mean over 2 seeds (seed-1, seed-2)", table)
        for row in ("| 0 (greedy) | none |", "| 1.0 | none |", "| chosen | chosen |"):
            self.assertIn(row, table)
        summary = json.loads(slurp(os.path.join(self.out, "summary.json")))
        self.assertEqual([os.path.basename(d) for d in summary["seeds"]], ["seed-1", "seed-2"])
        for row in summary["rows"]:
            self.assertEqual(len(row["p1"]["per_seed"]["base"]), 2, row["setting"])
        # Each seed's value is its own report's.
        for s, d in ((0, self.seed_dir(1)), (1, self.seed_dir(2))):
            report = json.loads(slurp(os.path.join(d, "run", "report.json")))
            greedy = next(x for x in report["models"]["ssd"]["settings"]
                          if x["temperature"] == 0 and x["truncation_label"] == "none")
            row = next(x for x in summary["rows"] if x["setting"].startswith("0") and x["setting"].endswith("|none"))
            self.assertAlmostEqual(row["p1"]["per_seed"]["ssd"][s], greedy["groups"]["overall"]["pass@1"]["value"])

    def test_a_second_run_resumes_without_redoing_a_seed(self):
        self.assertEqual(self.first.returncode, 0, self.first.stderr)
        stamp = os.path.getmtime(os.path.join(self.seed_dir(1), "run", "report.json"))
        start = time.monotonic()
        r = self.reproduce("--seeds", "1,2")
        again_s = time.monotonic() - start
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("seed 1 already done", r.stdout)
        self.assertIn("seed 2 already done", r.stdout)
        self.assertNotIn("2/3 base", r.stdout)
        self.assertEqual(os.path.getmtime(os.path.join(self.seed_dir(1), "run", "report.json")), stamp)
        self.assertLess(again_s, self.first_s / 4, r.stdout)

    def test_a_built_base_is_reused_when_only_the_job_is_missing(self):
        self.assertEqual(self.first.returncode, 0, self.first.stderr)
        out = os.path.join(self.tmp.name, "partial")
        base = os.path.join(out, "seed-2", "base")
        os.makedirs(os.path.dirname(base))
        subprocess.run(["cp", "-r", os.path.join(self.seed_dir(2), "base"), base], check=True)
        r = self.reproduce("--seeds", "2", out=out)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("seed 2: 2/3 base already built", r.stdout)
        self.assertIn("seed 2: 3/3 the SSD job", r.stdout)
        self.assertTrue(os.path.exists(os.path.join(out, "table.md")))

    def test_bad_flags_are_named_before_any_work(self):
        out = os.path.join(self.tmp.name, "never")
        cases = [(["--seeds", "1,x"], "--seeds"),
                 (["--train", "0"], "--train"),
                 (["--eval", "many"], "--eval"),
                 (["--extra", "-3"], "--extra: a whole number"),
                 (["--reuse-committed", "--extra", "5"], "--reuse-committed: the committed base was made with"),
                 (["--spec", os.path.join(self.tmp.name, "missing.yaml")], "missing.yaml: no such file"),
                 (["--reuse-committed"], "--reuse-committed: the committed base was made with"),
                 (["--frobnicate"], "unknown option: --frobnicate")]
        for flags, message in cases:
            with self.subTest(flags=flags):
                r = self.reproduce(*flags, out=out, timeout=60)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(message, r.stderr)
                self.assertFalse(os.path.exists(out))

    def test_a_broken_spec_is_named_before_any_seed_starts(self):
        # Checked before the first seed's benchmark and base, which take most
        # of an hour at the default size.
        cases = [("name: x\n", "eval: must be a mapping"),
                 ("- a list\n", "must be a mapping of job fields, got list"),
                 ("eval: {n: 2\n", "not a readable YAML file"),
                 ("eval: {n: 2}\n", "eval.base: must be true"),
                 ("eval: {base: true}\nsampling: [1]\n", "sampling: must be a mapping, got list"),
                 ("eval: {base: true}\ntrain: 3\n", "train: must be a mapping, got int")]
        for i, (text, message) in enumerate(cases):
            with self.subTest(spec=text):
                spec = os.path.join(self.tmp.name, f"broken-{i}.yaml")
                with open(spec, "w") as f:
                    f.write(text)
                out = os.path.join(self.tmp.name, f"broken-{i}")
                argv = [SCRIPT, "--out", out, "--spec", spec, "--train", "30", "--eval", "12",
                        "--base-flags", BASE_FLAGS, "--seeds", "1"]
                r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                   env=dict(os.environ, SSD_BIN=SSD))
                self.assertNotEqual(r.returncode, 0)
                self.assertIn(f"{spec}: {message}", r.stderr)
                self.assertIn(f"--spec {spec}", r.stderr)
                self.assertFalse(os.path.exists(out), "nothing may be made for a broken spec")


if __name__ == "__main__":
    unittest.main(verbosity=2)
