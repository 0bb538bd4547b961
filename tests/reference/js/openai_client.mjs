// Runs calls against an OpenAI-compatible server with the official OpenAI
// Node SDK, for tests/serve_test. Usage:
//   node openai_client.mjs BASE_URL API_KEY CALLS.json
// CALLS.json is an array of {"name", "endpoint": "completions" | "chat",
// "stream": bool, "body": {...}}; the body goes to the SDK as given (vLLM's
// extra fields included). One JSON line per call on stdout:
//   {"name", "ok": true, "choices": [{"index", "text", "finish_reason",
//    "token_ids", "logprobs"}], "usage", "chunks", "model"}
//   {"name", "ok": false, "status", "error"}   (the SDK's APIError)
// Streamed choices are assembled from their chunks, as a client would.
import { readFileSync } from "node:fs";
import OpenAI from "openai";

const [baseURL, apiKey, callsPath] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
const calls = JSON.parse(readFileSync(callsPath, "utf8"));

function choiceText(endpoint, c) {
  return endpoint === "chat" ? c.message.content : c.text;
}

async function run(call) {
  const api = call.endpoint === "chat" ? client.chat.completions : client.completions;
  const body = { ...call.body, stream: !!call.stream };
  if (!call.stream) {
    const r = await api.create(body);
    return {
      ok: true,
      model: r.model,
      object: r.object,
      usage: r.usage,
      chunks: 0,
      choices: r.choices.map((c) => ({
        index: c.index,
        text: choiceText(call.endpoint, c),
        finish_reason: c.finish_reason,
        token_ids: c.token_ids ?? null,
        logprobs: c.logprobs ?? null,
      })),
    };
  }
  const stream = await api.create(body);
  const choices = new Map();
  let usage = null;
  let chunks = 0;
  let model = null;
  for await (const chunk of stream) {
    ++chunks;
    model = chunk.model;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (!choices.has(c.index)) {
        choices.set(c.index, { index: c.index, text: "", finish_reason: null, token_ids: [], logprobs: [] });
      }
      const acc = choices.get(c.index);
      acc.text += call.endpoint === "chat" ? (c.delta?.content ?? "") : c.text;
      if (c.finish_reason) acc.finish_reason = c.finish_reason;
      if (c.token_ids) acc.token_ids.push(...c.token_ids);
      if (c.logprobs) acc.logprobs.push(c.logprobs);
    }
  }
  return {
    ok: true,
    model,
    usage,
    chunks,
    choices: [...choices.values()].sort((a, b) => a.index - b.index),
  };
}

for (const call of calls) {
  let out;
  try {
    out = await run(call);
  } catch (e) {
    if (e instanceof OpenAI.APIError) {
      out = { ok: false, status: e.status ?? null, error: e.error ?? null, message: e.message };
    } else {
      out = { ok: false, status: null, error: null, message: String(e) };
    }
  }
  console.log(JSON.stringify({ name: call.name, ...out }));
}
