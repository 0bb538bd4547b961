"""The Python baseline of tests/gpu/gpu_bench: the same Qwen3-0.6B shape and
settings in eager PyTorch with Hugging Face transformers, on one CUDA device.

Decode: random bf16 weights, 64-token random prompts, model.generate with
sampling at T 1.5, top-k 20, top-p 0.8 and exactly --decode-tokens new
tokens per row (prefill included), at batch 1 and 32.
Train: fp32 weights with torch.autocast(bfloat16), AdamW, 8 rows of
--train-seq tokens per step in two micro-batches of 4, loss on the last
three quarters of each row (as gpu_bench's data).

Prints one JSON object: decode_b1_tokens_per_s, decode_b32_tokens_per_s,
train_tokens_per_s (medians), and the versions used. Needs torch with CUDA
and transformers; run by tests/gpu/run.sh with the device's python3.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402


def config(smoke):
    return transformers.Qwen3Config(
        vocab_size=4096 if smoke else 151936,
        hidden_size=256 if smoke else 1024,
        intermediate_size=768 if smoke else 3072,
        num_hidden_layers=4 if smoke else 28,
        num_attention_heads=4 if smoke else 16,
        num_key_value_heads=2 if smoke else 8,
        head_dim=64 if smoke else 128,
        max_position_embeddings=4096,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
    )


def timed(fn, repeats):
    out = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def decode(cfg, batch, tokens):
    torch.manual_seed(batch)
    model = transformers.Qwen3ForCausalLM(cfg).to("cuda", torch.bfloat16).eval()
    ids = torch.randint(0, cfg.vocab_size, (batch, 64), device="cuda")
    mask = torch.ones_like(ids)

    def run():
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.5, top_k=20,
                                 top_p=0.8, max_new_tokens=tokens, min_new_tokens=tokens, pad_token_id=0)
        assert out.shape[1] == 64 + tokens, out.shape

    run()
    return batch * tokens / timed(run, 3)


def train(cfg, seq, steps):
    torch.manual_seed(1)
    model = transformers.Qwen3ForCausalLM(cfg).to("cuda").train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=0.1)
    ids = torch.randint(0, cfg.vocab_size, (8, seq), device="cuda")
    labels = ids.clone()
    labels[:, : seq // 4] = -100

    def step():
        opt.zero_grad(set_to_none=True)
        for mb in range(2):
            rows = slice(4 * mb, 4 * mb + 4)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(input_ids=ids[rows], labels=labels[rows]).loss
            (loss / 2).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(2):
        step()
    return 8 * seq / timed(step, steps)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--train-steps", type=int, default=5)
    a = p.parse_args()
    if not torch.cuda.is_available():
        print("hf_gpu_baseline: no CUDA device", file=sys.stderr)
        return 1
    cfg = config(a.smoke)
    tokens = min(a.decode_tokens, 16) if a.smoke else a.decode_tokens
    steps = min(a.train_steps, 2) if a.smoke else a.train_steps
    out = {"torch": torch.__version__, "transformers": transformers.__version__,
           "device": torch.cuda.get_device_name(0)}
    for batch in (1, 32):
        out[f"decode_b{batch}_tokens_per_s"] = decode(cfg, batch, tokens)
        torch.cuda.empty_cache()
    out["train_tokens_per_s"] = train(cfg, 256 if a.smoke else 1024, steps)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
