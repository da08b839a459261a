"""DeepSpeed settings: the ZeRO configurations the job accepts, and the DeepSpeed config of a run.

What DeepSpeed 0.19.8 does on its CPU accelerator (gloo, 2 processes, fp32), probed by training a
tiny GPT-2: ZeRO stages 0, 1, 2 and 3 all train, and optimizer offload trains with stages 1, 2
and 3 (DeepSpeedCPUAdam, compiled on first use, which needs a C++ compiler). So every stage is
allowed on CPU and on GPU; offload is refused with stage 0, where there is no ZeRO optimizer whose
states could move. On GPU the weights train in bf16 (DeepSpeed keeps fp32 master weights in its
optimizer), on CPU in fp32.

The job builds the optimizer and hands it to DeepSpeed: torch's AdamW (fused on GPU, so no
DeepSpeed op is compiled), or DeepSpeedCPUAdam when the optimizer states are offloaded.
"""

from __future__ import annotations

import torch

from glyph_dist.errors import GlyphDistError
from glyph_dist.train.config import SFTConfig
from glyph_dist.train.model import param_groups

NO_PRINTS = 2**31 - 1  # DeepSpeed's steps_per_print: the job reports its own metrics


def check_zero(config: SFTConfig) -> None:
    """Refuse a ZeRO configuration DeepSpeed cannot train, before any worker starts."""
    if config.offload_optimizer and config.zero_stage == 0:
        raise GlyphDistError("offload_optimizer needs zero_stage 1, 2 or 3: stage 0 has no ZeRO optimizer to offload")


def build_optimizer(config: SFTConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """AdamW over `param_groups`: torch's (fused on GPU), or DeepSpeedCPUAdam when offloading."""
    groups = param_groups(model, config.weight_decay)
    settings = {"lr": config.learning_rate, "betas": (config.beta1, config.beta2), "eps": 1e-8}
    if config.offload_optimizer:
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        return DeepSpeedCPUAdam(groups, adamw_mode=True, **settings)
    return torch.optim.AdamW(groups, fused=config.use_gpu or None, **settings)


def ds_config(config: SFTConfig) -> dict:
    """DeepSpeed's config: batch sizes, clipping, the ZeRO stage, and bf16 on GPU."""
    zero: dict = {"stage": config.zero_stage}
    if config.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": config.use_gpu}
    return {
        "train_batch_size": config.global_batch,
        "train_micro_batch_size_per_gpu": config.micro_batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "gradient_clipping": config.grad_clip,
        "zero_optimization": zero,
        "bf16": {"enabled": config.use_gpu},
        "steps_per_print": NO_PRINTS,
    }
