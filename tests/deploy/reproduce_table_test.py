"""deploy/reproduce_table.py on hand-made seed folders: the mean and the 95%
t interval over seeds against values worked out by hand, the paired
difference, and a clear error for each broken input.

  /usr/bin/python3 tests/deploy/reproduce_table_test.py     # ctest: reproduce_table_test
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SRC = os.environ.get("SSD_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(SRC, "deploy", "reproduce_table.py")


def groups(p1, p5, hard=None):
    g = {"overall": {"pass@1": {"value": p1, "ci_low": 0, "ci_high": 1},
                     "pass@5": {"value": p5, "ci_low": 0, "ci_high": 1}, "problems": 200}}
    if hard is not None:
        g["hard"] = {"pass@1": {"value": hard, "ci_low": 0, "ci_high": 1},
                     "pass@5": {"value": hard, "ci_low": 0, "ci_high": 1}, "problems": 50}
    return g


def report(base_p1, ssd_p1, chosen=True):
    def model(p1):
        settings = [{"temperature": 1.0, "truncation": {"top_k": 0, "top_p": 1, "min_p": 0},
                     "truncation_label": "none", "groups": groups(p1, min(1, p1 + 0.2), hard=p1 / 2)},
                    {"temperature": 0, "truncation": {"top_k": 0, "top_p": 1, "min_p": 0},
                     "truncation_label": "none", "groups": groups(0.5, 0.5)}]
        c = {"temperature": 0, "truncation": {}, "truncation_label": "none", "groups": groups(p1, p1),
             "tune_problems": 100, "held_out_problems": 100} if chosen else None
        return {"settings": settings, "chosen": c, "note": ""}
    return {"models": {"base": model(base_p1), "ssd": model(ssd_p1)}}


class ReproduceTableTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def seed(self, name, content):
        d = os.path.join(self.tmp.name, name)
        os.makedirs(os.path.join(d, "run"))
        with open(os.path.join(d, "run", "report.json"), "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return d

    def run_script(self, *dirs):
        out = os.path.join(self.tmp.name, "summary.json")
        r = subprocess.run([sys.executable, SCRIPT, *dirs, "--json", out], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            return r, None
        with open(out) as f:
            return r, json.load(f)

    def test_three_seeds_give_the_mean_and_the_t_interval_worked_out_by_hand(self):
        # base 0.1, 0.2, 0.3; SSD 0.3, 0.5, 0.4. Base: mean 0.2, sd 0.1,
        # half-width 4.303 * 0.1 / sqrt(3) = 0.24844. Differences 0.2, 0.3,
        # 0.1: mean 0.2, the same half-width.
        dirs = [self.seed(f"seed-{i}", report(b, s)) for i, (b, s) in enumerate([(0.1, 0.3), (0.2, 0.5), (0.3, 0.4)])]
        r, summary = self.run_script(*dirs)
        self.assertEqual(r.returncode, 0, r.stderr)
        row = next(x for x in summary["rows"] if x["setting"] == "1|none")
        self.assertAlmostEqual(row["p1"]["base"][0], 0.2)
        self.assertAlmostEqual(row["p1"]["base"][1], 0.24844, places=4)
        self.assertAlmostEqual(row["p1"]["ssd"][0], 0.4)
        self.assertAlmostEqual(row["p1"]["diff"][0], 0.2)
        self.assertAlmostEqual(row["p1"]["diff"][1], 0.24844, places=4)
        self.assertAlmostEqual(row["hard_p1"]["base"][0], 0.1)
        self.assertIn("| 1.0 | none | 20.0 ± 24.8 | 40.0 ± 24.8 | +20.0 ± 24.8 |", r.stdout)
        self.assertIn("| chosen | chosen |", r.stdout)
        # The greedy row has no hard group: its hard cells are dashes.
        self.assertIn("| 0 (greedy) | none | 50.0 ± 0.0 | 50.0 ± 0.0 | +0.0 ± 0.0 | 50.0 ± 0.0 | 50.0 ± 0.0 "
                      "| +0.0 ± 0.0 | - | - | - |", r.stdout)

    def test_a_difference_whose_interval_excludes_zero_is_starred(self):
        dirs = [self.seed(f"s{i}", report(b, b + d)) for i, (b, d) in enumerate([(0.2, 0.20), (0.25, 0.22), (0.3, 0.18)])]
        r, _ = self.run_script(*dirs)
        self.assertEqual(r.returncode, 0, r.stderr)
        line = next(l for l in r.stdout.splitlines() if l.startswith("| 1.0 | none"))
        self.assertIn("+20.0 ± 5.0 *", line)

    def test_one_seed_has_no_interval(self):
        r, summary = self.run_script(self.seed("only", report(0.2, 0.4)))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIsNone(summary["rows"][0]["p1"]["base"][1])
        self.assertIn("| 1.0 | none | 20.0 | 40.0 | +20.0 |", r.stdout)

    def test_a_seed_without_a_chosen_setting_drops_the_chosen_row(self):
        r, _ = self.run_script(self.seed("a", report(0.2, 0.4)), self.seed("b", report(0.2, 0.4, chosen=False)))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("| chosen |", r.stdout)

    def test_a_job_without_pass_at_5_leaves_its_columns_dashed(self):
        rep = report(0.2, 0.4)
        for m in rep["models"].values():
            for s in m["settings"] + [m["chosen"]]:
                for g in s["groups"].values():
                    del g["pass@5"]
        r, summary = self.run_script(self.seed("a", rep), self.seed("b", rep))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("p5", summary["rows"][0])
        self.assertIn("| 1.0 | none | 20.0 ± 0.0 | 40.0 ± 0.0 | +20.0 ± 0.0 * | - | - | - |", r.stdout)

    def test_broken_inputs_name_the_file_and_the_field(self):
        bad_value = report(0.2, 0.4)
        bad_value["models"]["ssd"]["settings"][0]["groups"]["overall"]["pass@1"]["value"] = "high"
        out_of_range = report(0.2, 0.4)
        out_of_range["models"]["base"]["settings"][1]["groups"]["overall"]["pass@5"]["value"] = 1.5
        no_ssd = report(0.2, 0.4)
        del no_ssd["models"]["ssd"]
        cases = [
            (self.seed("notjson", "{"), "notjson/run/report.json: not JSON"),
            (self.seed("value", bad_value), "models.ssd.settings[0].overall.pass@1.value: must be a number"),
            (self.seed("range", out_of_range), "models.base.settings[1].overall.pass@5.value: must be in [0, 1]"),
            (self.seed("nossd", no_ssd), "models: missing field 'ssd'"),
            (os.path.join(self.tmp.name, "absent"), "absent/run/report.json: No such file"),
        ]
        for d, message in cases:
            r, _ = self.run_script(d)
            self.assertEqual(r.returncode, 2, d)
            self.assertIn(message, r.stderr, d)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_an_unwritable_output_is_named_not_a_traceback(self):
        d = self.seed("ok", report(0.2, 0.4))
        cases = [("--out", os.path.join(self.tmp.name, "no-such-dir", "table.md")),
                 ("--json", self.tmp.name)]  # a folder, not a file
        for flag, path in cases:
            with self.subTest(flag=flag):
                r = subprocess.run([sys.executable, SCRIPT, d, flag, path], capture_output=True, text=True,
                                   timeout=60)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(f"reproduce_table: {flag} {path}: cannot write it", r.stderr)
                self.assertNotIn("Traceback", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
