#!/usr/bin/env python3
"""load_in_pytorch.py: carries a model trained by attograd's char_gpt into PyTorch.

    /usr/bin/python3 examples/load_in_pytorch.py out-char/ckpt.safetensors --prompt "ROMEO:" --num-tokens 200

Reads the checkpoint with the standard library (8 bytes of header length, a JSON header, raw
little-endian bytes; see inspect_checkpoint.py), builds nanoGPT's GPT in PyTorch from the shape
char_gpt stored in the metadata, loads the "model." tensors into it with strict=True (so every
name and shape must match nanoGPT's), and continues the prompt greedily (always the most likely
next character). `char_gpt sample --top-k 1` continues it greedily too, so the two texts must be
the same: the script is the proof that the file is an ordinary nanoGPT state dict.

The model below is nanoGPT's model.py in brief (same module names, pre-LayerNorm blocks, exact
GELU, causal scaled_dot_product_attention, tied lm_head), written here so the script needs
only PyTorch. Requires PyTorch (Debian: apt-get install python3-torch).
"""
import argparse
import json
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "BOOL": torch.bool}


def read_safetensors(path):
    """Returns ({name: tensor}, {key: value}) from a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    data = blob[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = bytearray(data[begin:end])  # a writable copy: torch.frombuffer wants one
        t = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]) if raw else torch.empty(0)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors, metadata


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # q, k, v for all heads, in one matmul
        self.c_proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):  # PyTorch >= 2.0
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # nanoGPT's own fallback: the scores, the causal mask, softmax, weighted values
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
            causal = torch.ones(T, T, dtype=torch.bool).tril()
            y = att.masked_fill(~causal, float("-inf")).softmax(dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, tie_weights):
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            h=nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)]),
            ln_f=nn.LayerNorm(n_embd)))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        if tie_weights:
            self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx):
        pos = torch.arange(idx.shape[1])
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--prompt", default="\n")
    parser.add_argument("--num-tokens", type=int, default=200)
    args = parser.parse_args()

    tensors, meta = read_safetensors(args.checkpoint)
    get = lambda key: meta["extra." + key]
    chars = bytes.fromhex(get("vocab_hex"))
    model = GPT(len(chars), int(get("block_size")), int(get("n_layer")), int(get("n_head")),
                int(get("n_embd")), get("tie_weights") == "1")
    state = {name[len("model."):]: t for name, t in tensors.items() if name.startswith("model.")}
    if "lm_head.weight" not in state:  # a tied model may store the shared matrix once
        state["lm_head.weight"] = state["transformer.wte.weight"]
    model.load_state_dict(state, strict=True)  # every nanoGPT name present, nothing extra
    model.eval()
    print(f"loaded {len(state)} tensors, {sum(p.numel() for p in model.parameters()):,} "
          f"parameters, into nanoGPT's GPT", file=sys.stderr)

    index = {c: i for i, c in enumerate(chars)}
    idx = torch.tensor([[index[c] for c in args.prompt.encode()]], dtype=torch.int64)
    with torch.no_grad():
        for _ in range(args.num_tokens):
            logits = model(idx[:, -model.block_size:])[:, -1, :]
            idx = torch.cat([idx, logits.argmax(-1, keepdim=True)], dim=1)
    sys.stdout.write(bytes(chars[i] for i in idx[0].tolist()).decode("utf-8", "replace"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
