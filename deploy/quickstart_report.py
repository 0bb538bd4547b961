#!/usr/bin/python3
"""The quickstart's two helpers (deploy/quickstart.sh calls both).

  quickstart_report.py spec --spec S --output-dir D --out JOB.yaml
      writes the job spec S with its paths made absolute (they are relative
      to S) and its output_dir set to D, so that the job can run from any
      folder and write only under the quickstart's --out.

  quickstart_report.py report --job REPORT.json --out DIR
      reads the finished job (the JSON `ssd local` writes) and prints the
      before/after table: pass@1 and pass@5 of the base and the SSD model at
      every eval temperature and truncation, and at the setting each model
      chose on the tuning split (scored on the held-out split), with the
      easy/medium/hard breakdown. Writes DIR/report.json (the same numbers,
      for scripts), DIR/table.md and DIR/report.html (self-contained: inline
      SVG, no network assets).

Every input is checked; a problem is one line on stderr naming the file and
the field, and exit status 2.
"""

import argparse
import html
import json
import math
import os
import sys

try:
    import yaml
except ImportError:  # reported when the spec subcommand needs it
    yaml = None


class InputError(Exception):
    pass


# --- spec ---------------------------------------------------------------------


def absolute(base_dir, path):
    if not isinstance(path, str) or not path:
        return path
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))


def make_spec(args):
    if yaml is None:
        raise InputError("python3-yaml is missing (apt-get install python3-yaml, or run deploy/install-deps.sh)")
    try:
        with open(args.spec, encoding="utf-8") as f:
            spec = yaml.safe_load(f)
    except OSError as e:
        raise InputError(f"{args.spec}: {e.strerror}")
    except yaml.YAMLError as e:
        raise InputError(f"{args.spec}: not YAML: {e}")
    if not isinstance(spec, dict):
        raise InputError(f"{args.spec}: must be a mapping of job fields")
    base_dir = os.path.dirname(os.path.abspath(args.spec))
    for key in ("model", "problems"):
        if key not in spec:
            raise InputError(f"{args.spec}: {key}: required")
        spec[key] = absolute(base_dir, spec[key])
    ev = spec.get("eval")
    if isinstance(ev, dict) and "benchmark" in ev:
        ev["benchmark"] = absolute(base_dir, ev["benchmark"])
    spec["output_dir"] = os.path.abspath(args.output_dir)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"# {args.spec} with absolute paths, written by deploy/quickstart_report.py\n")
        yaml.safe_dump(spec, f, sort_keys=False)
    os.replace(tmp, args.out)


# --- report: reading the job ------------------------------------------------


def field(obj, key, kind, where):
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(f"{where}.{key}: missing")
    v = obj[key]
    if kind is float:
        if isinstance(v, str):  # proto3 JSON writes 64-bit integers as strings
            try:
                v = float(v)
            except ValueError:
                raise InputError(f"{where}.{key}: must be a number, got {v!r}")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"{where}.{key}: must be a number, got {v!r}")
        return float(v)
    if kind is int:
        if isinstance(v, str) and v.lstrip("-").isdigit():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError(f"{where}.{key}: must be an integer, got {v!r}")
        return v
    if not isinstance(v, kind):
        raise InputError(f"{where}.{key}: must be a {kind.__name__}, got {type(v).__name__}")
    return v


def truncation_label(t):
    parts = []
    if t["top_k"] > 0:
        parts.append(f"top_k {t['top_k']}")
    if t["top_p"] < 1:
        parts.append(f"top_p {t['top_p']:g}")
    if t["min_p"] > 0:
        parts.append(f"min_p {t['min_p']:g}")
    return ", ".join(parts) if parts else "none"


def read_truncation(obj, where):
    t = {
        "top_k": field(obj, "top_k", int, where),
        "top_p": field(obj, "top_p", float, where),
        "min_p": field(obj, "min_p", float, where),
    }
    t["label"] = truncation_label(t)
    return t


def read_groups(groups, where):
    """{group name: {"problems": n, "pass@k": {value, ci_low, ci_high}}}"""
    out = {}
    if not isinstance(groups, list):
        raise InputError(f"{where}: must be a list")
    for i, g in enumerate(groups):
        w = f"{where}[{i}]"
        entry = {"problems": field(g, "num_problems", int, w)}
        for j, p in enumerate(field(g, "pass_at_k", list, w)):
            pw = f"{w}.pass_at_k[{j}]"
            entry[f"pass@{field(p, 'k', int, pw)}"] = {
                "value": field(p, "value", float, pw),
                "ci_low": field(p, "ci_low", float, pw),
                "ci_high": field(p, "ci_high", float, pw),
            }
        out[field(g, "name", str, w)] = entry
    return out


def read_eval(ev, where):
    settings = []
    for i, t in enumerate(field(ev, "temperatures", list, where)):
        w = f"{where}.temperatures[{i}]"
        settings.append({
            "temperature": field(t, "temperature", float, w),
            "truncation": read_truncation(field(t, "truncation", dict, w), f"{w}.truncation"),
            "groups": read_groups(field(t, "groups", list, w), f"{w}.groups"),
        })
    chosen = None
    if not ev.get("note"):
        chosen = {
            "temperature": field(ev, "chosen_temperature", float, where),
            "truncation": read_truncation(field(ev, "chosen_truncation", dict, where), f"{where}.chosen_truncation"),
            "tune_problems": field(ev, "tune_problems", int, where),
            "held_out_problems": field(ev, "held_out_problems", int, where),
            "groups": read_groups(field(ev, "held_out_groups", list, where), f"{where}.held_out_groups"),
        }
    return {"settings": settings, "chosen": chosen, "note": ev.get("note", "")}


def read_loss_curve(model_path):
    """(step, loss) pairs of the trainer's metrics.jsonl beside the model; [] if none."""
    path = os.path.join(os.path.dirname(model_path), "metrics.jsonl")
    curve = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    m = json.loads(line)
                    curve.append((int(m["step"]), float(m["loss"])))
                except (ValueError, KeyError, TypeError):
                    raise InputError(f"{path}:{n}: not a metrics line with step and loss")
    except FileNotFoundError:
        return [], path
    return curve, path


def read_job(path):
    try:
        with open(path, encoding="utf-8") as f:
            job = json.load(f)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}")
    except ValueError as e:
        raise InputError(f"{path}: not JSON: {e}")
    if not isinstance(job, dict):
        raise InputError(f"{path}: must be a JSON object (a Job)")
    where = path
    state = field(job, "state", str, where)
    if state != "SUCCEEDED":
        raise InputError(f"{path}: state: the job is {state}, not SUCCEEDED: {job.get('error', '')}")
    evals = {}
    for i, ev in enumerate(field(job, "evals", list, where)):
        r = field(ev, "round", int, f"{where}.evals[{i}]")
        evals[r] = read_eval(ev, f"{where}.evals[{i}]")
    if 0 not in evals:
        raise InputError(f"{path}: evals: no report of the base model (round 0); set eval.base: true")
    rounds = field(job, "rounds", list, where)
    if not rounds:
        raise InputError(f"{path}: rounds: empty, the job trained nothing")
    last = rounds[-1]
    rw = f"{where}.rounds[{len(rounds) - 1}]"
    r = field(last, "round", int, rw)
    if r not in evals:
        raise InputError(f"{path}: evals: no report of round {r}, the SSD model")
    flt = field(last, "filter", dict, rw)
    fw = f"{rw}.filter"
    model_path = field(last, "model_path", str, rw)
    curve, curve_path = read_loss_curve(model_path)
    return {
        "job_id": field(job, "id", str, where),
        "round": r,
        "model_path": model_path,
        "samples": field(last, "samples", int, rw),
        "train_steps": field(last, "train_steps", int, rw),
        "final_loss": field(last, "final_loss", float, rw),
        "filter": {
            "total": field(flt, "total", int, fw),
            "dropped_empty": field(flt, "dropped_empty", int, fw),
            "dropped_single_line": field(flt, "dropped_single_line", int, fw),
            "dropped_short": field(flt, "dropped_short", int, fw),
            "survivors": field(flt, "survivors", int, fw),
            "cut_length": field(flt, "cut_length", int, fw) if flt.get("has_cut") else None,
            "length_unit": "tokens" if flt.get("length_unit") == "TOKENS" else "chars",
            "histogram_min": field(flt, "histogram_min", int, fw),
            "histogram_width": field(flt, "histogram_width", int, fw),
            "histogram_counts": [int(c) for c in flt.get("histogram_counts", [])],
        },
        "loss_curve": curve,
        "loss_curve_path": curve_path,
        "base": evals[0],
        "ssd": evals[r],
    }


# --- report: the table --------------------------------------------------------

DIFFICULTIES = ("easy", "medium", "hard")


def pct(e):
    return "-" if e is None else f"{100 * e['value']:.1f}"


def pct_ci(e):
    return "-" if e is None else f"{100 * e['value']:.1f} [{100 * e['ci_low']:.1f}, {100 * e['ci_high']:.1f}]"


def metric(groups, group, k):
    return groups.get(group, {}).get(f"pass@{k}")


def temp_label(t):
    if t == 0:
        return "0 (greedy)"
    label = f"{t:g}"
    return label if "." in label or "e" in label else label + ".0"


def table_rows(run):
    """(label, truncation label, base groups, ssd groups, note) per row."""
    rows = []
    ssd_by = {(s["temperature"], s["truncation"]["label"]): s for s in run["ssd"]["settings"]}
    for s in run["base"]["settings"]:
        key = (s["temperature"], s["truncation"]["label"])
        if key in ssd_by:
            rows.append((temp_label(s["temperature"]), s["truncation"]["label"], s["groups"], ssd_by[key]["groups"], ""))
    b, t = run["base"]["chosen"], run["ssd"]["chosen"]
    if b and t:
        rows.append(("chosen", "chosen", b["groups"], t["groups"],
                     f"base: T {b['temperature']:g}, {b['truncation']['label']}; "
                     f"SSD: T {t['temperature']:g}, {t['truncation']['label']}; "
                     f"chosen on {b['tune_problems']} tuning problems, scored on {b['held_out_problems']} held-out ones"))
    return rows


def format_table(run):
    head = ("| T_eval | truncation | pass@1 base | pass@1 SSD | Δ | pass@5 base | pass@5 SSD | "
            + " | ".join(f"{d} pass@1 base → SSD" for d in DIFFICULTIES) + " |")
    lines = [head, "|" + "---|" * (7 + len(DIFFICULTIES))]
    notes = []
    for label, trunc, b, s, note in table_rows(run):
        b1, s1 = metric(b, "overall", 1), metric(s, "overall", 1)
        delta = "-" if b1 is None or s1 is None else f"{100 * (s1['value'] - b1['value']):+.1f}"
        cells = [label, trunc, pct_ci(b1), pct_ci(s1), delta, pct(metric(b, "overall", 5)),
                 pct(metric(s, "overall", 5))]
        for d in DIFFICULTIES:
            cells.append(f"{pct(metric(b, d, 1))} → {pct(metric(s, d, 1))}")
        lines.append("| " + " | ".join(cells) + " |")
        if note:
            notes.append(note)
    n_all = next(iter(run["base"]["settings"][0]["groups"].values()))["problems"] if run["base"]["settings"] else 0
    lines.append("")
    lines.append(f"pass@k in %, [95% CI]. Fixed settings: all {n_all} eval problems. "
                 + (f"Chosen rows: {notes[0]}." if notes else
                    f"No setting was chosen: {run['base']['note'] or run['ssd']['note']}"))
    return "\n".join(lines)


def report_json(run):
    def setting_out(s):
        return {"temperature": s["temperature"],
                "truncation": {k: s["truncation"][k] for k in ("top_k", "top_p", "min_p")},
                "truncation_label": s["truncation"]["label"], "groups": s["groups"]}

    out = {"job_id": run["job_id"], "distilled_model": run["model_path"], "round": run["round"],
           "samples": run["samples"], "filter": run["filter"], "train_steps": run["train_steps"],
           "final_loss": run["final_loss"], "models": {}}
    for name in ("base", "ssd"):
        ev = run[name]
        chosen = None
        if ev["chosen"]:
            c = ev["chosen"]
            chosen = setting_out(c)
            chosen.update(tune_problems=c["tune_problems"], held_out_problems=c["held_out_problems"])
        out["models"][name] = {"settings": [setting_out(s) for s in ev["settings"]], "chosen": chosen,
                               "note": ev["note"]}
    return out


# --- report: the page ---------------------------------------------------------

COLORS = {"base": "#6b7280", "ssd": "#2563eb"}


def svg_frame(width, height, title, x_label, y_label, x_ticks, y_ticks, body):
    """An SVG chart: plot area [60, width-20] x [30, height-40]; body draws in it."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<title>{html.escape(title)}</title>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-weight="bold">{html.escape(title)}</text>',
             f'<line x1="60" y1="{height - 40}" x2="{width - 20}" y2="{height - 40}" stroke="black"/>',
             f'<line x1="60" y1="30" x2="60" y2="{height - 40}" stroke="black"/>',
             f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle">{html.escape(x_label)}</text>',
             f'<text x="14" y="{height / 2}" text-anchor="middle" transform="rotate(-90 14 {height / 2})">'
             f'{html.escape(y_label)}</text>']
    for x, label in x_ticks:
        parts.append(f'<text x="{x:.1f}" y="{height - 24}" text-anchor="middle" font-size="11">{html.escape(label)}</text>')
    for y, label in y_ticks:
        parts.append(f'<line x1="56" y1="{y:.1f}" x2="{width - 20}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="52" y="{y + 4:.1f}" text-anchor="end" font-size="11">{html.escape(label)}</text>')
    parts.extend(body)
    parts.append("</svg>")
    return "\n".join(parts)


def scale(lo, hi, a, b):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def chart_pass_vs_temperature(run, width=560, height=360):
    temps = sorted({s["temperature"] for s in run["base"]["settings"]})
    truncs = []
    for s in run["base"]["settings"]:
        if s["truncation"]["label"] not in truncs:
            truncs.append(s["truncation"]["label"])
    sx = scale(min(temps), max(temps), 90, width - 50)
    sy = scale(0, 1, height - 40, 110)  # the legend sits above the plot
    body = []
    legend_y = 34
    for name in ("base", "ssd"):
        for ti, tl in enumerate(truncs):
            pts = []
            for s in run[name]["settings"]:
                if s["truncation"]["label"] != tl:
                    continue
                e = metric(s["groups"], "overall", 1)
                if e:
                    pts.append((s["temperature"], e))
            pts.sort(key=lambda p: p[0])
            dash = ' stroke-dasharray="6 4"' if ti else ""
            color = COLORS[name]
            if len(pts) > 1:
                d = " ".join(f"{sx(t):.1f},{sy(e['value']):.1f}" for t, e in pts)
                body.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
            for t, e in pts:
                body.append(f'<line x1="{sx(t):.1f}" y1="{sy(e["ci_low"]):.1f}" x2="{sx(t):.1f}" '
                            f'y2="{sy(e["ci_high"]):.1f}" stroke="{color}" opacity="0.5"/>')
                body.append(f'<circle cx="{sx(t):.1f}" cy="{sy(e["value"]):.1f}" r="3.5" fill="{color}">'
                            f'<title>{name} T {t:g} {html.escape(tl)}: {pct_ci(e)}</title></circle>')
            label = f"{'SSD' if name == 'ssd' else 'base'}, truncation {tl}"
            body.append(f'<line x1="80" y1="{legend_y}" x2="110" y2="{legend_y}" '
                        f'stroke="{color}" stroke-width="2"{dash}/>')
            body.append(f'<text x="116" y="{legend_y + 4}" font-size="11">{html.escape(label)}</text>')
            legend_y += 16
    return svg_frame(width, height, "pass@1 against the eval temperature", "T_eval", "pass@1",
                     [(sx(t), f"{t:g}") for t in temps], [(sy(v / 100), f"{v}%") for v in range(0, 101, 20)], body)


def chart_difficulty(run, width=560, height=300):
    groups = []  # (label, base groups, ssd groups)
    for label, trunc, b, s, _ in table_rows(run):
        if label == "chosen":
            groups.append(("each model's chosen setting (held-out)", b, s))
        elif label == "1.0" and trunc == "none":
            groups.append(("T 1.0, no truncation", b, s))
    names = [d for d in DIFFICULTIES if any(d in b or d in s for _, b, s in groups)]
    slots = [(g, d) for g in groups for d in names]
    body = []
    sy = scale(0, 1, height - 60, 30)
    slot_w = (width - 80) / max(1, len(slots))
    for i, ((glabel, b, s), d) in enumerate(slots):
        x0 = 60 + i * slot_w + slot_w * 0.15
        bw = slot_w * 0.35
        for j, (name, gs) in enumerate((("base", b), ("ssd", s))):
            e = metric(gs, d, 1)
            if e is None:
                continue
            y = sy(e["value"])
            body.append(f'<rect x="{x0 + j * bw:.1f}" y="{y:.1f}" width="{bw - 2:.1f}" height="{sy(0) - y:.1f}" '
                        f'fill="{COLORS[name]}"><title>{html.escape(glabel)}, {d}, {name}: {pct_ci(e)}</title></rect>')
        body.append(f'<text x="{x0 + bw:.1f}" y="{height - 46}" text-anchor="middle" font-size="11">{d}</text>')
    for gi, (glabel, _, _) in enumerate(groups):
        mid = 60 + (gi + 0.5) * slot_w * len(names)
        body.append(f'<text x="{mid:.1f}" y="{height - 30}" text-anchor="middle" font-size="11">'
                    f'{html.escape(glabel)}</text>')
    body.append(f'<rect x="{width - 120}" y="34" width="10" height="10" fill="{COLORS["base"]}"/>'
                f'<text x="{width - 105}" y="43" font-size="11">base</text>')
    body.append(f'<rect x="{width - 120}" y="50" width="10" height="10" fill="{COLORS["ssd"]}"/>'
                f'<text x="{width - 105}" y="59" font-size="11">SSD</text>')
    frame = svg_frame(width, height, "pass@1 by difficulty", "", "pass@1", [],
                      [(sy(v / 100), f"{v}%") for v in range(0, 101, 20)], body)
    return frame.replace(f'y1="{height - 40}" x2="{width - 20}" y2="{height - 40}"',
                         f'y1="{height - 60}" x2="{width - 20}" y2="{height - 60}"', 1)


def chart_loss(run, width=560, height=280):
    curve = run["loss_curve"]
    if not curve:
        return f"<p>No training loss curve: {html.escape(run['loss_curve_path'])} was not found.</p>"
    steps = [s for s, _ in curve]
    losses = [l for _, l in curve if math.isfinite(l)]
    lo, hi = (min(losses), max(losses)) if losses else (0, 1)
    pad = (hi - lo) * 0.1 or 0.1
    sx = scale(min(steps), max(steps), 70, width - 30)
    sy = scale(lo - pad, hi + pad, height - 40, 30)
    d = " ".join(f"{sx(s):.1f},{sy(l):.1f}" for s, l in curve if math.isfinite(l))
    body = [f'<polyline points="{d}" fill="none" stroke="{COLORS["ssd"]}" stroke-width="2"/>']
    ticks_x = sorted({min(steps), max(steps), (min(steps) + max(steps)) // 2})
    ticks_y = [lo - pad + i * (hi - lo + 2 * pad) / 4 for i in range(5)]
    return svg_frame(width, height, "SFT loss on the model's own samples", "optimizer step", "loss",
                     [(sx(s), str(s)) for s in ticks_x], [(sy(v), f"{v:.2f}") for v in ticks_y], body)


def chart_histogram(run, width=560, height=280):
    f = run["filter"]
    counts = f["histogram_counts"]
    if not counts:
        return "<p>No length histogram: the filter kept no sample.</p>"
    lo, w = f["histogram_min"], max(1, f["histogram_width"])
    hi = lo + w * len(counts)
    sx = scale(lo, hi, 60, width - 20)
    sy = scale(0, max(counts), height - 40, 30)
    body = []
    for b, c in enumerate(counts):
        x0, x1 = sx(lo + b * w), sx(lo + (b + 1) * w)
        cut = f["cut_length"] is not None and lo + (b + 1) * w <= f["cut_length"]
        body.append(f'<rect x="{x0:.1f}" y="{sy(c):.1f}" width="{max(0.5, x1 - x0 - 1):.1f}" '
                    f'height="{sy(0) - sy(c):.1f}" fill="{"#d1d5db" if cut else COLORS["ssd"]}">'
                    f'<title>[{lo + b * w}, {lo + (b + 1) * w}): {c}</title></rect>')
    if f["cut_length"] is not None:
        x = sx(f["cut_length"])
        body.append(f'<line x1="{x:.1f}" y1="30" x2="{x:.1f}" y2="{height - 40}" stroke="#dc2626" stroke-width="2"/>')
        body.append(f'<text x="{x + 4:.1f}" y="44" font-size="11" fill="#dc2626">cut at {f["cut_length"]} '
                    f'({f["dropped_short"]} dropped)</text>')
    ticks = [lo + i * (hi - lo) // 4 for i in range(5)]
    yt = sorted({0, max(counts) // 2, max(counts)})
    return svg_frame(width, height, "sample lengths and the filter's length cut",
                     f"length ({f['length_unit']})", "samples", [(sx(t), str(t)) for t in ticks],
                     [(sy(c), str(c)) for c in yt], body)


def markdown_to_html_table(md):
    lines = [l for l in md.splitlines() if l.startswith("|")]
    out = ["<table>"]
    for i, line in enumerate(lines):
        if i == 1:
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        tag = "th" if i == 0 else "td"
        out.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
    out.append("</table>")
    rest = [l for l in md.splitlines() if l and not l.startswith("|")]
    return "\n".join(out) + "".join(f"<p>{html.escape(l)}</p>" for l in rest)


def report_html(run, table):
    f = run["filter"]
    summary = (f"{run['samples']} samples of the model's own, unchecked; the filter dropped {f['dropped_empty']} "
               f"empty, {f['dropped_single_line']} single-line and {f['dropped_short']} short ones and kept "
               f"{f['survivors']}; SFT ran {run['train_steps']} steps (final loss {run['final_loss']:.3f}).")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ssd quickstart: one SSD round</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #d1d5db;padding:3px 6px;text-align:right}}
.charts{{display:flex;flex-wrap:wrap;gap:16px}}</style></head>
<body>
<h1>One round of Simple Self-Distillation</h1>
<p>Job {html.escape(run['job_id'])}. {html.escape(summary)}</p>
<p>Distilled model: <code>{html.escape(run['model_path'])}</code></p>
<h2>Before and after</h2>
{markdown_to_html_table(table)}
<div class="charts">
{chart_pass_vs_temperature(run)}
{chart_difficulty(run)}
{chart_loss(run)}
{chart_histogram(run)}
</div>
</body></html>
"""


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def make_report(args):
    run = read_job(args.job)
    table = format_table(run)
    os.makedirs(args.out, exist_ok=True)
    paths = {name: os.path.join(args.out, name) for name in ("report.json", "table.md", "report.html")}
    write_atomically(paths["report.json"], json.dumps(report_json(run), indent=2) + "\n")
    write_atomically(paths["table.md"], table + "\n")
    write_atomically(paths["report.html"], report_html(run, table))
    print(table)
    print()
    print(f"distilled model: {run['model_path']}")
    for name, p in paths.items():
        print(f"{name}: {p}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("spec", help="the job spec with absolute paths")
    s.add_argument("--spec", required=True)
    s.add_argument("--output-dir", required=True)
    s.add_argument("--out", required=True)
    r = sub.add_parser("report", help="the table, report.json and report.html")
    r.add_argument("--job", required=True)
    r.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        (make_spec if args.command == "spec" else make_report)(args)
    except InputError as e:
        print(f"quickstart_report: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
