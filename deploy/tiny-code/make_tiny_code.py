#!/usr/bin/python3
"""tiny-code: a built-in benchmark of small Python problems, in LiveCodeBench
release format, for the quickstart's self-distillation round.

Five families of problems, each built from a few composable steps with
constants drawn at random:

  integer    read n, apply 1-3 arithmetic steps (add, multiply, floor-divide,
             remainder, square, absolute value), print the result
  list       read integers; optionally keep some (even, odd, above, below,
             divisible), optionally transform each, then sum / max / min /
             count / print them sorted
  string     read a word; apply 1-3 steps (reverse, upper-case, drop a
             letter, replace a letter, double each letter, prefix, every
             other letter, sort), print it, its length or a letter count
  classify   read n; print the word of the first rule it matches (divisible
             by, above, below, even, odd, last digit, both divisible)
  loop       read n; a sum over 1..n of i, i*i, i*c, i+c, i%c, optionally
             only over i divisible by c, or a linear recurrence modulo m

The integer, list and string families also come as functional problems
(LeetCode style: `class Solution` starter code, JSON arguments). Difficulty
is the number of steps: easy one, medium two, hard three (or a rule that
needs special cases, such as "print 0 when no number is left").

Every statement is phrased from several wordings per step, and every
reference solution is written in one of several styles (one expression or
step by step, a loop or a comprehension, slicing or a join), chosen at
random. So a model trained on the references is sure of the tokens that
decide correctness (constants, operators, names) and unsure only where
several continuations are right, which is the regime SSD addresses.

Splits. A problem's structure is its family, its form (stdin or functional)
and its steps without constants. About 15% of the structures (chosen by a
hash of the structure and the seed) never appear in the train split. The
eval split holds problems whose exact combination (structure and constants)
is not in the train split: some with unseen constants, some with unseen
structures. Tests are computed by this program's own semantics of each step
(not by running the reference code); `ssd grade` of the references against
them checks that the two agree.

Outputs, in --out (default: beside this file):
  train.jsonl, eval.jsonl                     the problems (LiveCodeBench lines)
  train_solutions.jsonl, eval_solutions.jsonl {question_id, code}
  extra.jsonl, extra_solutions.jsonl          with --extra N only: N more
                                              training problems for the base
                                              model, drawn after both splits
                                              (which are the same with or
                                              without it), in neither of them
                                              and of no reserved structure

    /usr/bin/python3 deploy/tiny-code/make_tiny_code.py [--seed 1] [--train 2000] [--eval 200] [--extra 0] [--out DIR]
    /usr/bin/python3 deploy/tiny-code/make_tiny_code.py --check DIR   # DIR holds what these flags make

The output depends only on the flags: Python's `random.Random` with a seed is
stable across Python 3 versions for the calls used here, and `--check`
compares decoded problems, so a different zlib does not matter.
"""
import argparse
import base64
import hashlib
import json
import os
import pickle
import random
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PUBLIC_TESTS = 2
PRIVATE_TESTS = 6
RESERVED_STRUCTURE_PERCENT = 15
FUNC_NAMES = ["solve", "compute", "transform", "evaluate", "process", "calculate", "answer", "result"]
WORDS = ["Fizz", "Buzz", "Alpha", "Beta", "Red", "Blue", "Green", "Yes", "No", "High", "Low", "Even", "Odd",
         "Big", "Small", "Hot", "Cold", "Up", "Down", "Left", "Right", "Star", "Moon", "Sun"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def pick(rng, options):
    return options[rng.randrange(len(options))]


def indent(code, spaces):
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in code.split("\n"))


# ---------------------------------------------------------------- integer

INT_STEPS = ["add", "sub", "mul", "floordiv", "mod", "square", "abs"]


def int_step(rng, name):
    if name in ("add", "sub"):
        return (name, rng.randint(1, 20))
    if name == "mul":
        return (name, rng.randint(2, 9))
    if name in ("floordiv", "mod"):
        return (name, rng.randint(2, 9))
    return (name, None)


def int_apply(step, n):
    name, c = step
    return {"add": lambda: n + c, "sub": lambda: n - c, "mul": lambda: n * c, "floordiv": lambda: n // c,
            "mod": lambda: n % c, "square": lambda: n * n, "abs": lambda: abs(n)}[name]()


def int_phrase(rng, step):
    name, c = step
    return pick(rng, {
        "add": lambda: ["add %d" % c, "increase it by %d" % c, "add %d to it" % c],
        "sub": lambda: ["subtract %d" % c, "decrease it by %d" % c, "subtract %d from it" % c],
        "mul": lambda: ["multiply it by %d" % c, "multiply by %d" % c, "scale it by a factor of %d" % c],
        "floordiv": lambda: ["divide it by %d, rounding down" % c, "integer-divide it by %d, rounding down" % c],
        "mod": lambda: ["take the remainder of dividing it by %d (between 0 and %d)" % (c, c - 1),
                "replace it with its remainder modulo %d (between 0 and %d)" % (c, c - 1)],
        "square": lambda: ["square it", "multiply it by itself"],
        "abs": lambda: ["take its absolute value", "replace it with its absolute value"],
    }[name]())


def int_expr(steps, var):
    # (text, precedence): 1 for + and -, 2 for * // %, 3 for **, 4 for atoms.
    text, prec = var, 4
    for name, c in steps:
        if name in ("add", "sub"):
            text, prec = "%s %s %d" % (text, "+" if name == "add" else "-", c), 1
        elif name in ("mul", "floordiv", "mod"):
            op = {"mul": "*", "floordiv": "//", "mod": "%"}[name]
            text, prec = "%s %s %d" % (text if prec >= 2 else "(%s)" % text, op, c), 2
        elif name == "square":
            text, prec = "%s ** 2" % (text if prec >= 4 else "(%s)" % text), 3
        else:
            text, prec = "abs(%s)" % text, 4
    return text


def int_statements(rng, steps, var):
    lines = []
    augmented = rng.random() < 0.5
    for name, c in steps:
        if name in ("add", "sub", "mul", "floordiv", "mod"):
            op = {"add": "+", "sub": "-", "mul": "*", "floordiv": "//", "mod": "%"}[name]
            lines.append("%s %s= %d" % (var, op, c) if augmented else "%s = %s %s %d" % (var, var, op, c))
        elif name == "square":
            lines.append(pick(rng, ["%s = %s * %s" % (var, var, var), "%s = %s ** 2" % (var, var)]))
        else:
            lines.append("%s = abs(%s)" % (var, var))
    return lines


def int_body(rng, steps, var, emit):
    """Code computing the steps on `var`, ending with emit(expression)."""
    if rng.random() < 0.5:
        return [emit(int_expr(steps, var))]
    return int_statements(rng, steps, var) + [emit(var)]


def make_integer(rng, difficulty, functional):
    k = {"easy": 1, "medium": 2, "hard": 3}[difficulty]
    steps = [int_step(rng, pick(rng, INT_STEPS)) for _ in range(k)]
    words = [int_phrase(rng, s) for s in steps]
    chain = words[0] if k == 1 else ", then ".join(words)
    lo, hi = -100, 100
    inputs = [rng.randint(lo, hi) for _ in range(PUBLIC_TESTS + PRIVATE_TESTS)]

    def solve(n):
        for s in steps:
            n = int_apply(s, n)
        return n

    if functional:
        name = pick(rng, FUNC_NAMES)
        statement = ("You are given an integer n. Starting from n, %s. Return the final value.\n\n"
                     "Constraints:\n%d <= n <= %d" % (chain, lo, hi))
        signature = "def %s(self, n: int) -> int:" % name
        code = "class Solution:\n    %s\n%s\n" % (signature, indent("\n".join(int_body(rng, steps, "n", lambda e: "return " + e)), 8))
        return functional_problem(statement, signature, name, "n", [([n], solve(n)) for n in inputs], code,
                                  ("integer", True, tuple(s[0] for s in steps)), steps)
    statement = ("Read an integer n from standard input. Starting from n, %s. Print the final value.\n\n"
                 "Input\nA single line with the integer n (%d <= n <= %d).\n\nOutput\nOne integer."
                 % (chain, lo, hi))
    read = pick(rng, ["n = int(input())", "n = int(input().strip())"])
    code = "\n".join([read] + int_body(rng, steps, "n", lambda e: "print(%s)" % e)) + "\n"
    return stdin_problem(statement, [("%d\n" % n, "%d\n" % solve(n)) for n in inputs], code,
                         ("integer", False, tuple(s[0] for s in steps)), steps)


# ---------------------------------------------------------------- list

FILTERS = ["even", "odd", "gt", "lt", "div"]
MAPS = ["mul", "add", "square", "abs", "mod"]
AGGREGATES = ["sum", "max", "min", "count", "sorted"]


def list_filter(rng):
    name = pick(rng, FILTERS)
    c = {"gt": rng.randint(-5, 10), "lt": rng.randint(-5, 10), "div": rng.randint(3, 7)}.get(name)
    return (name, c)


def list_map(rng):
    name = pick(rng, MAPS)
    c = {"mul": rng.randint(2, 9), "add": rng.randint(1, 20), "mod": rng.randint(2, 9)}.get(name)
    return (name, c)


def filter_test(f, x):
    name, c = f
    return {"even": lambda: x % 2 == 0, "odd": lambda: x % 2 == 1, "gt": lambda: x > c, "lt": lambda: x < c,
            "div": lambda: x % c == 0}[name]()


def filter_code(f, v):
    name, c = f
    return {"even": lambda: "%s %% 2 == 0" % v, "odd": lambda: "%s %% 2 == 1" % v, "gt": lambda: "%s > %d" % (v, c),
            "lt": lambda: "%s < %d" % (v, c), "div": lambda: "%s %% %d == 0" % (v, c)}[name]()


def filter_words(rng, f):
    name, c = f
    return pick(rng, {
        "even": lambda: ["the even numbers", "the numbers that are even"],
        "odd": lambda: ["the odd numbers", "the numbers that are odd"],
        "gt": lambda: ["the numbers greater than %d" % c, "the numbers strictly above %d" % c],
        "lt": lambda: ["the numbers less than %d" % c, "the numbers strictly below %d" % c],
        "div": lambda: ["the numbers divisible by %d" % c, "the multiples of %d" % c],
    }[name]())


def map_apply(m, x):
    name, c = m
    return {"mul": lambda: x * c, "add": lambda: x + c, "square": lambda: x * x, "abs": lambda: abs(x),
            "mod": lambda: x % c}[name]()


def map_code(m, v):
    name, c = m
    return {"mul": lambda: "%s * %d" % (v, c), "add": lambda: "%s + %d" % (v, c), "square": lambda: "%s * %s" % (v, v),
            "abs": lambda: "abs(%s)" % v, "mod": lambda: "%s %% %d" % (v, c)}[name]()


def map_words(rng, m):
    name, c = m
    return pick(rng, {
        "mul": lambda: ["multiply each by %d" % c, "replace each number x by x * %d" % c],
        "add": lambda: ["add %d to each" % c, "replace each number x by x + %d" % c],
        "square": lambda: ["square each", "replace each number x by x * x"],
        "abs": lambda: ["take the absolute value of each", "replace each number x by its absolute value"],
        "mod": lambda: ["replace each number x by x mod %d (between 0 and %d)" % (c, c - 1),
                "take each number's remainder modulo %d (between 0 and %d)" % (c, c - 1)],
    }[name]())


def aggregate_words(rng, agg, empty_rule):
    text = pick(rng, {
        "sum": ["their sum", "the sum of the numbers"],
        "max": ["the largest of them", "their maximum"],
        "min": ["the smallest of them", "their minimum"],
        "count": ["how many numbers there are", "the count of the numbers"],
        "sorted": ["the numbers in ascending order", "the numbers sorted from smallest to largest"],
    }[agg])
    if empty_rule:
        text += " (0 if no number is left)"
    return text


def list_code(rng, flt, mp, agg, nums, emit):
    """Code computing the answer from the list `nums`, ending with emit(expr)."""
    item = map_code(mp, "x") if mp else "x"
    cond = " if %s" % filter_code(flt, "x") if flt else ""
    style = rng.randrange(3)
    if agg == "sorted":
        if style == 0:
            return ["vals = sorted(%s for x in %s%s)" % (item, nums, cond), emit("vals")]
        if style == 1:
            return ["vals = [%s for x in %s%s]" % (item, nums, cond), "vals.sort()", emit("vals")]
        return ["vals = []", "for x in %s:" % nums, "    vals.append(%s)" % item, "vals.sort()", emit("vals")]
    if style == 0 and agg in ("sum", "max", "min"):
        if flt and agg in ("max", "min"):
            return ["vals = [%s for x in %s%s]" % (item, nums, cond),
                    emit(pick(rng, ["%s(vals) if vals else 0" % agg, "%s(vals, default=0)" % agg]))]
        return [emit("%s(%s for x in %s%s)" % (agg, item, nums, cond))]
    if style == 1 or (style == 0 and agg == "count"):
        line = "vals = [%s for x in %s%s]" % (item, nums, cond)
        final = {"sum": "sum(vals)", "max": "max(vals)", "min": "min(vals)", "count": "len(vals)"}[agg]
        if flt and agg in ("max", "min"):
            final = "%s(vals) if vals else 0" % agg
        return [line, emit(final)]
    # An explicit loop with an accumulator.
    body = []
    if agg == "count":
        body = ["total = 0", "for x in %s:" % nums]
        body += ["    if %s:" % filter_code(flt, "x"), "        total += 1"] if flt else ["    total += 1"]
        return body + [emit("total")]
    acc = {"sum": "total", "max": "best", "min": "best"}[agg]
    body = ["%s = %s" % (acc, "0" if agg == "sum" else "None"), "for x in %s:" % nums]
    inner = "    "
    if flt:
        body.append("    if %s:" % filter_code(flt, "x"))
        inner = "        "
    if mp:
        body.append(inner + "y = %s" % map_code(mp, "x"))
        value = "y"
    else:
        value = "x"
    if agg == "sum":
        body.append(inner + "total += %s" % value)
        return body + [emit("total")]
    cmp = ">" if agg == "max" else "<"
    body += [inner + "if best is None or %s %s best:" % (value, cmp), inner + "    best = %s" % value]
    return body + [emit("best if best is not None else 0" if flt else "best")]


def make_list(rng, difficulty, functional):
    while True:
        flt = list_filter(rng) if difficulty != "easy" and rng.random() < 0.6 else None
        mp = list_map(rng) if (difficulty == "hard" or (difficulty == "medium" and not flt)) else None
        if difficulty == "hard" and not flt:
            flt = list_filter(rng)
        agg = pick(rng, AGGREGATES if not flt else ["sum", "max", "min", "count"])
        if agg == "count" and mp:
            continue  # the transform would not change the count
        break
    empty_rule = bool(flt) and agg in ("max", "min")
    parts = []
    if flt:
        parts.append("keep only %s" % filter_words(rng, flt))
    if mp:
        parts.append(map_words(rng, mp))
    what = aggregate_words(rng, agg, empty_rule)

    def solve(nums):
        vals = [map_apply(mp, x) if mp else x for x in nums if not flt or filter_test(flt, x)]
        if agg == "sorted":
            return sorted(vals)
        if agg == "count":
            return len(vals)
        if not vals:
            return 0
        return {"sum": sum, "max": max, "min": min}[agg](vals)

    cases = [[rng.randint(-20, 20) for _ in range(rng.randint(1, 10))] for _ in range(PUBLIC_TESTS + PRIVATE_TESTS)]
    structure = ("list", functional, flt[0] if flt else None, mp[0] if mp else None, agg)
    constants = (flt, mp)
    steps = ("; then ".join(parts) + ", and " if parts else "")
    if functional:
        name = pick(rng, FUNC_NAMES)
        ret = "List[int]" if agg == "sorted" else "int"
        statement = ("You are given an integer array nums. %sreturn %s.\n\nConstraints:\n1 <= len(nums) <= 10\n"
                     "-20 <= nums[i] <= 20" % (steps[0].upper() + steps[1:] if steps else "", what))
        if not steps:
            statement = statement.replace("nums. return", "nums. Return")
        signature = "def %s(self, nums: List[int]) -> %s:" % (name, ret)
        body = list_code(rng, flt, mp, agg, "nums", lambda e: "return " + e)
        code = "class Solution:\n    %s\n%s\n" % (signature, indent("\n".join(body), 8))
        return functional_problem(statement, signature, name, "nums", [([c], solve(c)) for c in cases], code,
                                  structure, constants)
    with_count = rng.random() < 0.5
    if with_count:
        fmt = "The first line holds N (1 <= N <= 10), the second line N integers between -20 and 20."
        read = pick(rng, [["input()", "nums = list(map(int, input().split()))"],
                          ["n = int(input())", "nums = [int(x) for x in input().split()]"],
                          ["import sys", "data = sys.stdin.read().split()", "nums = [int(x) for x in data[1:]]"]])
    else:
        fmt = "One line with 1 to 10 integers between -20 and 20, separated by spaces."
        read = [pick(rng, ["nums = list(map(int, input().split()))", "nums = [int(x) for x in input().split()]"])]
    out = "The numbers on one line, separated by spaces." if agg == "sorted" else "One integer."
    statement = ("Read a list of integers from standard input. %sprint %s.\n\nInput\n%s\n\nOutput\n%s"
                 % (steps[0].upper() + steps[1:] if steps else "", what, fmt, out))
    if not steps:
        statement = statement.replace("input. print", "input. Print")

    def emit(e):
        return "print(*%s)" % e if agg == "sorted" else "print(%s)" % e

    code = "\n".join(read + list_code(rng, flt, mp, agg, "nums", emit)) + "\n"

    def fmt_in(c):
        line = " ".join(map(str, c))
        return "%d\n%s\n" % (len(c), line) if with_count else line + "\n"

    def fmt_out(v):
        return (" ".join(map(str, v)) if isinstance(v, list) else str(v)) + "\n"

    return stdin_problem(statement, [(fmt_in(c), fmt_out(solve(c))) for c in cases], code, structure, constants)


# ---------------------------------------------------------------- string

STRING_STEPS = ["reverse", "upper", "remove", "replace", "double", "prefix", "every_other", "sort"]


def string_step(rng, name):
    if name == "remove":
        return (name, pick(rng, "aeiou"))
    if name == "replace":
        a = pick(rng, "aeiou")
        return (name, (a, pick(rng, [ch for ch in LETTERS if ch != a])))
    if name == "prefix":
        return (name, rng.randint(2, 5))
    return (name, None)


def string_apply(step, s):
    name, c = step
    if name == "reverse":
        return s[::-1]
    if name == "upper":
        return s.upper()
    if name == "remove":
        return s.replace(c, "")
    if name == "replace":
        return s.replace(c[0], c[1])
    if name == "double":
        return "".join(ch * 2 for ch in s)
    if name == "prefix":
        return s[:c]
    if name == "every_other":
        return s[::2]
    return "".join(sorted(s))


def string_words(rng, step):
    name, c = step
    return pick(rng, {
        "reverse": lambda: ["reverse it", "write it backwards"],
        "upper": lambda: ["convert it to upper case", "make every letter upper case"],
        "remove": lambda: ["remove every '%s'" % c, "delete all occurrences of the letter '%s'" % c],
        "replace": lambda: ["replace every '%s' by '%s'" % c, "change each '%s' into '%s'" % c],
        "double": lambda: ["write every character twice", "double each character"],
        "prefix": lambda: ["keep its first %d characters (all of them if it is shorter)" % c,
                           "cut it to at most %d characters from the start" % c],
        "every_other": lambda: ["keep the characters at even positions (0, 2, 4, ...)",
                                "keep every other character, starting with the first"],
        "sort": lambda: ["sort its characters in alphabetical order", "arrange its characters in sorted order"],
    }[name]())


def string_code(rng, step, v):
    name, c = step
    return pick(rng, {
        "reverse": lambda: ["%s[::-1]" % v, "''.join(reversed(%s))" % v],
        "upper": lambda: ["%s.upper()" % v],
        "remove": lambda: ["%s.replace('%s', '')" % (v, c), "''.join(ch for ch in %s if ch != '%s')" % (v, c)],
        "replace": lambda: ["%s.replace('%s', '%s')" % ((v,) + c)],
        "double": lambda: ["''.join(ch * 2 for ch in %s)" % v, "''.join(ch + ch for ch in %s)" % v],
        "prefix": lambda: ["%s[:%d]" % (v, c)],
        "every_other": lambda: ["%s[::2]" % v],
        "sort": lambda: ["''.join(sorted(%s))" % v],
    }[name]())


def make_string(rng, difficulty, functional):
    k = {"easy": 1, "medium": 2, "hard": 3}[difficulty]
    final = pick(rng, ["print", "print", "length", "count"])
    n_steps = k if final == "print" else k - 1
    if n_steps == 0:
        n_steps, final = 1, "print"
    steps = [string_step(rng, pick(rng, STRING_STEPS)) for _ in range(n_steps)]
    letter = pick(rng, "aeiou")
    chain = ", then ".join(string_words(rng, s) for s in steps)
    tail = {"print": ("print the result", "return the result"),
            "length": ("print the length of the result", "return the length of the result"),
            "count": ("print how many times '%s' occurs in the result" % letter,
                      "return how many times '%s' occurs in the result" % letter)}[final]

    def solve(s):
        for st in steps:
            s = string_apply(st, s)
        return {"print": s, "length": len(s), "count": s.count(letter)}[final]

    cases = []
    while len(cases) < PUBLIC_TESTS + PRIVATE_TESTS:
        word = "".join(pick(rng, LETTERS) for _ in range(rng.randint(3, 12)))
        if final == "print" and solve(word) == "":
            continue  # an empty line is a poor expected output
        cases.append(word)
    lines = []
    if rng.random() < 0.5:
        expr = "s"
        for st in steps:
            expr = string_code(rng, st, expr)
    else:
        for st in steps:
            lines.append("s = %s" % string_code(rng, st, "s"))
        expr = "s"
    expr = {"print": expr, "length": "len(%s)" % expr, "count": "%s.count('%s')" % (expr, letter)}[final]
    structure = ("string", functional, tuple(s[0] for s in steps), final)
    constants = (tuple(s[1] for s in steps), letter if final == "count" else None)
    if functional:
        name = pick(rng, FUNC_NAMES)
        ret = "str" if final == "print" else "int"
        statement = ("You are given a string s of lowercase English letters. %s, and %s.\n\nConstraints:\n"
                     "3 <= len(s) <= 12" % (chain[0].upper() + chain[1:], tail[1]))
        signature = "def %s(self, s: str) -> %s:" % (name, ret)
        code = "class Solution:\n    %s\n%s\n" % (signature, indent("\n".join(lines + ["return " + expr]), 8))
        return functional_problem(statement, signature, name, "s", [([c], solve(c)) for c in cases], code,
                                  structure, constants)
    statement = ("Read a string s of lowercase English letters from standard input. %s, and %s.\n\nInput\n"
                 "One line with s (3 to 12 letters).\n\nOutput\n%s"
                 % (chain[0].upper() + chain[1:], tail[0], "One line." if final == "print" else "One integer."))
    read = pick(rng, ["s = input()", "s = input().strip()"])
    code = "\n".join([read] + lines + ["print(%s)" % expr]) + "\n"
    return stdin_problem(statement, [(c + "\n", "%s\n" % solve(c)) for c in cases], code, structure, constants)


# ---------------------------------------------------------------- classify

RULES = ["div", "gt", "lt", "even", "odd", "digit", "both"]


def classify_rule(rng, name):
    if name == "div":
        return (name, rng.randint(3, 9))
    if name in ("gt", "lt"):
        return (name, rng.randint(20, 180))
    if name == "digit":
        return (name, rng.randint(0, 9))
    if name == "both":
        a = rng.randint(2, 5)
        return (name, (a, rng.randint(a + 1, 7)))
    return (name, None)


def rule_test(rule, n):
    name, c = rule
    return {"div": lambda: n % c == 0, "gt": lambda: n > c, "lt": lambda: n < c, "even": lambda: n % 2 == 0,
            "odd": lambda: n % 2 == 1, "digit": lambda: n % 10 == c,
            "both": lambda: n % c[0] == 0 and n % c[1] == 0}[name]()


def rule_code(rule):
    name, c = rule
    return {"div": lambda: "n %% %d == 0" % c, "gt": lambda: "n > %d" % c, "lt": lambda: "n < %d" % c,
            "even": lambda: "n % 2 == 0", "odd": lambda: "n % 2 == 1", "digit": lambda: "n %% 10 == %d" % c,
            "both": lambda: "n %% %d == 0 and n %% %d == 0" % c}[name]()


def rule_words(rng, rule):
    name, c = rule
    return pick(rng, {
        "div": lambda: ["n is divisible by %d" % c, "n is a multiple of %d" % c],
        "gt": lambda: ["n is greater than %d" % c, "n is above %d" % c],
        "lt": lambda: ["n is less than %d" % c, "n is below %d" % c],
        "even": lambda: ["n is even"],
        "odd": lambda: ["n is odd"],
        "digit": lambda: ["the last digit of n is %d" % c, "n ends in the digit %d" % c],
        "both": lambda: ["n is divisible by both %d and %d" % c, "n is a multiple of %d and of %d" % c],
    }[name]())


def make_classify(rng, difficulty):
    k = {"easy": 1, "medium": 2, "hard": 3}[difficulty]
    names = [pick(rng, RULES) for _ in range(k)]
    rules = [classify_rule(rng, nm) for nm in names]
    words = rng.sample(WORDS, k + 1)

    def solve(n):
        for r, w in zip(rules, words):
            if rule_test(r, n):
                return w
        return words[-1]

    text = ["If %s, print %s." % (rule_words(rng, rules[0]), words[0])]
    for r, w in zip(rules[1:], words[1:]):
        text.append("Otherwise, if %s, print %s." % (rule_words(rng, r), w))
    text.append("Otherwise, print %s." % words[-1])
    statement = ("Read an integer n from standard input. %s\n\nInput\nA single line with n (1 <= n <= 200).\n\n"
                 "Output\nOne word." % " ".join(text))
    style = rng.randrange(3)
    lines = [pick(rng, ["n = int(input())", "n = int(input().strip())"])]
    if style == 0 and k == 1:
        lines.append("print('%s' if %s else '%s')" % (words[0], rule_code(rules[0]), words[1]))
    elif style == 1:
        for i, (r, w) in enumerate(zip(rules, words)):
            lines += ["%s %s:" % ("if" if i == 0 else "elif", rule_code(r)), "    ans = '%s'" % w]
        lines += ["else:", "    ans = '%s'" % words[-1], "print(ans)"]
    else:
        for i, (r, w) in enumerate(zip(rules, words)):
            lines += ["%s %s:" % ("if" if i == 0 else "elif", rule_code(r)), "    print('%s')" % w]
        lines += ["else:", "    print('%s')" % words[-1]]
    cases = [rng.randint(1, 200) for _ in range(PUBLIC_TESTS + PRIVATE_TESTS)]
    return stdin_problem(statement, [("%d\n" % n, solve(n) + "\n") for n in cases], "\n".join(lines) + "\n",
                         ("classify", False, tuple(names)), (tuple(rules), tuple(words)))


# ---------------------------------------------------------------- loop

TERMS = ["i", "square", "mul", "add", "mod"]


def term_apply(term, i):
    name, c = term
    return {"i": lambda: i, "square": lambda: i * i, "mul": lambda: i * c, "add": lambda: i + c,
            "mod": lambda: i % c}[name]()


def term_code(term):
    name, c = term
    return {"i": lambda: "i", "square": lambda: "i * i", "mul": lambda: "i * %d" % c, "add": lambda: "i + %d" % c,
            "mod": lambda: "i %% %d" % c}[name]()


def term_words(term):
    name, c = term
    return {"i": lambda: "i", "square": lambda: "i * i", "mul": lambda: "i * %d" % c, "add": lambda: "i + %d" % c,
            "mod": lambda: "i mod %d" % c}[name]()


def make_loop(rng, difficulty):
    lines = [pick(rng, ["n = int(input())", "n = int(input().strip())"])]
    style = rng.randrange(3)
    if difficulty == "hard" and rng.random() < 0.4:
        a, p, q, m = rng.randint(0, 9), rng.randint(2, 7), rng.randint(1, 9), rng.randint(11, 97)

        def solve(n):
            x = a
            for _ in range(n):
                x = (x * p + q) % m
            return x

        statement = ("Read an integer n from standard input. Start with x = %d and repeat n times: replace x by "
                     "(x * %d + %d) mod %d. Print the final x.\n\nInput\nA single line with n (1 <= n <= 30).\n\n"
                     "Output\nOne integer." % (a, p, q, m))
        if style == 2:
            lines += ["x = %d" % a, "i = 0", "while i < n:", "    x = (x * %d + %d) %% %d" % (p, q, m), "    i += 1",
                      "print(x)"]
        else:
            lines += ["x = %d" % a, "for _ in range(n):", "    x = (x * %d + %d) %% %d" % (p, q, m), "print(x)"]
        structure, constants = ("loop", False, "recurrence"), (a, p, q, m)
    else:
        term = (pick(rng, ["i", "mul"]) if difficulty == "easy" else pick(rng, TERMS[1:]), None)
        term = (term[0], {"mul": rng.randint(2, 9), "add": rng.randint(1, 20), "mod": rng.randint(2, 9)}.get(term[0]))
        only = ("div", rng.randint(2, 5)) if difficulty == "hard" else None

        def solve(n):
            return sum(term_apply(term, i) for i in range(1, n + 1) if not only or i % only[1] == 0)

        over = "every i from 1 to n" + (" that is divisible by %d" % only[1] if only else "")
        statement = ("Read an integer n from standard input and print the sum of %s over %s.\n\nInput\nA single "
                     "line with n (1 <= n <= 30).\n\nOutput\nOne integer." % (term_words(term), over))
        cond = " if i %% %d == 0" % only[1] if only else ""
        if style == 0:
            lines.append("print(sum(%s for i in range(1, n + 1)%s))" % (term_code(term), cond))
        elif style == 1:
            lines += ["total = 0", "for i in range(1, n + 1):"]
            lines += (["    if i %% %d == 0:" % only[1], "        total += %s" % term_code(term)] if only
                      else ["    total += %s" % term_code(term)])
            lines.append("print(total)")
        else:
            lines += ["total = 0", "i = 1", "while i <= n:"]
            lines += (["    if i %% %d == 0:" % only[1], "        total += %s" % term_code(term)] if only
                      else ["    total += %s" % term_code(term)])
            lines += ["    i += 1", "print(total)"]
        structure, constants = ("loop", False, term[0], bool(only)), (term, only)
    cases = [rng.randint(1, 30) for _ in range(PUBLIC_TESTS + PRIVATE_TESTS)]
    return stdin_problem(statement, [("%d\n" % n, "%d\n" % solve(n)) for n in cases], "\n".join(lines) + "\n",
                         structure, constants)


# ---------------------------------------------------------------- records

def stdin_problem(statement, cases, code, structure, constants):
    tests = [{"input": i, "output": o, "testtype": "stdin"} for i, o in cases]
    example = "\n\nSample Input 1\n\n%s\nSample Output 1\n\n%s" % (cases[0][0], cases[0][1])
    return {"content": statement + example, "starter": "", "func_name": "", "tests": tests, "code": code,
            "structure": structure, "constants": constants}


def functional_problem(statement, signature, name, param, cases, code, structure, constants):
    tests = [{"input": "\n".join(json.dumps(a) for a in args), "output": json.dumps(out), "testtype": "functional"}
             for args, out in cases]
    args, out = cases[0]
    example = "\n\nExample 1:\n\nInput: %s = %s\nOutput: %s" % (param, json.dumps(args[0]), json.dumps(out))
    return {"content": statement + example, "starter": "class Solution:\n    %s\n        " % signature,
            "func_name": name, "tests": tests, "code": code, "structure": structure, "constants": constants}


FAMILIES = [("integer", 0.2), ("list", 0.3), ("string", 0.2), ("classify", 0.15), ("loop", 0.15)]
DIFFICULTIES = [("easy", 0.4), ("medium", 0.35), ("hard", 0.25)]


def weighted(rng, table):
    r = rng.random()
    for name, w in table:
        r -= w
        if r < 0:
            return name
    return table[-1][0]


def draw(rng):
    family = weighted(rng, FAMILIES)
    difficulty = weighted(rng, DIFFICULTIES)
    functional = family in ("integer", "list", "string") and rng.random() < 0.3
    p = {"integer": lambda: make_integer(rng, difficulty, functional),
         "list": lambda: make_list(rng, difficulty, functional),
         "string": lambda: make_string(rng, difficulty, functional),
         "classify": lambda: make_classify(rng, difficulty),
         "loop": lambda: make_loop(rng, difficulty)}[family]()
    p["family"], p["difficulty"] = family, difficulty
    return p


def reserved(structure, seed):
    digest = hashlib.sha256(("%d:%r" % (seed, structure)).encode()).digest()
    return digest[0] * 100 // 256 < RESERVED_STRUCTURE_PERCENT


def compress(tests):
    # LiveCodeBench's encoding: base64(zlib(pickle(json string))).
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests), protocol=4))).decode()


def record(p, qid, index):
    month = 2 + index % 4
    day = 1 + index % 28
    return {
        "question_title": "%s %s" % (p["family"].capitalize(), qid.rsplit("-", 1)[1]),
        "question_content": p["content"],
        "platform": "tiny-code",
        "question_id": qid,
        "contest_id": "tiny-code",
        "contest_date": "2025-%02d-%02dT00:00:00" % (month, day),
        "starter_code": p["starter"],
        "difficulty": p["difficulty"],
        "public_test_cases": json.dumps(p["tests"][:PUBLIC_TESTS]),
        "private_test_cases": compress(p["tests"][PUBLIC_TESTS:]),
        "metadata": json.dumps({"func_name": p["func_name"]} if p["func_name"] else {}),
    }


def combination(p):
    # A problem's identity across splits: its structure and its constants.
    return repr((p["structure"], p["constants"]))


def generate(seed, n_train, n_eval, n_extra=0):
    rng = random.Random(seed)
    train, eval_, seen = [], [], set()
    # Draw until both splits are full; a problem goes to the split that can
    # take it, and never to both.
    attempts = 0
    while len(train) < n_train or len(eval_) < n_eval:
        attempts += 1
        if attempts > 200 * (n_train + n_eval) + 10000:
            sys.exit("make_tiny_code: could not draw %d train and %d eval problems" % (n_train, n_eval))
        p = draw(rng)
        key = combination(p)
        if key in seen:
            continue
        held_out = reserved(p["structure"], seed)
        if held_out or len(train) >= n_train:
            if len(eval_) < n_eval and (held_out or rng.random() < 0.5):
                seen.add(key)
                eval_.append(p)
            continue
        seen.add(key)
        if len(eval_) < n_eval and rng.random() < n_eval / float(n_train + n_eval):
            eval_.append(p)
        else:
            train.append(p)
    # The extra split is drawn after both others are full, from the same
    # stream, so train and eval are the same with or without it. It holds
    # only combinations in neither split, and no reserved structure.
    extra = []
    attempts = 0
    while len(extra) < n_extra:
        attempts += 1
        if attempts > 200 * n_extra + 10000:
            sys.exit("make_tiny_code: could not draw %d extra problems" % n_extra)
        p = draw(rng)
        key = combination(p)
        if key in seen or reserved(p["structure"], seed):
            continue
        seen.add(key)
        extra.append(p)
    out = {}
    splits = [("train", train), ("eval", eval_)] + ([("extra", extra)] if n_extra else [])
    for split, problems in splits:
        lines, sols = [], []
        for i, p in enumerate(problems):
            qid = "tc-%s-%04d" % (split, i)
            lines.append(record(p, qid, i))
            sols.append({"question_id": qid, "code": p["code"]})
        out[split] = (lines, sols)
    return out


def dump(rows):
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)


def decoded(row):
    row = dict(row)
    row["private_test_cases"] = pickle.loads(zlib.decompress(base64.b64decode(row["private_test_cases"])))
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train", type=int, default=2000, help="problems in the train split")
    ap.add_argument("--eval", type=int, default=200, help="problems in the eval split")
    ap.add_argument("--extra", type=int, default=0,
                    help="problems in an extra training split (extra.jsonl), disjoint from train and eval")
    ap.add_argument("--out", default=HERE, help="folder to write the four files to")
    ap.add_argument("--check", metavar="DIR", help="compare DIR with what the flags make; exit 1 on a difference")
    a = ap.parse_args()
    if a.train < 1 or a.eval < 1:
        sys.exit("make_tiny_code: --train and --eval must be at least 1")
    if a.extra < 0:
        sys.exit("make_tiny_code: --extra must be 0 or more")
    out = generate(a.seed, a.train, a.eval, a.extra)
    if a.check:
        bad = 0
        for split, (lines, sols) in out.items():
            for name, rows, decode in (("%s.jsonl" % split, lines, True), ("%s_solutions.jsonl" % split, sols, False)):
                path = os.path.join(a.check, name)
                try:
                    with open(path, encoding="utf-8") as f:
                        have = [json.loads(line) for line in f]
                except (OSError, ValueError) as e:
                    print("%s: %s" % (path, e))
                    bad += 1
                    continue
                if len(have) != len(rows):
                    print("%s: %d lines, expected %d" % (path, len(have), len(rows)))
                    bad += 1
                    continue
                for i, (h, w) in enumerate(zip(have, rows)):
                    if (decoded(h) if decode else h) != (decoded(w) if decode else w):
                        print("%s:%d: differs from what --seed %d makes" % (path, i + 1, a.seed))
                        bad += 1
                        break
        sys.exit(1 if bad else 0)
    os.makedirs(a.out, exist_ok=True)
    for split, (lines, sols) in out.items():
        for name, rows in (("%s.jsonl" % split, lines), ("%s_solutions.jsonl" % split, sols)):
            tmp = os.path.join(a.out, name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(dump(rows))
            os.replace(tmp, os.path.join(a.out, name))
    counts = {s: len(v[0]) for s, v in out.items()}
    extra = " and %d extra" % counts["extra"] if "extra" in counts else ""
    print("tiny-code: %d train, %d eval%s problems in %s" % (counts["train"], counts["eval"], extra, a.out))


if __name__ == "__main__":
    main()
