"""BPE tokenizers trained offline on the corpus with `tokenizers`.

Two kinds: a byte-level one (GPT-2 style: no text is ever unknown, decoding gives the input back)
that counts tokens and feeds models, and a lower-cased word-piece one for the static embedder,
whose simple whitespace/punctuation pre-tokenizer makes it several times faster.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
UNK_TOKEN = "[UNK]"


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE tokenizer fitted to `texts`."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def train_embedder_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A lower-cased BPE over words and punctuation; characters never seen map to [UNK]."""
    tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[UNK_TOKEN], show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def as_hf_tokenizer(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    """Wrap a byte-level `tokenizers` tokenizer as a Hugging Face tokenizer a causal LM can use."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN, pad_token=PAD_TOKEN
    )
