"""The packed ternary format, its export from a trained BitNet model, and its loader.

    PACKED_DIR/
      model.safetensors   for each ternary layer NAME:
                            NAME.weight_packed   uint8 [out, ceil(in / 4)]: 2-bit codes, 4 weights a byte
                            NAME.weight_scale    float32 [1]: the absmean scale γ
                          with quantised embeddings, the input embedding E:
                            E.weight_int8        int8 [vocab, dim]; E.weight_row_scale float16 [vocab]
                          every other tensor (norms, head, biases, embeddings otherwise) in float16
      config.json         the model's Hugging Face config; tokenizer files
      bitnet.json         {"format": FORMAT, "ternary": [NAME, ...], "input_norm": bool,
                           "quantized_embeddings": bool}

A code is the ternary value plus one (-1 → 0, 0 → 1, +1 → 2); weight j of a row sits in bits
2·(j mod 4) of byte j // 4 (rows are zero-padded, code 1, to a multiple of 4). A tied output head
is stored once, as the embedding (Hugging Face ties them again on load).

The compression ratio is bytes on disk: model.safetensors against the fp32 and fp16 safetensors
checkpoints of the same model, each written by the same library (`compression` writes them to a
temporary directory and measures all three).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file, save_model
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.bitnet.bitlinear import BitLinear, QMAX, ternary_codes, weight_scale

FORMAT = "glyph-dist-bitnet-2bit/1"
META_FILE, WEIGHTS_FILE = "bitnet.json", "model.safetensors"
_SHIFTS = torch.tensor([0, 2, 4, 6], dtype=torch.uint8)


def pack_ternary(codes: torch.Tensor) -> torch.Tensor:
    """int8 ternary [rows, cols] → uint8 [rows, ceil(cols / 4)]."""
    if codes.dim() != 2 or not bool(((codes >= -1) & (codes <= 1)).all()):
        raise GlyphDistError("pack_ternary: expects a 2-D tensor of values in {-1, 0, 1}")
    rows, cols = codes.shape
    padded = torch.ones(rows, -(-cols // 4) * 4, dtype=torch.uint8)
    padded[:, :cols] = (codes + 1).to(torch.uint8)
    return (padded.view(rows, -1, 4) << _SHIFTS).sum(-1, dtype=torch.uint8)


def unpack_ternary(packed: torch.Tensor, cols: int) -> torch.Tensor:
    """uint8 [rows, ceil(cols / 4)] → int8 ternary [rows, cols]."""
    codes = (packed.unsqueeze(-1) >> _SHIFTS.to(packed.device)) & 3
    return codes.flatten(1)[:, :cols].to(torch.int8) - 1


def read_meta(directory: Path) -> dict:
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GlyphDistError(f"{directory}: not a BitNet model directory (no readable {META_FILE})") from exc
    return meta


def _unique_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with each shared tensor (a tied head) once, under its first name."""
    seen, state = set(), {}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            state[name] = tensor
    return state


def packed_state(model: nn.Module, quantize_embeddings: bool) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors of the packed format, and the names of the ternary layers."""
    ternary = [n for n, m in model.named_modules() if isinstance(m, BitLinear)]
    embedding = next(n for n, m in model.named_modules() if m is model.get_input_embeddings())
    state = {}
    for name, tensor in _unique_state(model).items():
        owner, _, leaf = name.rpartition(".")
        if owner in ternary and leaf == "weight":
            state[f"{owner}.weight_packed"] = pack_ternary(ternary_codes(tensor.detach()))
            state[f"{owner}.weight_scale"] = weight_scale(tensor.detach()).float().reshape(1)
        elif quantize_embeddings and owner == embedding and leaf == "weight":
            scale = tensor.detach().abs().amax(dim=1).clamp(min=1e-8) / QMAX
            state[f"{owner}.weight_int8"] = (tensor.detach() / scale[:, None]).round().clamp(-QMAX, QMAX).to(torch.int8)
            state[f"{owner}.weight_row_scale"] = scale.half()
        else:
            state[name] = tensor.detach().half()
    return {k: v.contiguous() for k, v in state.items()}, ternary


def export_packed(model: nn.Module, tokenizer, out: Path, quantize_embeddings: bool = False) -> dict:
    """Write the packed directory (with the tokenizer, unless None); returns its measured compression
    (see `compression`) and sparsity."""
    ternary_layers = [m for m in model.modules() if isinstance(m, BitLinear)]
    if not ternary_layers:
        raise GlyphDistError("export: the model has no BitLinear layer (load a BitNet model directory)")
    out.mkdir(parents=True, exist_ok=True)
    state, ternary = packed_state(model, quantize_embeddings)
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": FORMAT})
    model.config.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    (out / META_FILE).write_text(json.dumps({"format": FORMAT, "ternary": ternary,
                                             "input_norm": ternary_layers[0].input_norm,
                                             "quantized_embeddings": quantize_embeddings}, indent=1) + "\n")
    return {**compression(model, out / WEIGHTS_FILE), "sparsity": sparsity(model)}


def compression(model: nn.Module, packed_file: Path) -> dict:
    """Bytes on disk of the packed file and of the model's fp32 and fp16 safetensors checkpoints."""
    packed = os.path.getsize(packed_file)
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype, label in ((torch.float32, "fp32"), (torch.float16, "fp16")):
            path = Path(tmp) / f"{label}.safetensors"
            save_model(_Cast(model, dtype), str(path))
            sizes[label] = os.path.getsize(path)
    return {"packed_bytes": packed, "fp32_bytes": sizes["fp32"], "fp16_bytes": sizes["fp16"],
            "ratio_vs_fp32": sizes["fp32"] / packed, "ratio_vs_fp16": sizes["fp16"] / packed}


class _Cast(nn.Module):
    """The model's unique tensors in another dtype, as a module `save_model` can write."""

    def __init__(self, model: nn.Module, dtype: torch.dtype):
        super().__init__()
        for i, (name, tensor) in enumerate(_unique_state(model).items()):
            self.register_buffer(f"t{i}", tensor.detach().to(dtype))


def sparsity(model: nn.Module) -> float:
    """The share of zeros among the ternary weights."""
    zeros = total = 0
    for module in model.modules():
        if isinstance(module, BitLinear):
            codes = ternary_codes(module.weight.detach())
            zeros += int((codes == 0).sum())
            total += codes.numel()
    return zeros / total


def load_packed(directory: Path, dtype: torch.dtype = torch.float32) -> nn.Module:
    """The model of a packed directory, its ternary layers as PackedBitLinear (kernel.py)."""
    from glyph_dist.forge.bitnet.kernel import PackedBitLinear

    meta = read_meta(directory)
    if meta.get("format") != FORMAT:
        raise GlyphDistError(f"{directory}: format {meta.get('format')!r}, expected {FORMAT!r}")
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(directory, local_files_only=True),
                                             dtype=dtype)
    for name in meta["ternary"]:
        parent, _, child = name.rpartition(".")
        linear = model.get_submodule(name)
        layer = PackedBitLinear(linear.in_features, linear.out_features, linear.bias is not None, meta["input_norm"])
        setattr(model.get_submodule(parent) if parent else model, child, layer)
    tensors = load_file(str(directory / WEIGHTS_FILE))
    for name in [k for k in tensors if k.endswith(".weight_int8")]:
        owner = name.removesuffix(".weight_int8")
        scale = tensors.pop(f"{owner}.weight_row_scale").float()[:, None]
        tensors[f"{owner}.weight"] = tensors.pop(name).float() * scale
    tensors = {k: v if k.endswith(("weight_packed", "weight_scale")) else v.to(dtype) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    tied = {n for n, p in model.named_parameters(remove_duplicate=False)
            if p is model.get_input_embeddings().weight}
    missing = [n for n in missing if n not in tied]
    if missing or unexpected:
        raise GlyphDistError(f"{directory}: {WEIGHTS_FILE} does not fit the model: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}")
    return model.eval()
