"""Ray shell around the core: one named actor per shard, the router that finds them, and `RouterMemory`,
the router as the fgt_context strategy's memory.

Shards are named detached actors (`fgms-<storage id>-shard-000`, ... in namespace `fgms`, the
storage id a hash of the storage path, so services on different storage never share an actor) with
unlimited restarts; a restarted shard reopens its SQLite storage and restores every acknowledged write before
it answers. Calls are retried across restarts, which is safe because writes are idempotent by
(actor_id, record_id). Routing is `routing.shard_for`, a stable hash of `actor_id`. The storage
directory must be visible to every node (one machine, or a shared file system on a cluster).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import ray

from glyph_dist.fgms.memory import ShardMemory
from glyph_dist.fgms.routing import by_shard, check_layout, merge_writes, shard_for
from glyph_dist.fgms.schema import MemoryRecord, ReadRequest, ReadResponse, WriteResponse

NAMESPACE = "fgms"


@ray.remote(max_restarts=-1, max_task_retries=-1)
class MemoryShard:
    def __init__(self, tape: str, storage: str, shard: int, tokenizer: str | None):
        self.memory = ShardMemory.open(tape, storage, shard, tokenizer)

    def write(self, records: list[MemoryRecord]) -> WriteResponse:
        return self.memory.write(records)

    def read(self, request: ReadRequest) -> bytes:
        """The response as JSON (`ReadResponse.model_validate_json` parses it): no model to build and
        pickle in the actor, and the HTTP app passes the bytes through."""
        return self.memory.read_json(request)

    def stats(self) -> dict:
        return self.memory.stats()

    def health(self) -> dict:
        return self.memory.health()

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()


class ShardRouter:
    """Handles to the shard actors, created on first use; calls return ObjectRefs (await or ray.get)."""

    def __init__(self, tape: str, storage: str, shards: int, tokenizer: str | None = None,
                 shard_cpus: float = 0.5):
        storage_path = Path(storage).resolve()
        check_layout(storage_path, shards)
        storage_id = hashlib.blake2b(str(storage_path).encode(), digest_size=4).hexdigest()
        self.handles = [
            MemoryShard.options(name=f"fgms-{storage_id}-shard-{i:03d}", namespace=NAMESPACE, lifetime="detached",
                                get_if_exists=True, num_cpus=shard_cpus)
            .remote(str(Path(tape).resolve()), str(storage_path), i, tokenizer)
            for i in range(shards)
        ]

    def write(self, records: list[MemoryRecord]) -> list[ray.ObjectRef]:
        return [self.handles[i].write.remote(batch) for i, batch in by_shard(records, len(self.handles)).items()]

    def read(self, request: ReadRequest) -> ray.ObjectRef:
        """A ref to the response as JSON bytes."""
        return self.handles[shard_for(request.actor_id, len(self.handles))].read.remote(request)

    def stats(self) -> list[ray.ObjectRef]:
        return [h.stats.remote() for h in self.handles]

    def health(self) -> list[ray.ObjectRef]:
        return [h.health.remote() for h in self.handles]

    def shutdown(self) -> None:
        for handle in self.handles:
            ray.kill(handle, no_restart=True)


class RouterMemory:
    """FGMS through the shard actors, in the shape the fgt_context strategy wants (`write`, `read`)."""

    def __init__(self, tape: str, storage: str, shards: int, tokenizer: str | None):
        self.router = ShardRouter(tape, storage, shards, tokenizer, shard_cpus=0)

    def write(self, records: list[MemoryRecord]) -> WriteResponse:
        return merge_writes(ray.get(self.router.write(records)))

    def read(self, request: ReadRequest) -> ReadResponse:
        return ReadResponse.model_validate_json(ray.get(self.router.read(request)))
