"""The Cognate model: a small causal decoder applied recursively (TRM), with a Titans memory gated
into every block (MAG) and a halting head (ACT).

    tokens ─ embedding ──────────── x ─┬─ NeuralMemory ─ m (read once per forward, test-time learning)
                                       │
    y, z (learned initial states)      └─ net(x + y + z) → z   (inner steps)      one outer step,
                                          net(y + z)     → y                      supervised (trm.py)
    y ─ norm ─ lm_head → logits,  halt_head → halting logit (act.py)

`net` is the stack of blocks. A block is pre-norm: RMSNorm, causal attention (rotary or learned
positions, optionally a sliding window) gated against the memory read, `h + g·attn + (1−g)·m` with
`g = sigmoid(W_g h)` per channel (Titans' memory as a gate), then a SwiGLU MLP. Every operation is
causal: position t sees positions <= t only, through attention, and the memory's earlier chunks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.act import halted_forward
from glyph_dist.forge.cognate.titans import MemoryStats, NeuralMemory

POSITIONS = ("rope", "learned")


@dataclass
class CognateConfig:
    vocab_size: int = 8192
    d_model: int = 512
    n_layers: int = 6
    n_heads: int = 8
    d_ff: int = 0  # SwiGLU width; 0: 8/3 d_model rounded up to a multiple of 64
    max_seq_len: int = 512
    positions: str = "rope"  # rope | learned
    rope_theta: float = 10000.0
    window: int = 0  # sliding-window attention over the last `window` tokens; 0: full causal attention
    # TRM recursion and ACT halting
    outer_steps: int = 4  # supervised outer steps; inference halts earlier per token
    inner_steps: int = 2  # latent updates z <- net(x + y + z) per outer step
    halt_threshold: float = 0.8  # halt a token once sigmoid(halting logit) reaches it
    # Titans memory
    memory_dim: int = 128  # key/value width
    memory_hidden: int = 256  # width of the memory MLP
    memory_chunk: int = 32  # tokens per memory update
    memory_lr: float = 0.1  # theta's maximum
    memory_momentum: float = 0.9  # eta's maximum
    memory_decay: float = 0.05  # alpha's maximum

    def __post_init__(self):
        positive = ("vocab_size", "d_model", "n_layers", "n_heads", "max_seq_len", "outer_steps", "inner_steps",
                    "memory_dim", "memory_hidden", "memory_chunk")
        for key in positive:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise GlyphDistError(f"cognate model: {key} must be an integer >= 1, got {value!r}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise GlyphDistError(f"cognate model: d_model {self.d_model} must split into {self.n_heads} heads "
                                 "of an even width")
        if self.positions not in POSITIONS:
            raise GlyphDistError(f"cognate model: positions must be one of {', '.join(POSITIONS)}, "
                                 f"got {self.positions!r}")
        if self.window < 0 or self.d_ff < 0:
            raise GlyphDistError("cognate model: window and d_ff must be >= 0 (0: full attention / default width)")
        if not 0.0 <= self.halt_threshold <= 1.0:
            raise GlyphDistError(f"cognate model: halt_threshold must lie in [0, 1], got {self.halt_threshold}")
        for key in ("memory_lr", "memory_momentum", "memory_decay"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise GlyphDistError(f"cognate model: {key} must lie in [0, 1], got {getattr(self, key)}")
        if not self.d_ff:
            self.d_ff = 64 * math.ceil(8 * self.d_model / 3 / 64)

    @classmethod
    def from_dict(cls, values: dict, source: str = "cognate model") -> CognateConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GlyphDistError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)


def autocast(device: torch.device):
    """The forward's precision: bfloat16 autocast on a GPU (weights stay fp32), fp32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def rotary(seq_len: int, head_dim: int, theta: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos and sin [seq_len, head_dim] of rotary position embeddings (the rotate-half convention)."""
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


def attention_mask(seq_len: int, window: int, device: torch.device) -> Tensor | None:
    """True where query i may attend to key j: j <= i, and i - j < window when a window is set
    (None: plain causal attention, which scaled_dot_product_attention builds itself)."""
    if not window or window >= seq_len:
        return None
    i = torch.arange(seq_len, device=device)[:, None]
    j = torch.arange(seq_len, device=device)[None, :]
    return (j <= i) & (i - j < window)


class Attention(nn.Module):
    def __init__(self, config: CognateConfig):
        super().__init__()
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=False)

    def forward(self, h: Tensor, rope: tuple[Tensor, Tensor] | None, mask: Tensor | None) -> Tensor:
        B, L, D = h.shape
        q, k, v = (t.view(B, L, self.n_heads, D // self.n_heads).transpose(1, 2)
                   for t in self.qkv(h).split(D, dim=-1))
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        return self.proj(out.transpose(1, 2).reshape(B, L, D))


class SwiGLU(nn.Module):
    def __init__(self, config: CognateConfig):
        super().__init__()
        self.gate_up = nn.Linear(config.d_model, 2 * config.d_ff, bias=False)
        self.down = nn.Linear(config.d_ff, config.d_model, bias=False)

    def forward(self, h: Tensor) -> Tensor:
        gate, up = self.gate_up(h).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, config: CognateConfig):
        super().__init__()
        self.attn_norm = nn.RMSNorm(config.d_model)
        self.attn = Attention(config)
        self.gate = nn.Linear(config.d_model, config.d_model)  # MAG: g = sigmoid(W_g h + b)
        self.mlp_norm = nn.RMSNorm(config.d_model)
        self.mlp = SwiGLU(config)

    def forward(self, h: Tensor, memory: Tensor, rope, mask) -> tuple[Tensor, Tensor]:
        """The block's output and its memory share: the mean of 1 − g."""
        a = self.attn_norm(h)
        g = torch.sigmoid(self.gate(a))
        h = h + g * self.attn(a, rope, mask) + (1 - g) * memory
        return h + self.mlp(self.mlp_norm(h)), (1 - g).mean()


@dataclass
class Encoded:
    """What every outer step reuses: the embedded input, the memory read, positions and mask."""
    x: Tensor
    memory: Tensor
    memory_stats: MemoryStats
    rope: tuple[Tensor, Tensor] | None
    mask: Tensor | None


class Cognate(nn.Module):
    def __init__(self, config: CognateConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.wpe = nn.Embedding(config.max_seq_len, config.d_model) if config.positions == "learned" else None
        self.memory = NeuralMemory(config.d_model, config.memory_dim, config.memory_hidden, config.memory_chunk,
                                   config.memory_lr, config.memory_momentum, config.memory_decay)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.net_norm = nn.RMSNorm(config.d_model)
        self.y_init = nn.Parameter(torch.zeros(config.d_model))
        self.z_init = nn.Parameter(torch.zeros(config.d_model))
        self.out_norm = nn.RMSNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as in nanoGPT
        self.halt_head = nn.Linear(config.d_model, 1)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.n_layers))
        nn.init.normal_(self.y_init, std=0.02)
        nn.init.normal_(self.z_init, std=0.02)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def encode(self, idx: Tensor) -> Encoded:
        """Embed idx [B, L] and read the memory (which learns from the sequence as it goes)."""
        L = idx.shape[1]
        if L > self.config.max_seq_len:
            raise GlyphDistError(f"sequence of {L} tokens exceeds max_seq_len {self.config.max_seq_len}")
        x = self.wte(idx)
        rope = None
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(L, device=idx.device))
        else:
            rope = rotary(L, self.config.d_model // self.config.n_heads, self.config.rope_theta, idx.device)
        memory, stats = self.memory(x)
        return Encoded(x, memory, stats, rope, attention_mask(L, self.config.window, idx.device))

    def initial_states(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.y_init.expand_as(x), self.z_init.expand_as(x)

    def net(self, h: Tensor, enc: Encoded) -> tuple[Tensor, Tensor]:
        """The block stack, normalised: the new state and the blocks' mean memory share."""
        shares = []
        for block in self.blocks:
            h, share = block(h, enc.memory, enc.rope, enc.mask)
            shares.append(share)
        return self.net_norm(h), torch.stack(shares).mean()

    def readout(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Logits [B, L, V] and halting logits [B, L] of the answer state y."""
        h = self.out_norm(y)
        return self.lm_head(h), self.halt_head(h).squeeze(-1)

    def forward(self, idx: Tensor) -> Tensor:
        """Logits after ACT halting at the configured threshold (act.halted_forward)."""
        return halted_forward(self, idx, self.config.halt_threshold).logits
