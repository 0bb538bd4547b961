#!/usr/bin/python3
"""The README's CLI reference against the binary: every subcommand that
`ssd --help` lists (a group such as `model` by its own subcommands, `model
init` ...) has one row in the table under "## CLI reference", and every row
names a subcommand that exists.

  /usr/bin/python3 tests/layout/cli_reference.py --ssd build/bin/ssd --readme README.md

Prints what is missing on either side and exits 1 when they disagree.
"""
import argparse
import concurrent.futures
import re
import subprocess
import sys

ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def subcommands(ssd, path):
    """The subcommand names `ssd PATH --help` lists, in order."""
    text = subprocess.run([ssd] + path + ["--help"], check=True, capture_output=True, text=True).stdout
    names, listing = [], False
    for line in text.splitlines():
        if line.strip() == "Subcommands:":
            listing = True
            continue
        if listing:
            m = re.match(r"^  (\S+)(\s|$)", line)
            if m:
                names.append(m.group(1))
            elif line.strip() and not line.startswith("   "):
                listing = False
    return names


def leaves(ssd, path=()):
    """Every subcommand without subcommands of its own, in --help's order.
    Each `ssd ... --help` loads libtorch, so one level's run in parallel."""
    names = subcommands(ssd, list(path))
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        below = list(pool.map(lambda name: subcommands(ssd, list(path) + [name]), names))
    out = []
    for name, sub in zip(names, below):
        out.extend(leaves(ssd, path + (name,)) if sub else [" ".join(path + (name,))])
    return out


def table_rows(readme):
    rows, inside = [], False
    with open(readme, encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                inside = line.strip() == "## CLI reference"
                continue
            m = ROW.match(line) if inside else None
            if m:
                rows.append(m.group(1))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ssd", required=True)
    ap.add_argument("--readme", required=True)
    args = ap.parse_args()
    binary = leaves(args.ssd)
    rows = table_rows(args.readme)
    problems = []
    if not rows:
        problems.append("%s: no table rows under \"## CLI reference\"" % args.readme)
    for name in binary:
        if name not in rows:
            problems.append("`ssd %s` has no row in the README's CLI reference" % name)
    for name in rows:
        if name not in binary:
            problems.append("the README's CLI reference lists `%s`, which `ssd --help` does not have" % name)
    duplicated = sorted({r for r in rows if rows.count(r) > 1})
    for name in duplicated:
        problems.append("the README's CLI reference lists `%s` twice" % name)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("%d subcommands, one row each" % len(binary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
