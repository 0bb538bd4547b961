#!/usr/bin/python3
"""Independent reference implementation of the Qwen3 / Qwen2 / Llama-3 decoders
and of the Qwen3-MoE mixture of experts.

Written from the transformers modelling semantics in plain PyTorch, sharing no
code with ssd: its own safetensors reader and writer, unfused q/k/v and
gate/up projections, repeat_interleave for GQA and transformers' own way of
computing the llama3 RoPE frequencies. Tests compare `ssd model ...` against
it; tests/bench/model_bench uses it as the speed baseline.

Run with /usr/bin/python3 (Debian's python3-torch).

  hf_reference.py logits   --model DIR --ids 5,17,300
  hf_reference.py generate --model DIR --ids 5,17 --max-new-tokens N [--ignore-eos]
  hf_reference.py token-stats --model DIR --ids 5,17,300,9 --start 2 --top-k 20
  hf_reference.py init     --arch qwen3|qwen2|llama3 --out DIR [--dtype bf16] [--shards 2] ...
  hf_reference.py bench    --model DIR --threads N [--batch 8 --seq 256 ...]
  hf_reference.py sample-bench --model DIR --threads N --concurrency 1 8 32 [--steps 128 ...]
  hf_reference.py train    --model DIR --tokens tokens.jsonl [--epochs --lr --batch-tokens ...]
  hf_reference.py train-bench --model DIR --threads N --rows R --seq T [--steps 6 ...]
  hf_reference.py fuse-experts --model DIR --out DIR   (qwen3_moe: write transformers 5's fused layout)
  hf_reference.py moe-step --model DIR --rows rows.json --aux-loss hf|per_layer|off --coef C --grads OUT
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        if end > begin:
            t = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype)
        else:
            t = torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"])
    return out


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to(dtype).contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.element_size() == 2 else t.numpy().tobytes()
        header[name] = {"dtype": DTYPE_NAMES[dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_model_dir(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    index = os.path.join(d, "model.safetensors.index.json")
    weights = {}
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        for s in shards:
            weights.update(read_safetensors(os.path.join(d, s)))
    else:
        weights = read_safetensors(os.path.join(d, "model.safetensors"))
    weights = {k: v.float() for k, v in weights.items()}
    # transformers 5's fused experts, back to transformers 4's per-expert names.
    for name in [n for n in weights if n.endswith(".mlp.experts.gate_up_proj")]:
        prefix = name[:-len("gate_up_proj")]
        gate_up, down = weights.pop(name), weights.pop(prefix + "down_proj")
        inter = gate_up.shape[1] // 2
        for e in range(gate_up.shape[0]):
            weights[f"{prefix}{e}.gate_proj.weight"] = gate_up[e, :inter]
            weights[f"{prefix}{e}.up_proj.weight"] = gate_up[e, inter:]
            weights[f"{prefix}{e}.down_proj.weight"] = down[e]
    return cfg, weights


def is_moe_layer(cfg, i):
    """transformers' Qwen3MoeDecoderLayer rule."""
    if cfg["model_type"] != "qwen3_moe":
        return False
    return (i not in (cfg.get("mlp_only_layers") or []) and cfg.get("num_experts", 128) > 0
            and (i + 1) % cfg.get("decoder_sparse_step", 1) == 0)


def rope_inv_freq(cfg, head_dim):
    base = float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / lo, old / hi
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, scaled)
    return inv


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Reference:
    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.mt = cfg["model_type"]
        self.H = cfg["hidden_size"]
        self.N = cfg["num_attention_heads"]
        self.K = cfg.get("num_key_value_heads", self.N)
        self.D = cfg.get("head_dim") or self.H // self.N
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.inv_freq = rope_inv_freq(cfg, self.D)
        self.lm_head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
        self.E = cfg.get("num_experts", 128)
        self.top_k = cfg.get("num_experts_per_tok", 8)
        self.norm_topk = cfg.get("norm_topk_prob", False)
        # Set to a list to collect each MoE layer's router logits [B*T, E].
        self.router_logits = None

    def rms(self, x, weight):
        var = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(var + self.eps))

    def proj(self, x, name):
        b = self.w.get(name + ".bias")
        y = x @ self.w[name + ".weight"].T
        return y + b if b is not None else y

    def layer(self, i, x, pos, cache=None):
        """x: [B, T, H]; pos: [T] absolute positions; cache: dict with k, v [B, K, S, D] or None."""
        p = f"model.layers.{i}."
        B, T, _ = x.shape
        h = self.rms(x, self.w[p + "input_layernorm.weight"])
        q = self.proj(h, p + "self_attn.q_proj").view(B, T, self.N, self.D).transpose(1, 2)
        k = self.proj(h, p + "self_attn.k_proj").view(B, T, self.K, self.D).transpose(1, 2)
        v = self.proj(h, p + "self_attn.v_proj").view(B, T, self.K, self.D).transpose(1, 2)
        if self.mt in ("qwen3", "qwen3_moe"):
            q = self.rms(q, self.w[p + "self_attn.q_norm.weight"])
            k = self.rms(k, self.w[p + "self_attn.k_norm.weight"])
        freqs = pos.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        rep = self.N // self.K
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        S = k.shape[2]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.D)
        # query t (absolute S - T + t) sees keys j <= S - T + t
        mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
        scores = scores.masked_fill(~mask, float("-inf"))
        attn = torch.softmax(scores, dim=-1) @ v
        attn = attn.transpose(1, 2).reshape(B, T, self.N * self.D)
        x = x + self.proj(attn, p + "self_attn.o_proj")
        h = self.rms(x, self.w[p + "post_attention_layernorm.weight"])
        if is_moe_layer(self.cfg, i):
            return x + self.sparse_moe(p, h)
        gate = h @ self.w[p + "mlp.gate_proj.weight"].T
        up = h @ self.w[p + "mlp.up_proj.weight"].T
        return x + (torch.nn.functional.silu(gate) * up) @ self.w[p + "mlp.down_proj.weight"].T

    def sparse_moe(self, p, h):
        """Qwen3MoeSparseMoeBlock: softmax router in fp32, top-k, optional
        renormalisation, a loop over the experts with index_add_."""
        B, T, H = h.shape
        hs = h.reshape(-1, H)
        logits = hs @ self.w[p + "mlp.gate.weight"].T
        if self.router_logits is not None:
            self.router_logits.append(logits)
        probs = torch.softmax(logits, dim=1, dtype=torch.float)
        weights, chosen = torch.topk(probs, self.top_k, dim=-1)
        if self.norm_topk:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        weights = weights.to(hs.dtype)
        out = torch.zeros_like(hs)
        mask = torch.nn.functional.one_hot(chosen, num_classes=self.E).permute(2, 1, 0)  # [E, k, R]
        for e in range(self.E):
            slot, rows = torch.where(mask[e])
            if rows.numel() == 0:
                continue
            x = hs[rows]
            q = f"{p}mlp.experts.{e}."
            y = (torch.nn.functional.silu(x @ self.w[q + "gate_proj.weight"].T) * (x @ self.w[q + "up_proj.weight"].T)) \
                @ self.w[q + "down_proj.weight"].T
            out.index_add_(0, rows, y * weights[rows, slot, None])
        return out.view(B, T, H)

    def forward(self, ids, caches=None, start=0):
        """ids: [B, T] long. Returns logits [B, T, V]."""
        x = self.w["model.embed_tokens.weight"][ids]
        pos = torch.arange(start, start + ids.shape[1])
        for i in range(self.L):
            x = self.layer(i, x, pos, None if caches is None else caches[i])
        return self.rms(x, self.w["model.norm.weight"]) @ self.lm_head.T


def eos_ids(cfg):
    e = cfg.get("eos_token_id")
    return [] if e is None else (e if isinstance(e, list) else [e])


def cmd_logits(a):
    ref = Reference(*load_model_dir(a.model))
    ids = torch.tensor([[int(s) for s in a.ids.split(",")]])
    with torch.no_grad():
        logits = ref.forward(ids)[0, -1]
    print(json.dumps([float(v) for v in logits]))


def cmd_token_stats(a):
    """Per completion position (ids[start:]), the next-token statistics of
    `ssd analyze`: entropy, tail mass outside the top k, head entropy and top
    share within the top k, probability of the actual token, argmax."""
    ref = Reference(*load_model_dir(a.model))
    ids = [int(s) for s in a.ids.split(",")]
    with torch.no_grad():
        logits = ref.forward(torch.tensor([ids]))[0].double()
    out = []
    for pos in range(a.start, len(ids)):
        p = torch.softmax(logits[pos - 1], -1)
        entropy = float(-(p * torch.log(p)).sum())
        top = torch.topk(p, a.top_k).values
        head = float(top.sum())
        q = top / head
        out.append({"entropy": entropy, "tail_mass": float(p.sum()) - head,
                    "head_entropy": float(-(q * torch.log(q)).sum()), "top1_share": float(q[0]),
                    "token_prob": float(p[ids[pos]]), "argmax": int(torch.argmax(p))})
    print(json.dumps(out))


def cmd_generate(a):
    cfg, w = load_model_dir(a.model)
    ref = Reference(cfg, w)
    seq = [int(s) for s in a.ids.split(",")]
    stops = [] if a.ignore_eos else eos_ids(cfg)
    out = []
    with torch.no_grad():
        while len(out) < a.max_new_tokens:  # full recompute, no cache
            nxt = int(ref.forward(torch.tensor([seq]))[0, -1].argmax())
            out.append(nxt)
            seq.append(nxt)
            if nxt in stops:
                break
    print(json.dumps(out))


def cmd_init(a):
    g = torch.Generator().manual_seed(a.seed)
    N, K, D, H, I, V = a.heads, a.kv_heads, a.head_dim, a.hidden, a.intermediate, a.vocab
    mt = "llama" if a.arch == "llama3" else a.arch
    tie = a.arch == "qwen3"
    cfg = {"architectures": [{"qwen3": "Qwen3ForCausalLM", "qwen2": "Qwen2ForCausalLM",
                              "llama": "LlamaForCausalLM", "qwen3_moe": "Qwen3MoeForCausalLM"}[mt]],
           "model_type": mt, "vocab_size": V, "hidden_size": H, "intermediate_size": I,
           "num_hidden_layers": a.layers, "num_attention_heads": N, "num_key_value_heads": K,
           "head_dim": D, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu",
           "tie_word_embeddings": tie, "max_position_embeddings": 4096,
           "torch_dtype": {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}[a.dtype],
           "transformers_version": "4.51.0", "use_cache": True, "initializer_range": 0.02}
    if mt == "llama":
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
    if mt in ("qwen3", "qwen3_moe"):
        cfg["sliding_window"] = None
        cfg["use_sliding_window"] = False
    if mt == "qwen3_moe":
        cfg.update({"num_experts": a.experts, "num_experts_per_tok": a.experts_per_tok,
                    "moe_intermediate_size": a.moe_intermediate, "norm_topk_prob": a.norm_topk_prob == "true",
                    "decoder_sparse_step": a.sparse_step, "mlp_only_layers": a.mlp_only_layers,
                    "router_aux_loss_coef": 0.001, "output_router_logits": False})

    def rnd(*shape):
        return torch.randn(*shape, generator=g) * a.init_std

    w = {"model.embed_tokens.weight": rnd(V, H)}
    for i in range(a.layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(H, generator=g)
        w[p + "self_attn.q_proj.weight"] = rnd(N * D, H)
        w[p + "self_attn.k_proj.weight"] = rnd(K * D, H)
        w[p + "self_attn.v_proj.weight"] = rnd(K * D, H)
        if mt == "qwen2":
            w[p + "self_attn.q_proj.bias"] = rnd(N * D)
            w[p + "self_attn.k_proj.bias"] = rnd(K * D)
            w[p + "self_attn.v_proj.bias"] = rnd(K * D)
        w[p + "self_attn.o_proj.weight"] = rnd(H, N * D)
        if mt in ("qwen3", "qwen3_moe"):
            w[p + "self_attn.q_norm.weight"] = 1 + 0.1 * torch.randn(D, generator=g)
            w[p + "self_attn.k_norm.weight"] = 1 + 0.1 * torch.randn(D, generator=g)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(H, generator=g)
        if is_moe_layer(cfg, i):
            w[p + "mlp.gate.weight"] = rnd(a.experts, H)
            for e in range(a.experts):
                w[f"{p}mlp.experts.{e}.gate_proj.weight"] = rnd(a.moe_intermediate, H)
                w[f"{p}mlp.experts.{e}.up_proj.weight"] = rnd(a.moe_intermediate, H)
                w[f"{p}mlp.experts.{e}.down_proj.weight"] = rnd(H, a.moe_intermediate)
            continue
        w[p + "mlp.gate_proj.weight"] = rnd(I, H)
        w[p + "mlp.up_proj.weight"] = rnd(I, H)
        w[p + "mlp.down_proj.weight"] = rnd(H, I)
    w["model.norm.weight"] = 1 + 0.1 * torch.randn(H, generator=g)
    if not tie:
        w["lm_head.weight"] = rnd(V, H)

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[a.dtype]
    names = list(w)
    if a.shards <= 1:
        write_safetensors(os.path.join(a.out, "model.safetensors"), w, dtype)
    else:
        per = math.ceil(len(names) / a.shards)
        weight_map = {}
        for s in range(a.shards):
            fname = f"model-{s + 1:05d}-of-{a.shards:05d}.safetensors"
            part = {n: w[n] for n in names[s * per:(s + 1) * per]}
            write_safetensors(os.path.join(a.out, fname), part, dtype)
            weight_map.update({n: fname for n in part})
        with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
    print(a.out)


def cmd_fuse_experts(a):
    """Writes the model with every MoE layer's experts fused as transformers 5
    may save them: mlp.experts.gate_up_proj [E, 2I, H] (gate rows first) and
    mlp.experts.down_proj [E, H, I]."""
    cfg, w = load_model_dir(a.model)
    out = {}
    for i in range(cfg["num_hidden_layers"]):
        if not is_moe_layer(cfg, i):
            continue
        q = f"model.layers.{i}.mlp.experts."
        E = cfg["num_experts"]
        out[q + "gate_up_proj"] = torch.stack(
            [torch.cat([w.pop(f"{q}{e}.gate_proj.weight"), w.pop(f"{q}{e}.up_proj.weight")]) for e in range(E)])
        out[q + "down_proj"] = torch.stack([w.pop(f"{q}{e}.down_proj.weight") for e in range(E)])
    w.update(out)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(a.out, "model.safetensors"), w, torch.float32)
    print(a.out)


def hf_aux_loss(router_logits, E, k, real):
    """transformers' load_balancing_loss_func: one softmax over the raw
    logits of every MoE layer pooled, f[k, e] the share of (real) tokens whose
    k-th choice is e, P[e] the mean probability; E * sum f * P."""
    logits = torch.cat(router_logits, dim=0)
    probs = torch.softmax(logits, dim=-1)
    _, chosen = torch.topk(probs, k, dim=-1)
    mask = torch.nn.functional.one_hot(chosen, E).float()  # [L*R, k, E]
    m = real.float().repeat(len(router_logits))  # pads excluded
    f = (mask * m[:, None, None]).sum(0) / m.sum()
    P = (probs * m[:, None]).sum(0) / m.sum()
    return E * (f * P[None, :]).sum()


def per_layer_aux_loss(router_logits, E, k, real):
    """Megatron's switch load-balancing loss per MoE layer, summed:
    E / (T^2 k) * sum_e (sum_t p[t, e]) * (tokens routed to e); 1 per layer at
    perfect balance."""
    total = 0
    for logits in router_logits:
        probs = torch.softmax(logits[real], dim=-1)
        T = probs.shape[0]
        _, chosen = torch.topk(probs, k, dim=-1)
        counts = torch.nn.functional.one_hot(chosen, E).float().sum((0, 1))
        total = total + E / (T * T * k) * (probs.sum(0) * counts).sum()
    return total


def cmd_moe_step(a):
    """One training step's loss and gradients on one row: cross-entropy
    averaged over the targets (positions from --prompt-len on), plus
    coef * the router's load-balancing loss over every token of the row."""
    cfg, w = load_model_dir(a.model)
    for t in w.values():
        t.requires_grad_(True)
    ref = Reference(cfg, w)
    ref.router_logits = []
    ids = [int(s) for s in a.ids.split(",")]
    logits = ref.forward(torch.tensor([ids]))[0]
    targets = torch.tensor(ids[a.prompt_len:])
    ce = torch.nn.functional.cross_entropy(logits[a.prompt_len - 1:-1], targets)
    real = torch.ones(len(ids), dtype=torch.bool)
    E, k = cfg["num_experts"], cfg["num_experts_per_tok"]
    aux = {"hf": hf_aux_loss, "per_layer": per_layer_aux_loss}.get(a.aux_loss)
    aux_value = aux(ref.router_logits, E, k, real) if aux else torch.zeros(())
    loss = ce + a.coef * aux_value
    loss.backward()
    grads = {n: t.grad if t.grad is not None else torch.zeros_like(t) for n, t in w.items()}
    write_safetensors(a.grads, grads, torch.float32)
    print(json.dumps({"loss": float(loss), "ce": float(ce), "aux": float(aux_value)}))


def median_rate(fn, tokens, repeats):
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        rates.append(tokens / (time.perf_counter() - t0))
    rates.sort()
    return rates[len(rates) // 2]


def cmd_bench(a):
    torch.set_num_threads(a.threads)
    ref = Reference(*load_model_dir(a.model))
    V = ref.cfg["vocab_size"]
    g = torch.Generator().manual_seed(0)
    result = {}
    with torch.no_grad():
        ids = torch.randint(V, (a.batch, a.seq), generator=g)
        ref.forward(ids[:, :16])  # warm-up
        result["forward_tokens_per_s"] = median_rate(lambda: ref.forward(ids), a.batch * a.seq, a.repeats)
        for b in a.decode_batches:
            prompt = torch.randint(V, (b, a.prompt), generator=g)

            def decode():
                caches = [dict() for _ in range(ref.L)]
                logits = ref.forward(prompt, caches, 0)
                nxt = logits[:, -1].argmax(-1, keepdim=True)
                for s in range(a.steps):
                    logits = ref.forward(nxt, caches, a.prompt + s)
                    nxt = logits[:, -1].argmax(-1, keepdim=True)

            def prefill_only():
                ref.forward(prompt, [dict() for _ in range(ref.L)], 0)

            # Decode rate excludes the prefill, measured separately.
            t_pre = 1.0 / median_rate(prefill_only, 1, a.repeats)
            t_all = 1.0 / median_rate(decode, 1, a.repeats)
            result[f"decode_b{b}_tokens_per_s"] = b * a.steps / max(t_all - t_pre, 1e-9)
    print(json.dumps(result))


def sample_next(logits, temperature, top_k, top_p, gen):
    """vLLM's order: temperature, top-k, top-p over what remains, then the
    exponential race (argmax of p / Exp(1)), which is how vLLM draws."""
    vals, idx = (logits / temperature).topk(top_k, dim=-1)  # sorted descending
    probs = vals.softmax(-1)
    keep = (probs.cumsum(-1) - probs) < top_p
    probs = probs * keep
    q = torch.empty_like(probs).exponential_(generator=gen)
    return idx.gather(-1, (probs / q).argmax(-1, keepdim=True))


def cmd_sample_bench(a):
    """Generation throughput of a plain KV-cache sampling loop: c prompts
    decoded together for --steps tokens each (no early stop), prefill
    included, as tokens generated per second."""
    torch.set_num_threads(a.threads)
    ref = Reference(*load_model_dir(a.model))
    V = ref.cfg["vocab_size"]
    g = torch.Generator().manual_seed(0)
    result = {}
    with torch.no_grad():
        for c in a.concurrency:
            prompt = torch.randint(V, (c, a.prompt), generator=g)

            def generate():
                caches = [dict() for _ in range(ref.L)]
                logits = ref.forward(prompt, caches, 0)[:, -1]
                for s in range(a.steps):
                    nxt = sample_next(logits, a.temperature, a.top_k, a.top_p, g)
                    if s + 1 < a.steps:
                        logits = ref.forward(nxt, caches, a.prompt + s)[:, -1]

            generate()  # warm-up
            result[f"c{c}_tokens_per_s"] = median_rate(generate, c * a.steps, a.repeats)
    print(json.dumps(result))


def lr_at(step, peak, warmup, total, schedule, min_ratio=0.0):
    if step < warmup:
        return peak * (step + 1) / warmup
    if schedule == "constant":
        return peak
    p = min(max((step - warmup) / max(1, total - warmup), 0.0), 1.0)
    floor = peak * min_ratio
    frac = 0.5 * (1 + math.cos(math.pi * p)) if schedule == "cosine" else 1 - p
    return floor + (peak - floor) * frac


def trainable(ref):
    """Leaf parameters of the reference (the tied lm_head is the embedding)."""
    for t in ref.w.values():
        t.requires_grad_(True)
    return list(ref.w.items())


def make_adamw(params, lr, weight_decay, betas=(0.9, 0.999)):
    decay = [t for n, t in params if t.dim() >= 2 and "norm" not in n]
    rest = [t for n, t in params if not (t.dim() >= 2 and "norm" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=lr, betas=betas, eps=1e-8)


def padded_loss_sum(ref, docs):
    """Sum of next-token cross-entropy over the target tokens of `docs`
    (lists of (ids, mask)), each its own right-padded row: causal attention
    never lets a real token see the padding that follows it."""
    T = max(len(ids) for ids, _ in docs)
    ids_bt = torch.zeros(len(docs), T, dtype=torch.long)
    tgt_bt = torch.full((len(docs), T), -100, dtype=torch.long)
    for b, (ids, mask) in enumerate(docs):
        ids_bt[b, :len(ids)] = torch.tensor(ids)
        for t in range(len(ids) - 1):
            if mask[t + 1]:
                tgt_bt[b, t] = ids[t + 1]
    logits = ref.forward(ids_bt)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_bt.reshape(-1),
                                             ignore_index=-100, reduction="sum")


def cmd_train(a):
    """The SFT recipe in plain PyTorch: per epoch a seeded shuffle, examples
    grouped into steps of batch_tokens (first-fit into rows of max_seq_len),
    loss = sum of target-token losses / target tokens of the step, global-norm
    clipping, AdamW (no decay on norms), warmup then cosine/linear decay."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ref = Reference(*load_model_dir(a.model))
    with open(a.tokens) as f:
        data = [json.loads(line) for line in f if line.strip()]
    data = [(d["ids"][:a.max_seq_len], d["mask"][:a.max_seq_len]) for d in data]
    rows_per_step = a.batch_tokens // a.max_seq_len
    steps = []
    for epoch in range(a.epochs):
        g = torch.Generator().manual_seed(a.seed * 1000 + epoch)
        order = torch.randperm(len(data), generator=g).tolist()
        rows, used = [], []
        for i in order:
            n = len(data[i][0])
            r = next((k for k in range(len(rows)) if used[k] + n <= a.max_seq_len), None)
            if r is None:
                if len(rows) == rows_per_step:
                    steps.append([j for row in rows for j in row])
                    rows, used = [], []
                rows.append([])
                used.append(0)
                r = len(rows) - 1
            rows[r].append(i)
            used[r] += n
        if rows:
            steps.append([j for row in rows for j in row])
    if a.max_steps:
        steps = steps[:a.max_steps]
    params = trainable(ref)
    opt = make_adamw(params, a.lr, a.weight_decay)
    losses = []
    for s, batch in enumerate(steps):
        docs = [data[i] for i in batch]
        targets = sum(sum(m[1:]) for _, m in docs)
        opt.zero_grad()
        loss_sum = padded_loss_sum(ref, docs)
        (loss_sum / max(targets, 1)).backward()
        if a.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([t for _, t in params], a.grad_clip)
        for group in opt.param_groups:
            group["lr"] = lr_at(s, a.lr, a.warmup, len(steps), a.schedule)
        opt.step()
        losses.append(float(loss_sum) / max(targets, 1))
    print(json.dumps({"steps": len(steps), "losses": losses}))


def cmd_train_bench(a):
    """Training throughput of a plain PyTorch SFT loop: --rows rows of --seq
    tokens per micro-batch, --accum micro-batches per step, every next token a
    target, AdamW and global-norm clipping; median tokens/s over --steps."""
    torch.set_num_threads(a.threads)
    ref = Reference(*load_model_dir(a.model))
    V = ref.cfg["vocab_size"]
    g = torch.Generator().manual_seed(0)
    params = trainable(ref)
    opt = make_adamw(params, 1e-4, 0.01)
    micro = [torch.randint(V, (a.rows, a.seq), generator=g) for _ in range(a.accum)]
    targets = a.accum * a.rows * (a.seq - 1)

    def step():
        opt.zero_grad()
        for ids in micro:
            logits = ref.forward(ids)[:, :-1]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1),
                                                     reduction="sum") / targets
            loss.backward()
        torch.nn.utils.clip_grad_norm_([t for _, t in params], 1.0)
        opt.step()

    step()  # warm-up
    rate = median_rate(step, a.accum * a.rows * a.seq, a.steps)
    print(json.dumps({"train_tokens_per_s": rate}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("logits")
    p.add_argument("--model", required=True)
    p.add_argument("--ids", required=True)
    p = sub.add_parser("token-stats")
    p.add_argument("--model", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--start", type=int, required=True)
    p.add_argument("--top-k", type=int, default=20)
    p = sub.add_parser("generate")
    p.add_argument("--model", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--ignore-eos", action="store_true")
    p = sub.add_parser("init")
    p.add_argument("--arch", choices=["qwen3", "qwen2", "llama3", "qwen3_moe"], required=True)
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--experts-per-tok", type=int, default=2)
    p.add_argument("--moe-intermediate", type=int, default=32)
    p.add_argument("--norm-topk-prob", choices=["true", "false"], default="true")
    p.add_argument("--sparse-step", type=int, default=1)
    p.add_argument("--mlp-only-layers", type=int, nargs="*", default=[])
    p.add_argument("--out", required=True)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=16)
    p.add_argument("--intermediate", type=int, default=128)
    p.add_argument("--init-std", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["f32", "bf16", "f16"], default="f32")
    p.add_argument("--shards", type=int, default=1)
    p = sub.add_parser("bench")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--prompt", type=int, default=32)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--decode-batches", type=int, nargs="+", default=[1, 16])
    p.add_argument("--repeats", type=int, default=5)
    p = sub.add_parser("sample-bench")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--prompt", type=int, default=32)
    p.add_argument("--steps", type=int, default=128)
    p.add_argument("--temperature", type=float, default=1.5)
    p.add_argument("--top-k", type=int, default=20)
    p.add_argument("--top-p", type=float, default=0.8)
    p.add_argument("--repeats", type=int, default=3)
    p = sub.add_parser("train")
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True, help="JSONL of {ids, mask} (ssd train --dump-tokens)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--batch-tokens", type=int, default=65536)
    p.add_argument("--max-seq-len", type=int, default=2048)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--schedule", choices=["cosine", "linear", "constant"], default="cosine")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("train-bench")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rows", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--accum", type=int, default=1)
    p.add_argument("--steps", type=int, default=5)
    p = sub.add_parser("fuse-experts")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("moe-step")
    p.add_argument("--model", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--prompt-len", type=int, required=True)
    p.add_argument("--aux-loss", choices=["hf", "per_layer", "off"], default="off")
    p.add_argument("--coef", type=float, default=0.0)
    p.add_argument("--grads", required=True)
    a = ap.parse_args()
    {"fuse-experts": cmd_fuse_experts, "moe-step": cmd_moe_step, "logits": cmd_logits, "token-stats": cmd_token_stats, "generate": cmd_generate, "init": cmd_init, "bench": cmd_bench,
     "sample-bench": cmd_sample_bench, "train": cmd_train, "train-bench": cmd_train_bench}[a.cmd](a)


if __name__ == "__main__":
    main()
