"""The FGMS HTTP API as a FastAPI app over any shards (Ray actors in `app.py`, or `routing.LocalShards`).

    POST /memory/write   one record or {"records": [...]} (at most 512)
    POST /memory/read    a ReadRequest
    GET  /memory/health  every shard answers; `degraded` names shards with quarantined records or a failed write
    GET  /memory/stats   per-shard counts
    GET  /docs           OpenAPI documentation

Error model: every error is an `ErrorResponse`, `{"detail": one line, "errors": [field errors]}`:
400 for a body that is not strict JSON (RFC 8259 in UTF-8: no NaN or Infinity, no lone surrogate
escapes), 413 for a body over `MAX_BODY_BYTES`, 422 for JSON that breaks the schema (each field
error gives its location, the message, pydantic's error type and at most an 80-character excerpt
of the value; at most `MAX_ERRORS` are listed), 503 when a shard is unavailable, 500 for a fault
of the service. Errors never echo a whole input and never carry tracebacks; nothing is stored
and the service keeps serving. (No `from __future__ import annotations` here: FastAPI reads the
endpoint annotations at run time.)
"""

import json
import logging
from typing import Any, Literal, Protocol

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from glyph_dist.fgms.schema import (MAX_BATCH, MAX_TEXT_CHARS, MemoryRecord, ReadRequest, ReadResponse, WriteBody,
                                    WriteRequest, WriteResponse)

MAX_BODY_BYTES = 4 * MAX_BATCH * MAX_TEXT_CHARS  # room for a full batch of maximal records in JSON
MAX_ERRORS = 20  # field errors listed in one response
EXCERPT_CHARS = 80
log = logging.getLogger("glyph_dist.fgms")


class Shards(Protocol):
    async def write(self, records: list[MemoryRecord]) -> WriteResponse: ...
    async def read(self, request: ReadRequest) -> bytes: ...  # a ReadResponse as JSON
    async def stats(self) -> list[dict]: ...
    async def health(self) -> list[dict]: ...


class ShardUnavailable(Exception):
    """A shard did not answer (its actor died or is restarting); a retry may succeed."""


# -- the error model
class FieldError(BaseModel):
    loc: list[str | int] = Field(description='where: "body", then field names and list indices (on /memory/write, '
                                             'the shape validated first: "record" or "batch")')
    msg: str
    type: str = Field(description="pydantic's error type, e.g. string_too_long, or json_invalid")
    excerpt: str | None = Field(None, description=f"the value as JSON, cut to {EXCERPT_CHARS} characters; "
                                                  "absent for objects, arrays and malformed JSON")


class ErrorResponse(BaseModel):
    detail: str = Field(description="what went wrong, in one line")
    errors: list[FieldError] = Field(default_factory=list, description=f"field errors, at most {MAX_ERRORS}")


ERRORS = {400: "the body is not strict JSON", 413: "the body is over the size limit",
          422: "the body breaks the schema", 500: "a fault of the service (logged)",
          503: "a shard is unavailable: retry"}


def _responses(*codes: int) -> dict:
    return {code: {"model": ErrorResponse, "description": ERRORS[code]} for code in codes}


def _excerpt(value: Any) -> str | None:
    """The value as JSON, at most EXCERPT_CHARS characters; None for objects and arrays."""
    if isinstance(value, str):
        value = value[:EXCERPT_CHARS]  # before rendering: the input may be megabytes
    elif not (value is None or isinstance(value, (bool, int, float))):
        return None
    text = json.dumps(value, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1] + "…"


def _field_error(error: dict) -> FieldError:
    message = error["msg"]
    if error["type"] == "json_invalid":
        message = f"not strict JSON: {error.get('ctx', {}).get('error', message)}"
    return FieldError(loc=[p if isinstance(p, (int, str)) else str(p) for p in error["loc"]], msg=message,
                      type=error["type"], excerpt=None if error["type"] == "json_invalid" else _excerpt(error.get("input")))


def _error(status: int, detail: str, errors: list[FieldError] | None = None,
           headers: dict | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse(detail=detail, errors=errors or []).model_dump(exclude_none=True),
                        status_code=status, headers=headers)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    raw = exc.errors()
    errors = [_field_error(e) for e in raw[:MAX_ERRORS]]
    first = f"{'.'.join(map(str, errors[0].loc))}: {errors[0].msg}"
    if any(e["type"] == "json_invalid" for e in raw):
        return _error(400, f"malformed JSON: {first}", errors)
    more = f" (and {len(raw) - 1} more)" if len(raw) > 1 else ""
    return _error(422, f"invalid request: {first}{more}", errors)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return _error(exc.status_code, str(exc.detail), headers=exc.headers)


async def _unavailable(request: Request, exc: ShardUnavailable) -> JSONResponse:
    return _error(503, "memory shard unavailable: retry")


async def _fault(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(500, f"internal error ({type(exc).__name__}); see the service log")


# -- strict JSON bodies of bounded size
class _StrictJSONRequest(Request):
    async def body(self) -> bytes:
        """The body, refused with a 413 past MAX_BODY_BYTES (declared or sent) before more is read.
        (Starlette's own limiter answers a declared oversize in plain text, outside the error model.)"""
        if not hasattr(self, "_body"):
            too_large = HTTPException(413, f"request body over {MAX_BODY_BYTES:,} bytes")
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise too_large
            chunks, size = [], 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise too_large
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())  # orjson.JSONDecodeError is a json.JSONDecodeError
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is at most MAX_BODY_BYTES, parsed by orjson: RFC 8259 only (no NaN,
    Infinity or lone surrogates, valid UTF-8); anything else is a 400."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict_json_handler(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))
        return strict_json_handler


# -- the app
class ShardHealth(BaseModel):
    shard: int
    quarantined: int = Field(description="stored records set aside at restore because they could not be read")
    failed_writes: int = Field(description="writes that failed on the shard since it started (none stored anything)")
    last_write_error: str | None = Field(description="why the latest write failed; null once a write succeeds")


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    shards: int
    degraded: list[ShardHealth] = Field(description="the shards with quarantined records or whose latest write failed")


class QuarantinedRecord(BaseModel):
    actor_id: str
    record_id: str
    reason: str


class ShardStats(BaseModel):
    actors: int
    records: int
    spans: int
    tape_version: str
    storage: str
    quarantined: int
    quarantine: list[QuarantinedRecord] = Field(description="the latest quarantined records")
    failed_writes: int


class StatsResponse(BaseModel):
    shards: list[ShardStats]
    records: int
    spans: int
    actors: int
    quarantined: int = Field(description="stored records set aside at restore because they could not be read")


def create_app(shards: Shards) -> FastAPI:
    """The API over `shards`."""
    app = FastAPI(title="FGMS: glyph memory service",
                  description="Agents write turns; reads return the best context that fits a token budget.")
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ShardUnavailable, _unavailable)
    app.add_exception_handler(Exception, _fault)
    router = APIRouter(route_class=StrictJSONRoute)

    @router.post("/memory/write", response_model=WriteResponse, responses=_responses(400, 413, 422, 500, 503))
    async def write(body: WriteBody) -> WriteResponse:
        return await shards.write(body.records if isinstance(body, WriteRequest) else [body])

    @router.post("/memory/read", response_model=ReadResponse, responses=_responses(400, 413, 422, 500, 503))
    async def read(body: ReadRequest) -> Response:
        return Response(content=await shards.read(body), media_type="application/json")

    @router.get("/memory/health", response_model=HealthResponse, responses=_responses(500, 503))
    async def health() -> HealthResponse:
        per_shard = await shards.health()
        degraded = [ShardHealth(shard=i, **{k: v for k, v in h.items() if k != "status"})
                    for i, h in enumerate(per_shard) if h["status"] != "ok"]
        return HealthResponse(status="degraded" if degraded else "ok", shards=len(per_shard), degraded=degraded)

    @router.get("/memory/stats", response_model=StatsResponse, responses=_responses(500, 503))
    async def stats() -> StatsResponse:
        per_shard = [ShardStats(**s) for s in await shards.stats()]
        return StatsResponse(shards=per_shard, records=sum(s.records for s in per_shard),
                             spans=sum(s.spans for s in per_shard), actors=sum(s.actors for s in per_shard),
                             quarantined=sum(s.quarantined for s in per_shard))

    app.include_router(router)
    return app
