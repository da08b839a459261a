"""Ray shell around the core: one named actor per shard, and the router that finds them.

Shards are named detached actors (`fgms-<storage id>-shard-000`, ... in namespace `fgms`, the
storage id a hash of the storage path, so services on different storage never share an actor) with
unlimited restarts; a restarted shard reopens its SQLite storage and restores every acknowledged write before
it answers. Calls are retried across restarts, which is safe because writes are idempotent by
(actor_id, record_id). Routing is by a stable hash of `actor_id`, so an actor's memories live on
one shard and reads touch one shard only. The storage directory must be visible to every node
(one machine, or a shared file system on a cluster).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import ray

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.memory import ShardMemory
from glyph_dist.fgms.schema import MemoryRecord, ReadRequest, WriteResponse

NAMESPACE = "fgms"
LAYOUT_FILE = "fgms.json"


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

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()


def shard_for(actor_id: str, shards: int) -> int:
    digest = hashlib.blake2b(actor_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def check_layout(storage: Path, shards: int) -> None:
    """Refuse to reopen a storage directory with another shard count (routing would change)."""
    storage.mkdir(parents=True, exist_ok=True)
    layout = storage / LAYOUT_FILE
    if layout.exists():
        stored = json.loads(layout.read_text())["shards"]
        if stored != shards:
            raise GlyphDistError(f"{storage} holds {stored} shards; start the service with --shards {stored}")
    else:
        layout.write_text(json.dumps({"shards": shards}) + "\n")


class ShardRouter:
    """Handles to the shard actors, created on first use; calls return ObjectRefs (await or ray.get)."""

    def __init__(self, tape: str, storage: str, shards: int, tokenizer: str | None = None,
                 shard_cpus: float = 0.5):
        if shards < 1:
            raise GlyphDistError(f"--shards must be at least 1, got {shards}")
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
        by_shard: dict[int, list[MemoryRecord]] = defaultdict(list)
        for record in records:
            by_shard[shard_for(record.actor_id, len(self.handles))].append(record)
        return [self.handles[i].write.remote(batch) for i, batch in by_shard.items()]

    def read(self, request: ReadRequest) -> ray.ObjectRef:
        """A ref to the response as JSON bytes."""
        return self.handles[shard_for(request.actor_id, len(self.handles))].read.remote(request)

    def stats(self) -> list[ray.ObjectRef]:
        return [h.stats.remote() for h in self.handles]

    def shutdown(self) -> None:
        for handle in self.handles:
            ray.kill(handle, no_restart=True)


def merge_writes(responses: list[WriteResponse]) -> WriteResponse:
    return WriteResponse(written=sum(r.written for r in responses), duplicates=sum(r.duplicates for r in responses),
                         spans=sum(r.spans for r in responses))
