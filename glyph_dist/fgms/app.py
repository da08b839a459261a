"""The FGMS HTTP API served by Ray Serve: one deployment whose app (`api.create_app`) calls the
shard actors (`shard.ShardRouter`). Endpoints and error model: see `glyph_dist.fgms.api`."""

from __future__ import annotations

import asyncio

from ray import serve
from ray.exceptions import RayActorError

from glyph_dist.fgms.api import ShardUnavailable, create_app
from glyph_dist.fgms.routing import merge_writes
from glyph_dist.fgms.schema import MemoryRecord, ReadRequest, WriteResponse
from glyph_dist.fgms.shard import ShardRouter


class RayShards:
    """The shard actors behind the interface the API uses (`api.Shards`)."""

    def __init__(self, router: ShardRouter):
        self.router = router

    @staticmethod
    async def _gather(refs) -> list:
        try:
            return list(await asyncio.gather(*refs))
        except RayActorError as exc:
            raise ShardUnavailable() from exc

    async def write(self, records: list[MemoryRecord]) -> WriteResponse:
        return merge_writes(await self._gather(self.router.write(records)))

    async def read(self, request: ReadRequest) -> bytes:
        return (await self._gather([self.router.read(request)]))[0]

    async def stats(self) -> list[dict]:
        return await self._gather(self.router.stats())

    async def health(self) -> list[dict]:
        return await self._gather(self.router.health())


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0})
@serve.ingress()
class MemoryAPI:
    def __init__(self, tape: str, storage: str, shards: int, tokenizer: str | None = None,
                 shard_cpus: float = 0.5):
        self.shards = RayShards(ShardRouter(tape, storage, shards, tokenizer, shard_cpus))

    def __serve_build_asgi_app__(self):
        return create_app(self.shards)


def build_app(tape: str, storage: str, shards: int, tokenizer: str | None = None, shard_cpus: float = 0.5):
    return MemoryAPI.bind(tape, storage, shards, tokenizer, shard_cpus)
