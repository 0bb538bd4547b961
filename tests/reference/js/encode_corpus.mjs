// Reference encodings for ssd's tokenizer parity test.
//   node encode_corpus.mjs TOKENIZER_DIR TEXTS.json [HumanEval.jsonl.gz]
// Prints one JSON line {"text", "ids", "decoded"} per text: the texts of
// TEXTS.json (an array of strings), then every HumanEval prompt and canonical
// solution. Uses @huggingface/tokenizers, the reference implementation, with
// add_special_tokens disabled (special tokens in the text are recognized).
import { Tokenizer } from "@huggingface/tokenizers";
import fs from "fs";
import zlib from "zlib";

const [dir, textsPath, humanEval] = process.argv.slice(2);
const tokenizer = new Tokenizer(
  JSON.parse(fs.readFileSync(`${dir}/tokenizer.json`, "utf8")),
  JSON.parse(fs.readFileSync(`${dir}/tokenizer_config.json`, "utf8")));
const texts = JSON.parse(fs.readFileSync(textsPath, "utf8"));
if (humanEval && fs.existsSync(humanEval)) {
  for (const line of zlib.gunzipSync(fs.readFileSync(humanEval)).toString("utf8").split("\n")) {
    if (!line.trim()) continue;
    const p = JSON.parse(line);
    texts.push(p.prompt, p.prompt + p.canonical_solution);
  }
}
const out = [];
for (const text of texts) {
  const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
  const decoded = ids.length ? tokenizer.decode(ids, { skip_special_tokens: false }) : "";
  out.push(JSON.stringify({ text, ids, decoded }));
}
process.stdout.write(out.join("\n") + "\n");
