"""Which shard holds an actor's memories, and shards as plain objects in this process.

Routing is by a stable hash of `actor_id`, so an actor's memories live on one shard and reads touch
one shard only. `LocalShards` serves the HTTP API from `ShardMemory` objects without Ray (tests,
embedding in another program); the Ray actors of `shard.py` are routed the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.memory import ShardMemory
from glyph_dist.fgms.schema import MemoryRecord, ReadRequest, WriteResponse
from glyph_dist.fgt.hybrid import HybridTokenizer

LAYOUT_FILE = "fgms.json"


def shard_for(actor_id: str, shards: int) -> int:
    digest = hashlib.blake2b(actor_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def by_shard(records: list[MemoryRecord], shards: int) -> dict[int, list[MemoryRecord]]:
    batches: dict[int, list[MemoryRecord]] = defaultdict(list)
    for record in records:
        batches[shard_for(record.actor_id, shards)].append(record)
    return batches


def check_layout(storage: Path, shards: int) -> None:
    """Refuse to reopen a storage directory with another shard count (routing would change)."""
    if shards < 1:
        raise GlyphDistError(f"--shards must be at least 1, got {shards}")
    storage.mkdir(parents=True, exist_ok=True)
    layout = storage / LAYOUT_FILE
    if layout.exists():
        stored = json.loads(layout.read_text())["shards"]
        if stored != shards:
            raise GlyphDistError(f"{storage} holds {stored} shards; start the service with --shards {stored}")
    else:
        layout.write_text(json.dumps({"shards": shards}) + "\n")


def merge_writes(responses: list[WriteResponse]) -> WriteResponse:
    return WriteResponse(written=sum(r.written for r in responses), duplicates=sum(r.duplicates for r in responses),
                         spans=sum(r.spans for r in responses))


class LocalShards:
    """The shards of a storage directory as `ShardMemory` objects sharing one tokenizer, behind the
    interface the HTTP API uses (`glyph_dist.fgms.api.Shards`). Calls run one at a time, on the event loop."""

    def __init__(self, hybrid: HybridTokenizer, storage: str | Path, shards: int):
        check_layout(Path(storage), shards)
        self.memories = [ShardMemory.on(hybrid, storage, i) for i in range(shards)]

    async def write(self, records: list[MemoryRecord]) -> WriteResponse:
        return merge_writes([self.memories[i].write(batch) for i, batch in by_shard(records, len(self.memories)).items()])

    async def read(self, request: ReadRequest) -> bytes:
        return self.memories[shard_for(request.actor_id, len(self.memories))].read_json(request)

    async def stats(self) -> list[dict]:
        return [memory.stats() for memory in self.memories]

    async def health(self) -> list[dict]:
        return [memory.health() for memory in self.memories]

    def close(self) -> None:
        for memory in self.memories:
            memory.storage.close()
