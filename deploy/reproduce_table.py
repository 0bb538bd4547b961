#!/usr/bin/python3
"""The reproduction table: one SSD pipeline per seed, summarised.

  reproduce_table.py SEED_DIR... [--out TABLE.md] [--json SUMMARY.json]

Each SEED_DIR holds one finished pipeline (deploy/reproduce.sh makes them):
SEED_DIR/run/report.json is the quickstart report of that seed's job. For
every eval setting both models share (T_eval and truncation) and for each
model's chosen setting, it prints pass@1 and pass@5 of the base and of the
SSD model as the mean over seeds with a 95% confidence interval (Student's t
with n - 1 degrees of freedom over the per-seed values), the paired
difference SSD - base with its own interval, and the same for the hard
problems. Seeds are the unit of replication: the interval says how much the
whole pipeline (benchmark, base, SSD) moves from seed to seed, not the
sampling noise inside one run (each run's report.json has that).

A problem with an input is one line on stderr naming the file and the field,
and exit status 2.
"""

import argparse
import json
import math
import os
import sys

# Two-sided 95% quantiles of Student's t, t_{0.975, df}, for df = 1..30.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


class InputError(Exception):
    pass


def mean_ci(values):
    """(mean, half-width of the 95% t interval); the half-width is None for one value."""
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return m, None
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    t = T975[n - 2] if n - 1 <= len(T975) else 1.960
    return m, t * sd / math.sqrt(n)


def need(obj, key, kind, where):
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(f"{where}: missing field '{key}'")
    v = obj[key]
    if kind is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"{where}.{key}: must be a number, got {v!r}")
        return float(v)
    if not isinstance(v, kind):
        raise InputError(f"{where}.{key}: must be a {kind.__name__}, got {type(v).__name__}")
    return v


def pass_at(groups, group, k, where):
    """pass@k of one group in [0, 1]; None where the group has no problems or (k > 1) the job did not ask for k."""
    if group not in groups:
        if group == "overall":
            raise InputError(f"{where}: missing field 'overall'")
        return None
    g = need(groups, group, dict, where)
    if k != 1 and f"pass@{k}" not in g:
        return None  # a job whose eval.ks leaves out k: its column shows "-"
    v = need(need(g, f"pass@{k}", dict, f"{where}.{group}"), "value", float, f"{where}.{group}.pass@{k}")
    if not 0 <= v <= 1:
        raise InputError(f"{where}.{group}.pass@{k}.value: must be in [0, 1], got {v}")
    return v


def read_seed(seed_dir):
    """{setting label: {model: {metric: value}}} for one seed's report.json."""
    path = os.path.join(seed_dir, "run", "report.json")
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON: {e.msg} at line {e.lineno}")
    models = need(report, "models", dict, path)
    out = {}
    for name in ("base", "ssd"):
        m = need(models, name, dict, f"{path}: models")
        where = f"{path}: models.{name}"
        settings = need(m, "settings", list, where)
        rows = []
        for i, s in enumerate(settings):
            w = f"{where}.settings[{i}]"
            t = need(s, "temperature", float, w)
            trunc = need(s, "truncation_label", str, w)
            rows.append((f"{t:g}|{trunc}", need(s, "groups", dict, w), w))
        if m.get("chosen") is not None:
            c = need(m, "chosen", dict, where)
            rows.append(("chosen|chosen", need(c, "groups", dict, f"{where}.chosen"), f"{where}.chosen.groups"))
        for key, groups, w in rows:
            out.setdefault(key, {})[name] = {
                "p1": pass_at(groups, "overall", 1, w), "p5": pass_at(groups, "overall", 5, w),
                "hard_p1": pass_at(groups, "hard", 1, w)}
    return {k: v for k, v in out.items() if set(v) == {"base", "ssd"}}


def summarise(seed_dirs):
    per_seed = [read_seed(d) for d in seed_dirs]
    keys = [k for k in per_seed[0] if all(k in s for s in per_seed)]
    if not keys:
        raise InputError("the seeds share no eval setting: " + ", ".join(seed_dirs))
    rows = []
    for key in keys:
        row = {"setting": key, "seeds": len(per_seed)}
        for metric in ("p1", "p5", "hard_p1"):
            base = [s[key]["base"][metric] for s in per_seed]
            ssd = [s[key]["ssd"][metric] for s in per_seed]
            if None in base or None in ssd:
                continue
            row[metric] = {"base": mean_ci(base), "ssd": mean_ci(ssd),
                           "diff": mean_ci([b - a for a, b in zip(base, ssd)]),
                           "per_seed": {"base": base, "ssd": ssd}}
        rows.append(row)
    return rows


def cell(mc):
    m, h = mc
    return f"{100 * m:.1f}" if h is None else f"{100 * m:.1f} ± {100 * h:.1f}"


def diff_cell(mc):
    m, h = mc
    if h is None:
        return f"{100 * m:+.1f}"
    excludes = " *" if (m - h > 0 or m + h < 0) else ""
    return f"{100 * m:+.1f} ± {100 * h:.1f}{excludes}"


def label(key):
    t, trunc = key.split("|")
    if t == "chosen":
        return "chosen", "chosen"
    if float(t) == 0:
        return "0 (greedy)", trunc
    return (t if "." in t or "e" in t else t + ".0"), trunc


def format_table(rows, seed_dirs):
    lines = ["| T_eval | truncation | pass@1 base | pass@1 SSD | Δ pass@1 | pass@5 base | pass@5 SSD "
             "| Δ pass@5 | hard pass@1 base | hard pass@1 SSD | Δ hard |",
             "|" + "---|" * 11]
    for r in rows:
        t, trunc = label(r["setting"])
        cells = [t, trunc]
        for metric in ("p1", "p5", "hard_p1"):
            if metric in r:
                cells += [cell(r[metric]["base"]), cell(r[metric]["ssd"]), diff_cell(r[metric]["diff"])]
            else:
                cells += ["-", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    n = len(seed_dirs)
    lines.append("")
    lines.append(f"Mean over {n} seed{'s' if n != 1 else ''} ({', '.join(os.path.basename(os.path.normpath(d)) for d in seed_dirs)}) "
                 "in %, ± the half-width of the 95% t interval over seeds; Δ is the paired difference SSD - base, "
                 "* where its interval excludes 0.")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seed_dirs", nargs="+", metavar="SEED_DIR")
    ap.add_argument("--out", help="also write the table here (Markdown)")
    ap.add_argument("--json", help="also write the numbers here")
    a = ap.parse_args()
    try:
        rows = summarise(a.seed_dirs)
    except InputError as e:
        print(f"reproduce_table: {e}", file=sys.stderr)
        return 2
    table = format_table(rows, a.seed_dirs)
    print(table)
    outputs = []
    if a.out:
        outputs.append(("--out", a.out, table + "\n"))
    if a.json:
        outputs.append(("--json", a.json, json.dumps({"seeds": a.seed_dirs, "rows": rows}, indent=2) + "\n"))
    for flag, path, text in outputs:
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            print(f"reproduce_table: {flag} {path}: cannot write it: {e.strerror}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
