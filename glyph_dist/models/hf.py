"""A Hugging Face causal LM loaded from a local directory: batched greedy generation and next-token scores.

Prompts are tokenized once, sorted by length (less padding) and left-padded per batch; position ids
follow the attention mask, so a prompt gets the same result alone or in any batch. With `chat=True`
each prompt is one user message rendered by the tokenizer's chat template, followed by the opening
of the assistant's turn (instruct models answer there).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from glyph_dist.errors import GlyphDistError


def chat_texts(tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> list[str]:
    """Each text as one user message of the tokenizer's chat template, followed by the opening of the
    assistant's turn: the exact text an instruct model reads (tokenize it without special tokens)."""
    return [tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                          add_generation_prompt=True) for text in texts]


class LocalLM:
    """A causal LM and its tokenizer, read from `path` only (nothing is downloaded)."""

    def __init__(self, path: str | Path, device: str | None = None):
        path = Path(path).expanduser()
        if not path.is_dir():
            raise GlyphDistError(f"model directory {path} does not exist")
        if not (path / "config.json").is_file():
            raise GlyphDistError(f"{path} holds no Hugging Face model (no config.json)")
        try:
            self.tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype="auto")
        except (OSError, ValueError) as error:
            raise GlyphDistError(f"cannot load a causal LM from {path}: {error}") from error
        if self.tokenizer.pad_token_id is None:
            if self.tokenizer.eos_token_id is None:
                raise GlyphDistError(f"the tokenizer in {path} has neither a pad nor an eos token")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.name = path.resolve().name
        self.max_length: int | None = getattr(model.config, "max_position_embeddings", None)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def encode(self, texts: list[str], chat: bool = False, special_tokens: bool = True) -> list[list[int]]:
        """Token ids of each text (with the tokenizer's special tokens, such as a BOS, unless `special_tokens`
        is False); with `chat`, of the text as a user message in the chat template."""
        if not texts:
            return []
        if not chat:
            return self.tokenizer(texts, add_special_tokens=special_tokens)["input_ids"]
        if not self.has_chat_template:
            raise GlyphDistError(f"the tokenizer of model {self.name} has no chat template")
        rendered = chat_texts(self.tokenizer, texts)
        return self.tokenizer(rendered, add_special_tokens=False)["input_ids"]  # the template holds them

    @torch.inference_mode()
    def generate(self, prompts: list[str], max_new_tokens: int, batch_size: int, first_line: bool = True,
                 chat: bool = False) -> list[str]:
        """Greedy continuation of each prompt, stripped; cut at its first newline unless `first_line` is False."""
        out = [""] * len(prompts)
        for indices, ids, mask in self._batches(self.encode(prompts, chat), batch_size, reserve=max_new_tokens):
            generated = self.model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                pad_token_id=self.tokenizer.pad_token_id, tokenizer=self.tokenizer,
                **({"stop_strings": ["\n"]} if first_line else {}),
            )
            texts = self.tokenizer.batch_decode(generated[:, ids.shape[1]:], skip_special_tokens=True)
            for i, text in zip(indices, texts):
                out[i] = (text.split("\n", 1)[0] if first_line else text).strip()
        return out

    @torch.inference_mode()
    def next_token_logprobs(self, prompts: list[list[int]], token_ids: list[int], batch_size: int) -> torch.Tensor:
        """Log-probabilities (float32, on CPU) of `token_ids` as the next token: one row per encoded prompt."""
        out = torch.empty(len(prompts), len(token_ids))
        for indices, ids, mask in self._batches(prompts, batch_size, reserve=0):
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits
            out[indices] = logits[:, -1].float().log_softmax(-1)[:, token_ids].cpu()
        return out

    @torch.inference_mode()
    def mean_nll(self, texts: list[str], batch_size: int) -> list[float]:
        """Mean negative log-likelihood per token of each text (its first token is not scored)."""
        out = [0.0] * len(texts)
        for indices, ids, mask in self._batches(self.encode(texts), batch_size, reserve=0):
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, :-1].float()
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
            scored = mask[:, 1:] * mask[:, :-1]  # a target and the token before it are both real
            for row, i in enumerate(indices):
                out[i] = float((nll[row] * scored[row]).sum() / scored[row].sum().clamp(min=1))
        return out

    def _batches(self, encoded: list[list[int]], batch_size: int, reserve: int
                 ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """(prompt indices, left-padded ids, attention mask) per batch, longest prompts first."""
        if batch_size < 1:
            raise GlyphDistError(f"batch_size must be at least 1, got {batch_size}")
        longest = max(map(len, encoded), default=0)
        if self.max_length is not None and longest + reserve > self.max_length:
            raise GlyphDistError(f"a prompt of {longest} tokens (+{reserve} to generate) exceeds the "
                                 f"{self.max_length}-token context of model {self.name}")
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            width = len(encoded[indices[0]])
            ids = torch.full((len(indices), width), self.tokenizer.pad_token_id)
            mask = torch.zeros((len(indices), width), dtype=torch.long)
            for row, i in enumerate(indices):
                ids[row, width - len(encoded[i]):] = torch.tensor(encoded[i])
                mask[row, width - len(encoded[i]):] = 1
            yield indices, ids.to(self.device), mask.to(self.device)
