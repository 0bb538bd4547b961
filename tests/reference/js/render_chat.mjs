// Reference chat-template renderings for ssd's parity test.
//   node render_chat.mjs TOKENIZER_CONFIG.json CASES.json
// CASES.json: [{"messages": [...], "add_generation_prompt": bool, "extra": {...}}]
// Prints a JSON array of rendered strings, using @huggingface/jinja with the
// same context ssd builds: special tokens, tools and documents (null unless
// given, as transformers passes them), extra variables, messages,
// add_generation_prompt.
import { Template } from "@huggingface/jinja";
import fs from "fs";

const [configPath, casesPath] = process.argv.slice(2);
const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
const template = new Template(config.chat_template);
const special = {};
for (const key of ["bos_token", "eos_token", "pad_token", "unk_token"]) {
  if (key in config) special[key] = config[key] && typeof config[key] === "object" ? config[key].content : config[key];
}
const cases = JSON.parse(fs.readFileSync(casesPath, "utf8"));
const out = cases.map((c) => template.render({ ...special, tools: null, documents: null, ...(c.extra || {}),
                                              messages: c.messages,
                                              add_generation_prompt: c.add_generation_prompt }));
process.stdout.write(JSON.stringify(out));
