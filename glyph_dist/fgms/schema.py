"""Request and response models of FGMS, validated by pydantic (shared by the core, HTTP and client).

Types are strict: `true` and "5" are no integers (1.0 is, as JSON Schema counts), a number is
no date-time, and every constraint the validators apply is one the JSON schema states, so what the
OpenAPI document allows is what the service accepts. Date-times are RFC 3339 texts with an offset
(years 0001-9999 as written, offsets under 24 h); the service keeps each one exactly, with its
offset, and never converts it to a UTC calendar date (which may fall in year 0 or 10000).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field,
                      Strict, Tag, model_validator)

MAX_TEXT_CHARS = 16_384
MAX_QUERY_CHARS = 4_096
MAX_BATCH = 512
MAX_TOKEN_BUDGET = 131_072
MAX_TURN = 2**31 - 1
MAX_WEIGHT = 1e6  # weights are relative; beyond this float32 scores would lose the smaller term anyway
# Neighbour sharing (fgms/neighbours.py), tuned on the long-conversation dev set: window and weight
NEIGHBOURS, NEIGHBOUR_WEIGHT, MAX_NEIGHBOURS = 6, 0.5, 64
IDENTIFIER = r"^[A-Za-z0-9_.:@/-]+$"
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]+$"  # no control character (NUL, line breaks, C1 codes)
# Whitespace by Python's `str.isspace`, the definition sentence splitting uses (every such character
# lies below U+3001), spelled out because regex dialects disagree on what `\s` covers.
WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
NOT_BLANK = "[^" + "".join(f"\\u{ord(c):04x}" for c in WHITESPACE) + "]"  # a character that is not whitespace
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

Mode = Literal["text", "glyph", "mixed", "residual"]
Policy = Literal["recent", "relevant", "mixed", "foveated"]
Relevance = Literal["dense", "lexical", "hybrid"]
Unit = Literal["span", "turn"]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=NO_CONTROL)]
Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT)]


def _rfc3339(value: object) -> object:
    """An RFC 3339 date-time text (or a datetime, from Python callers) passes on to parsing."""
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    raise ValueError("an RFC 3339 date-time with an offset is expected, e.g. 2024-05-01T12:30:00Z")


def _json_number(value: object) -> object:
    if isinstance(value, (bool, str)):
        raise ValueError("a number is expected, not a boolean or a text")
    return value


# JSON numbers with integral values (64.0 passes, 64.5 does not); constraints before the validator,
# or pydantic leaves them out of the JSON schema
Turn = Annotated[int, Field(ge=0, le=MAX_TURN), Strict(False), BeforeValidator(_json_number)]
TokenBudget = Annotated[int, Field(ge=1, le=MAX_TOKEN_BUDGET), Strict(False), BeforeValidator(_json_number)]
Neighbours = Annotated[int, Field(ge=0, le=MAX_NEIGHBOURS), Strict(False), BeforeValidator(_json_number)]


def _not_blank(text: str) -> str:
    if text.strip(WHITESPACE) == "":
        raise ValueError("text is blank: it needs a character that is not whitespace")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a Python caller (JSON bodies cannot hold one)
        raise ValueError("text is not valid Unicode: it holds a lone surrogate") from None
    return text


Timestamp = Annotated[AwareDatetime, Strict(False), BeforeValidator(_rfc3339)]


def microseconds(moment: datetime) -> int:
    """Microseconds since the Unix epoch, exact for every aware datetime (no UTC calendar date is formed)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _tags(description: str):
    return Field(default_factory=list, max_length=32, description=description)


class MemoryRecord(_Strict):
    """One memory: a turn or note written by an agent."""

    actor_id: str = Field(min_length=1, max_length=128, pattern=IDENTIFIER)
    record_id: Name = Field(description="idempotency key: a repeated write is a no-op")
    episode_id: Name | None = None
    turn: Turn | None = None
    role: str = Field("user", min_length=1, max_length=32, pattern=NO_CONTROL)
    source: Name | None = None
    text: Annotated[str, AfterValidator(_not_blank)] = Field(
        min_length=1, max_length=MAX_TEXT_CHARS, json_schema_extra={"pattern": NOT_BLANK},
        description="at least one character that is not whitespace; stored as written (in "
                                  "contexts and items, `<GLYPH>` and `</GLYPH>` in it read `&lt;GLYPH>` and "
                                  "`&lt;/GLYPH>`, so user text never passes for a glyph code)")
    tags: list[Name] = _tags("labels to filter reads by")
    created_at: Timestamp | None = Field(None, description="RFC 3339 with an offset, kept as written; "
                                                           "the server's clock (UTC) if absent")


def _write_shape(body: object) -> str:
    """A batch has `records`; anything else is validated as one record (errors then name one shape)."""
    return "batch" if isinstance(body, WriteRequest) or (isinstance(body, dict) and "records" in body) else "record"


class WriteRequest(_Strict):
    records: list[MemoryRecord] = Field(min_length=1, max_length=MAX_BATCH)


WriteBody = Annotated[Annotated[WriteRequest, Tag("batch")] | Annotated[MemoryRecord, Tag("record")],
                      Discriminator(_write_shape)]


class WriteResponse(_Strict):
    written: int
    duplicates: int
    spans: int


class ReadFilters(_Strict):
    episode_id: Name | None = None
    tags: list[Name] = _tags("a memory matches when it has every tag")
    since: Timestamp | None = None
    until: Timestamp | None = None


class PolicyWeights(_Strict):
    """Weights of the read policies: `mixed` scores relevance*relevance + recency*recency; `foveated`
    shares its picks between earliest, most relevant and most recent spans in these proportions
    (they may not all be zero)."""

    model_config = ConfigDict(json_schema_extra={"not": {
        "required": ["earliest", "foveal", "latest"],
        "properties": {"earliest": {"const": 0}, "foveal": {"const": 0}, "latest": {"const": 0}}}})

    relevance: Weight = 0.7
    recency: Weight = 0.3
    earliest: Weight = 0.25
    foveal: Weight = Field(0.5, description="foveated: share of the most relevant spans")
    latest: Weight = 0.25
    neighbours: Weight = Field(NEIGHBOUR_WEIGHT, description="share of a neighbour's relevance a unit gets "
                               "(see ReadRequest.neighbours)")
    verbatim_share: float = Field(0.5, ge=0, le=1, description="mode mixed: budget share kept verbatim")

    @model_validator(mode="after")
    def _foveated_shares(self) -> PolicyWeights:
        if self.earliest == self.foveal == self.latest == 0:
            raise ValueError("earliest, foveal and latest are all zero: foveated reads would have no share to pick by")
        return self


class ReadRequest(_Strict):
    actor_id: str = Field(min_length=1, max_length=128, pattern=IDENTIFIER)
    query: str = Field("", max_length=MAX_QUERY_CHARS)
    token_budget: TokenBudget
    # defaults: the long-conversation dev set's best read (whole turns by the query's relevance, verbatim)
    mode: Mode = "text"
    policy: Policy = "relevant"
    relevance: Relevance = Field("hybrid", description="dense: cosine of the tape's embeddings; lexical: BM25 over "
                                 "whole records; hybrid: reciprocal-rank fusion of the two")
    unit: Unit = Field("turn", description="span: sentence spans ranked and packed; turn: records ranked by their "
                       "best span (dense) or as a whole (BM25) and rendered whole")
    neighbours: Neighbours = Field(NEIGHBOURS, description="units on each side of a relevant "
                            "unit that share its relevance, times weights.neighbours (fgms/neighbours.py); 0: none")
    filters: ReadFilters = Field(default_factory=ReadFilters)
    weights: PolicyWeights = Field(default_factory=PolicyWeights)


# the settings of a read and their defaults, for the modules that read FGMS (the CLI spells them out, as it
# starts without pydantic; a test checks that they agree)
READ_SETTINGS = ("policy", "mode", "relevance", "unit", "neighbours")
DEFAULT_READ: dict[str, str | int] = {key: ReadRequest.model_fields[key].default for key in READ_SETTINGS}


def read_settings(source: object) -> dict:
    """The read settings held as attributes of `source` (parsed arguments, a trial's or a cell's config)."""
    return {key: getattr(source, key) for key in READ_SETTINGS}


class ReadItem(_Strict):
    record_id: str
    span: int
    episode_id: str | None
    turn: int | None
    role: str
    address: str | None
    glyphs: str | None
    rendered_as: Literal["text", "glyph", "residual"]
    text: str
    score: float
    created_at: Timestamp


class ReadResponse(_Strict):
    items: list[ReadItem]
    context: str
    token_estimate: int
    token_budget: int
    candidates_considered: int
    policy: Policy
    mode: Mode
    relevance: Relevance
    unit: Unit
