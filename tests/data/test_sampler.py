"""The epoch sampler: fixed by (seed, epoch), sharded evenly across ranks, resumable mid-epoch."""

from edgeseg.data.loader import EpochSampler


def test_order_depends_on_seed_and_epoch_only():
    a, b = EpochSampler(10, seed=1), EpochSampler(10, seed=1)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b) and sorted(a) == list(range(10))
    b.set_epoch(4)
    assert list(a) != list(b)


def test_ranks_get_equal_shares_that_cover_the_epoch():
    shards = []
    for rank in range(3):
        sampler = EpochSampler(10, seed=0, rank=rank, world_size=3)
        sampler.set_epoch(2)
        shards.append(list(sampler))
    assert [len(s) for s in shards] == [4, 4, 4]  # padded by wrapping around
    assert {i for shard in shards for i in shard} == set(range(10))


def test_start_skips_what_a_resumed_run_already_trained_on():
    sampler = EpochSampler(12, seed=5)
    sampler.set_epoch(1)
    full = list(sampler)
    sampler.set_epoch(1, start=8)
    assert list(sampler) == full[8:] and len(sampler) == 4 and sampler.per_rank == 12
