"""BitLinear, the layer of BitNet b1.58 (Ma et al., 2024, "The Era of 1-bit LLMs", and its training tips):

    W̃ = RoundClip(W / (mean|W| + ε), −1, 1) · (mean|W| + ε)            weights: ternary, per-tensor absmean scale
    x̃ = RoundClip(x · 127 / max|x|, −128, 127) · max|x| / 127          activations: 8-bit, absmax per token
    y = x̃ W̃ᵀ (+ b)

Rounding has no gradient, so both go through the straight-through estimator: the forward uses the
quantised value, the backward treats quantisation as the identity (`x + (q(x) − x).detach()`).
Fine-tuning from full precision ramps λ from 0 to 1 (Hugging Face's 1.58-bit fine-tuning recipe):
`x + λ·(q(x) − x).detach()`, so λ = 0 is the full-precision layer and λ = 1 the ternary one.

`input_norm` puts a parameter-free RMSNorm before activation quantisation, the paper's layout for
training from scratch. Fine-tuning a Llama leaves it off: the q/k/v and gate/up inputs already
leave the block's RMSNorm, a new norm on o/down would change the pretrained function at λ = 0,
and absmax quantisation is invariant to a per-token scale anyway.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5
QMAX = 127  # 8-bit activations: [-128, 127] codes, absmax mapped to 127


def weight_scale(w: torch.Tensor) -> torch.Tensor:
    """The per-tensor absmean scale γ = mean|W| + ε."""
    return w.abs().mean() + EPS


def ternary_codes(w: torch.Tensor) -> torch.Tensor:
    """W / γ rounded and clipped to {-1, 0, 1} (int8)."""
    return (w / weight_scale(w)).round().clamp(-1, 1).to(torch.int8)


def quantize_weight(w: torch.Tensor) -> torch.Tensor:
    """The ternary weight γ·W̃ in w's dtype (no gradient of its own: see `ste`)."""
    return ternary_codes(w).to(w.dtype) * weight_scale(w)


def activation_scale(x: torch.Tensor) -> torch.Tensor:
    """Per token (last dimension): max|x| / 127, the value of one 8-bit step."""
    return x.abs().amax(dim=-1, keepdim=True).clamp(min=EPS) / QMAX


def activation_codes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 codes, per-token scales): x ≈ codes · scale."""
    scale = activation_scale(x)
    return (x / scale).round().clamp(-QMAX - 1, QMAX).to(torch.int8), scale


def quantize_activation(x: torch.Tensor) -> torch.Tensor:
    codes, scale = activation_codes(x)
    return codes.to(x.dtype) * scale


def ste(x: torch.Tensor, quantized: torch.Tensor, lam: float) -> torch.Tensor:
    """x moved a share λ towards its quantised value; the gradient is the identity's."""
    return x + lam * (quantized - x).detach()


class BitLinear(nn.Linear):
    """nn.Linear with ternary weights and 8-bit activations in the forward pass (fake quantisation:
    the latent weights stay in full precision and are what the optimiser updates)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, input_norm: bool = False,
                 device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.input_norm = input_norm
        self.lam = 1.0  # the quantisation share λ (set by the training loop's ramp)

    @classmethod
    def from_linear(cls, linear: nn.Linear, input_norm: bool = False) -> BitLinear:
        """A BitLinear sharing `linear`'s weight and bias tensors."""
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, input_norm, device="meta")
        layer.weight, layer.bias = linear.weight, linear.bias
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm:
            x = F.rms_norm(x, (x.shape[-1],), eps=EPS)
        x = ste(x, quantize_activation(x), self.lam)
        w = ste(self.weight, quantize_weight(self.weight), self.lam)
        return F.linear(x, w, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, input_norm={self.input_norm}, lam={self.lam}"
