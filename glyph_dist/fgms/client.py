"""A small synchronous client of the FGMS HTTP API."""

from __future__ import annotations

import json
from collections.abc import Iterable

import requests
from pydantic import BaseModel, ValidationError

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.schema import MemoryRecord, ReadRequest, ReadResponse, WriteRequest, WriteResponse


def _detail(response: requests.Response) -> str:
    """The server's error message (`glyph_dist.fgms.api.ErrorResponse`): field errors as `field.path: message`."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if not isinstance(body, dict):
        return response.text[:500]
    if body.get("errors"):
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in body["errors"])
    return str(body.get("detail", response.text[:500]))


def _validated(model, **fields):
    try:
        return model(**fields)
    except ValidationError as exc:
        raise GlyphDistError(f"invalid {model.__name__}: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())) from exc


class MemoryClient:
    def __init__(self, url: str = "http://127.0.0.1:8000", timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, body: BaseModel | None = None) -> bytes:
        """The response body of a successful call; a clear error for a failed one."""
        try:
            response = self.session.request(
                method, f"{self.url}{path}", timeout=self.timeout,
                data=body.model_dump_json(exclude_none=True) if body is not None else None,
                headers={"Content-Type": "application/json"} if body is not None else None)
        except requests.RequestException as exc:
            raise GlyphDistError(f"cannot reach the memory service at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise GlyphDistError(f"{method} {path} -> {response.status_code}: {_detail(response)}")
        return response.content

    def write(self, records: Iterable[MemoryRecord | dict]) -> WriteResponse:
        batch = _validated(WriteRequest, records=[r if isinstance(r, MemoryRecord) else _validated(MemoryRecord, **r)
                                                  for r in records])
        return WriteResponse.model_validate_json(self._call("POST", "/memory/write", batch))

    def read(self, actor_id: str, query: str = "", token_budget: int = 2048, **options) -> ReadResponse:
        request = _validated(ReadRequest, actor_id=actor_id, query=query, token_budget=token_budget, **options)
        return ReadResponse.model_validate_json(self._call("POST", "/memory/read", request))

    def health(self) -> dict:
        return json.loads(self._call("GET", "/memory/health"))

    def stats(self) -> dict:
        return json.loads(self._call("GET", "/memory/stats"))
