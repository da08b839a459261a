"""The FGMS HTTP API: a Ray Serve deployment with a FastAPI ingress in front of the shard actors.

    POST /memory/write   one record or {"records": [...]} (at most 512)
    POST /memory/read    a ReadRequest
    GET  /memory/health  every shard answers
    GET  /memory/stats   per-shard counts
    GET  /docs           OpenAPI documentation

Bad input gets a 4xx JSON error naming the field (pydantic), a body over the size limit gets 413;
nothing is stored and the service keeps serving. (No `from __future__ import annotations` here:
FastAPI reads the endpoint annotations at run time.)
"""

import asyncio

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from ray import serve
from ray.exceptions import RayActorError

from glyph_dist.fgms.schema import MAX_BATCH, MAX_TEXT_CHARS, MemoryRecord, ReadRequest, ReadResponse, WriteRequest, WriteResponse
from glyph_dist.fgms.shard import ShardRouter, merge_writes

MAX_BODY_BYTES = 4 * MAX_BATCH * MAX_TEXT_CHARS  # room for a full batch of maximal records in JSON


api = FastAPI(title="FGMS: glyph memory service",
              description="Agents write turns; reads return the best context that fits a token budget.",
              max_body_size=MAX_BODY_BYTES)


@api.exception_handler(RayActorError)
async def _shard_unavailable(request: Request, exc: RayActorError) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": f"memory shard unavailable, retry: {exc}"})


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0})
@serve.ingress(api)
class MemoryAPI:
    def __init__(self, tape: str, storage: str, shards: int, tokenizer: str | None = None,
                 shard_cpus: float = 0.5):
        self.router = ShardRouter(tape, storage, shards, tokenizer, shard_cpus)

    @api.post("/memory/write", response_model=WriteResponse)
    async def write(self, body: WriteRequest | MemoryRecord) -> WriteResponse:
        records = body.records if isinstance(body, WriteRequest) else [body]
        return merge_writes(list(await asyncio.gather(*self.router.write(records))))

    @api.post("/memory/read", response_model=ReadResponse)
    async def read(self, body: ReadRequest) -> Response:
        return Response(content=await self.router.read(body), media_type="application/json")

    @api.get("/memory/health")
    async def health(self) -> dict:
        stats = await asyncio.gather(*self.router.stats())
        return {"status": "ok", "shards": len(stats)}

    @api.get("/memory/stats")
    async def stats(self) -> dict:
        shards = list(await asyncio.gather(*self.router.stats()))
        return {"shards": shards, "records": sum(s["records"] for s in shards),
                "spans": sum(s["spans"] for s in shards), "actors": sum(s["actors"] for s in shards)}


def build_app(tape: str, storage: str, shards: int, tokenizer: str | None = None, shard_cpus: float = 0.5):
    return MemoryAPI.bind(tape, storage, shards, tokenizer, shard_cpus)
