"""Inference with packed ternary weights on CPU: activations quantised to int8 per token, the 2-bit
weights unpacked to int8 (vectorised shifts and masks) and multiplied by an int8 GEMM with int32
accumulation (`torch._int_mm`), then scaled back by the per-token activation scale and γ.

The int8 weights are unpacked once, on the first forward, and kept (`cache_unpacked`, the
default; 1 byte a weight instead of the packed ¼), or unpacked again at every forward with
cache_unpacked=False (the memory of the packed weights only). The output equals the fake-quantised
BitLinear at λ = 1 up to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from glyph_dist.forge.bitnet.bitlinear import EPS, activation_codes
from glyph_dist.forge.bitnet.pack import unpack_ternary


class PackedBitLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool, input_norm: bool,
                 cache_unpacked: bool = True):
        super().__init__()
        self.in_features, self.out_features, self.input_norm = in_features, out_features, input_norm
        self.register_buffer("weight_packed", torch.zeros(out_features, -(-in_features // 4), dtype=torch.uint8))
        self.register_buffer("weight_scale", torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(out_features), requires_grad=False) if bias else None
        self.cache_unpacked = cache_unpacked
        self._unpacked: torch.Tensor | None = None

    def int8_weight_t(self) -> torch.Tensor:
        """The ternary weights as int8 [in, out] (the layout the GEMM takes)."""
        if self._unpacked is not None:
            return self._unpacked
        weight_t = unpack_ternary(self.weight_packed, self.in_features).t()
        if self.cache_unpacked:
            self._unpacked = weight_t
        return weight_t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm:
            x = F.rms_norm(x, (x.shape[-1],), eps=EPS)
        codes, scale = activation_codes(x.reshape(-1, self.in_features))
        acc = torch._int_mm(codes, self.int8_weight_t())
        y = (acc.to(x.dtype) * (scale * self.weight_scale.to(x.dtype))).reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, input_norm={self.input_norm}"
