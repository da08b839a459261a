"""Request and response models of FGMS, validated by pydantic (shared by the core, HTTP and client)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_TEXT_CHARS = 16_384
MAX_QUERY_CHARS = 4_096
MAX_BATCH = 512
MAX_TOKEN_BUDGET = 131_072
IDENTIFIER = r"^[A-Za-z0-9_.:@/-]+$"

Mode = Literal["text", "glyph", "mixed"]
Policy = Literal["recent", "relevant", "mixed", "foveated"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryRecord(_Strict):
    """One memory: a turn or note written by an agent."""

    actor_id: str = Field(min_length=1, max_length=128, pattern=IDENTIFIER)
    record_id: str = Field(min_length=1, max_length=128, description="idempotency key: a repeated write is a no-op")
    episode_id: str | None = Field(None, min_length=1, max_length=128)
    turn: int | None = Field(None, ge=0)
    role: str = Field("user", min_length=1, max_length=32)
    source: str | None = Field(None, max_length=128)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    tags: list[str] = Field(default_factory=list, max_length=32)
    created_at: datetime | None = Field(None, description="ISO 8601 or Unix seconds; the server's clock if absent")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text is blank")
        return text


class WriteRequest(_Strict):
    records: list[MemoryRecord] = Field(min_length=1, max_length=MAX_BATCH)


class WriteResponse(_Strict):
    written: int
    duplicates: int
    spans: int


class ReadFilters(_Strict):
    episode_id: str | None = None
    tags: list[str] = Field(default_factory=list, description="a memory matches when it has every tag")
    since: datetime | None = None
    until: datetime | None = None


class PolicyWeights(_Strict):
    """Weights of the read policies: `mixed` scores relevance*relevance + recency*recency; `foveated`
    shares its picks between earliest, most relevant and most recent spans in these proportions."""

    relevance: float = Field(0.7, ge=0)
    recency: float = Field(0.3, ge=0)
    earliest: float = Field(0.25, ge=0)
    foveal: float = Field(0.5, ge=0, description="foveated: share of the most relevant spans")
    latest: float = Field(0.25, ge=0)
    verbatim_share: float = Field(0.5, ge=0, le=1, description="mode mixed: budget share kept verbatim")


class ReadRequest(_Strict):
    actor_id: str = Field(min_length=1, max_length=128, pattern=IDENTIFIER)
    query: str = Field("", max_length=MAX_QUERY_CHARS)
    token_budget: int = Field(ge=1, le=MAX_TOKEN_BUDGET)
    mode: Mode = "mixed"
    policy: Policy = "mixed"
    filters: ReadFilters = Field(default_factory=ReadFilters)
    weights: PolicyWeights = Field(default_factory=PolicyWeights)


class ReadItem(_Strict):
    record_id: str
    span: int
    episode_id: str | None
    turn: int | None
    role: str
    address: str | None
    glyphs: str | None
    rendered_as: Literal["text", "glyph"]
    text: str
    score: float
    created_at: datetime


class ReadResponse(_Strict):
    items: list[ReadItem]
    context: str
    token_estimate: int
    token_budget: int
    candidates_considered: int
    policy: Policy
    mode: Mode
