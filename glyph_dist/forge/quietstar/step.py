"""One Quiet-STaR step (Zelikman et al., 2024), plain PyTorch.

For each sampled position (a context c of `window` tokens and its true continuation a of `ahead`
tokens) the model samples `n_thoughts` thoughts: `[thinking]`, `thought_length` sampled tokens,
`[/endthinking]`. Then, with gradients:

    with thought   [c, [thinking], t_1..t_L, [/endthinking], a]   logits ℓ⁺ and hidden h⁺ before each a_i
    without        [c, a]                                          logits ℓ⁻ and hidden h⁻ before each a_i
    mixing head    w_i = σ(MLP([h⁻_i; h⁺_i]))
                   log p_mix(a_i) = log_softmax(w_i ℓ⁺_i + (1 − w_i) ℓ⁻_i)[a_i]
    score          s_j = Σ_i log p_mix(a_i | thought j)
    reward         r_j = s_j − mean_k s_k               (the mean over the position's thoughts: the baseline)
    REINFORCE      −r_j · Σ_l log π(t_l | c, t_<l)      (r detached: the gradient reaches the thoughts' log-probs)
    KL             Σ_v π(v) (log π(v) − log π_baked(v)) at each thought position, against the frozen baked model
    loss           −mean log p_mix(a_i) + policy_weight · REINFORCE + kl_coef · KL
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class MixingHead(nn.Module):
    """The weight of the with-thought prediction, from both hidden states (a shallow MLP, as in the paper)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, h_without: torch.Tensor, h_with: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(torch.cat([h_without, h_with], -1))).squeeze(-1)


@dataclass
class Thoughts:
    contexts: torch.Tensor  # [P, window]
    targets: torch.Tensor  # [P, ahead]
    tokens: torch.Tensor  # [P, n, L] the sampled thought tokens


@dataclass
class Scored:
    log_p_mix: torch.Tensor  # [P, n, ahead] log-probs of the true tokens, mixed
    logits_mix: torch.Tensor  # [P, n, ahead, V]
    logits_without: torch.Tensor  # [P, ahead, V]
    thought_log_probs: torch.Tensor  # [P, n, L] log π of each sampled thought token
    thought_logits: torch.Tensor  # [P, n, L, V]
    weights: torch.Tensor  # [P, n, ahead] the mixing weights w


@torch.no_grad()
def sample_thoughts(model: nn.Module, contexts: torch.Tensor, targets: torch.Tensor, open_id: int, n: int,
                    length: int, temperature: float) -> Thoughts:
    """n thoughts of `length` tokens after each context (KV-cached sampling; no eos ends one early)."""
    rows = torch.cat([contexts, torch.full((len(contexts), 1), open_id)], 1).repeat_interleave(n, 0)
    out = model.generate(rows, attention_mask=torch.ones_like(rows), do_sample=True, temperature=temperature,
                         top_k=0, top_p=1.0, max_new_tokens=length, min_new_tokens=length, pad_token_id=0)
    return Thoughts(contexts, targets, out[:, rows.shape[1]:].reshape(len(contexts), n, length))


def _forward(model: nn.Module, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out = model(input_ids=ids, output_hidden_states=True, use_cache=False)
    return out.logits.float(), out.hidden_states[-1]


def with_thought_ids(thoughts: Thoughts, open_id: int, close_id: int) -> torch.Tensor:
    """[P·n, window + L + 2 + ahead]: context, [thinking], thought, [/endthinking], true tokens."""
    P, n, _ = thoughts.tokens.shape
    rep = lambda t: t.repeat_interleave(n, 0)  # noqa: E731
    return torch.cat([rep(thoughts.contexts), torch.full((P * n, 1), open_id), thoughts.tokens.flatten(0, 1),
                      torch.full((P * n, 1), close_id), rep(thoughts.targets)], 1)


def score(model: nn.Module, head: MixingHead, thoughts: Thoughts, open_id: int, close_id: int) -> Scored:
    """The with- and without-thought predictions of the true tokens, mixed (with gradients)."""
    contexts, targets, tokens = thoughts.contexts, thoughts.targets, thoughts.tokens
    P, n, L = tokens.shape
    W, A = contexts.shape[1], targets.shape[1]
    rep = lambda t: t.repeat_interleave(n, 0)  # noqa: E731
    logits, hidden = _forward(model, with_thought_ids(thoughts, open_id, close_id))
    thought_logits = logits[:, W:W + L]  # position W holds [thinking], which predicts t_1
    thought_log_probs = F.log_softmax(thought_logits, -1).gather(-1, tokens.flatten(0, 1)[..., None]).squeeze(-1)
    before_a = slice(W + L + 1, W + L + 1 + A)  # [/endthinking] predicts a_1
    logits_base, hidden_base = _forward(model, torch.cat([contexts, targets], 1))
    base = slice(W - 1, W - 1 + A)
    w = head(rep(hidden_base[:, base]), hidden[:, before_a])
    mixed = w[..., None] * logits[:, before_a] + (1 - w[..., None]) * rep(logits_base[:, base])
    log_p = F.log_softmax(mixed, -1).gather(-1, rep(targets)[..., None]).squeeze(-1)
    V = logits.shape[-1]
    return Scored(log_p.view(P, n, A), mixed.view(P, n, A, V), logits_base[:, base], thought_log_probs.view(P, n, L),
                  thought_logits.reshape(P, n, L, V), w.view(P, n, A))


def rewards(log_p_mix: torch.Tensor) -> torch.Tensor:
    """r_j = Σ_i log p(a_i | thought j) − the mean of that sum over the position's thoughts; [P, n]."""
    scores = log_p_mix.sum(-1)
    return scores - scores.mean(-1, keepdim=True)


def reinforce_loss(reward: torch.Tensor, thought_log_probs: torch.Tensor) -> torch.Tensor:
    """−r · Σ log π(thought tokens), averaged over thoughts; r carries no gradient."""
    return -(reward.detach() * thought_log_probs.sum(-1)).mean()


def kl_to_reference(thought_logits: torch.Tensor, reference_logits: torch.Tensor) -> torch.Tensor:
    """KL(π ‖ π_baked) over the vocabulary, averaged over thought positions."""
    log_p, log_q = F.log_softmax(thought_logits, -1), F.log_softmax(reference_logits, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def losses(model: nn.Module, head: MixingHead, reference: nn.Module, thoughts: Thoughts, open_id: int,
           close_id: int) -> tuple[dict[str, torch.Tensor], Scored]:
    """The step's loss terms: nll (mixed), reinforce and kl."""
    scored = score(model, head, thoughts, open_id, close_id)
    W, L = thoughts.contexts.shape[1], thoughts.tokens.shape[2]
    with torch.no_grad():
        ref_logits = reference(input_ids=with_thought_ids(thoughts, open_id, close_id), use_cache=False).logits
    reference_thought_logits = ref_logits.float()[:, W:W + L].reshape(scored.thought_logits.shape)
    reward = rewards(scored.log_p_mix)
    return {"nll": -scored.log_p_mix.mean(), "reinforce": reinforce_loss(reward, scored.thought_log_probs),
            "kl": kl_to_reference(scored.thought_logits, reference_thought_logits),
            "reward_abs": reward.abs().mean().detach()}, scored
