"""Run as a script by test_fgms_ray: a multi-node Ray cluster on this machine. The shard starts on
node A (the head has no CPUs to offer); node A is removed; the shard must come back on node B with
every memory."""

import sys

import ray
from ray.cluster_utils import Cluster

from glyph_dist.fgms.schema import MemoryRecord, ReadRequest, ReadResponse
from glyph_dist.fgms.shard import ShardRouter


def main(tape: str, storage: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    node_a = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        router = ShardRouter(tape, storage, shards=1, shard_cpus=1)
        records = [MemoryRecord(actor_id="a", record_id=f"r{k}", text=f"Remember fact number {k} please.")
                   for k in range(30)]
        assert sum(r.written for r in ray.get(router.write(records))) == 30
        assert ray.get(router.handles[0].node_id.remote()) == node_a.node_id
        node_b = cluster.add_node(num_cpus=1)
        cluster.remove_node(node_a)
        assert ray.get(router.handles[0].node_id.remote(), timeout=180) == node_b.node_id
        response = ReadResponse.model_validate_json(
            ray.get(router.read(ReadRequest(actor_id="a", token_budget=4096, mode="text"))))
        assert {i.record_id for i in response.items} == {r.record_id for r in records}
        print("shard moved from node A to node B with all 30 memories")
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
