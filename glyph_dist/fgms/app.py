"""The FGMS HTTP API served by Ray Serve: one deployment whose app (`api.create_app`) calls the
shard actors (`shard.ShardRouter`). Endpoints and error model: see `glyph_dist.fgms.api`.

Where `glyph-dist fgms serve` starts Ray itself, the replica answers HTTP on the service's port itself
(Serve's direct ingress, `direct_ingress_env`); Serve's proxy, a hop and a call back for every request
body away, listens on a port of its own. On a cluster the service is reached through the proxy.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Callable

from ray import serve
from ray.exceptions import RayActorError

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.api import ShardUnavailable, create_app
from glyph_dist.fgms.routing import merge_writes
from glyph_dist.fgms.schema import MemoryRecord, ReadRequest, WriteResponse
from glyph_dist.fgms.shard import ShardRouter

PORT_WAIT_S = 75  # Linux holds a closed connection's port in TIME_WAIT for 60 s


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


def direct_ingress_env(port: int, replicas: int = 1) -> dict[str, str]:
    """Ray Serve settings under which the FGMS replica serves HTTP on `port` itself: no proxy hop, and
    the request body arrives with the request instead of by an actor call back to the proxy (a read
    about 7 ms faster at p50 on 2 cores: `benchmarks/bench_fgms.py` reads both ways). Serve reads them when
    its controller and replicas start, so they must be in the environment before Ray starts. Ingress
    replicas take the ports from `port` on, one each: FGMS has one. No load balancer stands in front, so a
    replaced replica may take the port back at once and a stopping one does not wait for one to
    deregister it."""
    return {"RAY_SERVE_ENABLE_DIRECT_INGRESS": "1", "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(port),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(port + replicas),  # exclusive
            "RAY_SERVE_PORT_QUARANTINE_S": "0", "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "0"}


def bindable_port(host: str, port: int = 0, waiting: Callable[[str], None] | None = None) -> int:
    """`port` (0: any free port) once it can be bound on `host` the way Serve binds it (without
    SO_REUSEADDR). A GlyphDistError at once if a server listens there; if only connections of a
    stopped server hold it (TIME_WAIT), `waiting` is told and the port is taken once they expire, up to
    PORT_WAIT_S seconds."""
    deadline, told = time.monotonic() + PORT_WAIT_S, False
    while True:
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
                return probe.getsockname()[1]
            except OSError as exc:
                reason = exc.strerror
                if exc.errno != errno.EADDRINUSE:  # no such address, a privileged port, ...
                    raise GlyphDistError(f"cannot serve on {host}:{port}: {reason}") from exc
        if _listening(host, port):
            raise GlyphDistError(f"port {port} on {host} is in use by a running server: choose another with --port")
        if time.monotonic() > deadline:
            raise GlyphDistError(f"port {port} on {host} is still not free after {PORT_WAIT_S} s ({reason})")
        if waiting and not told:
            waiting(f"port {port} on {host} is held by the closing connections of a stopped server: "
                    f"waiting for them (up to {PORT_WAIT_S} s)")
            told = True
        time.sleep(0.5)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1" if host in ("", "0.0.0.0") else host, port), timeout=2):
            return True
    except OSError:
        return False
