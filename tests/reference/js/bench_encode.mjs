// Encode throughput of @huggingface/tokenizers, the baseline of
// tests/bench/tokenizer_bench.
//   node bench_encode.mjs TOKENIZER_DIR DOCS.json REPEATS
// Prints {"load_s", "first_pass_mb_per_s", "median_mb_per_s"}.
import { Tokenizer } from "@huggingface/tokenizers";
import fs from "fs";

const [dir, docsPath, repeatsArg] = process.argv.slice(2);
const t0 = performance.now();
const tokenizer = new Tokenizer(
  JSON.parse(fs.readFileSync(`${dir}/tokenizer.json`, "utf8")),
  JSON.parse(fs.readFileSync(`${dir}/tokenizer_config.json`, "utf8")));
const load_s = (performance.now() - t0) / 1000;
const docs = JSON.parse(fs.readFileSync(docsPath, "utf8"));
const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, "utf8"), 0);
const rates = [];
for (let r = 0; r < Number(repeatsArg || 3); r++) {
  const start = performance.now();
  let ids = 0;
  for (const d of docs) ids += tokenizer.encode(d, { add_special_tokens: false }).ids.length;
  rates.push(bytes / 1e6 / ((performance.now() - start) / 1000));
}
const first = rates[0];
rates.sort((a, b) => a - b);
console.log(JSON.stringify({ load_s, first_pass_mb_per_s: first, median_mb_per_s: rates[Math.floor(rates.length / 2)] }));
