"""KRaft cluster ids the storage tool accepts."""

from __future__ import annotations

from stream_app.kafka.local_config import new_cluster_id


def test_cluster_ids_never_start_with_a_dash() -> None:
    ids = [new_cluster_id() for _ in range(5000)]  # ~1 in 64 raw ids would start with '-'
    assert all(not i.startswith("-") and len(i) == 22 for i in ids)
    assert len(set(ids)) == len(ids)
