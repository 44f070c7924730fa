"""The local stack's own scripts (leadflow/stack.py): what needs no running stack."""

from __future__ import annotations

from leadflow.stack import _cluster_id


def test_a_kraft_cluster_id_never_starts_with_a_dash() -> None:
    # Given many fresh cluster ids (about 1 random id in 64 starts with "-")
    ids = {_cluster_id() for _ in range(3000)}
    # Then none would be read as an option by Kafka's storage tool, and each is a 22-character id
    assert not any(i.startswith("-") for i in ids)
    assert {len(i) for i in ids} == {22}
    assert len(ids) == 3000
