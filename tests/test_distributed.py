"""Several devices for one job, on CPU with gloo: DDP ranks spawned per fit (trainer=ddp)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import TINY
from transfer_lab.data.batches import DeviceBatches, rank_batches


@pytest.mark.parametrize("n,batch,world", [(10, 4, 2), (9, 4, 2), (13, 4, 3), (5, 2, 2), (7, 3, 1)])
def test_ranks_share_every_batch_and_see_each_sample_once(n, batch, world):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    shares = [rank_batches(order, batch, rank, world) for rank in range(world)]
    assert len({len(share) for share in shares}) == 1  # DDP needs the same count per rank
    assert all(len(b) > 0 for share in shares for b in share)
    seen = torch.cat([b for share in shares for b in share])
    assert sorted(seen.tolist()) == list(range(n))


def test_one_device_keeps_the_plain_batches():
    order = torch.arange(7)
    assert [b.tolist() for b in rank_batches(order, 3, 0, 1)] == [[0, 1, 2], [3, 4, 5], [6]]


def test_ranks_draw_the_same_order_and_a_new_one_per_epoch():
    x, y = torch.arange(20).view(20, 1, 1, 1), torch.arange(20)

    def epoch(rank: int, number: int) -> list[int]:
        batches = DeviceBatches(x, y, 4, lambda t: t, shuffle=True, seed=3, rank=rank, world_size=2)
        batches.sampler.set_epoch(number)  # what Lightning does before every epoch
        return [int(v) for _, labels in batches for v in labels]

    first = epoch(0, 0) + epoch(1, 0)
    assert sorted(first) == list(range(20))
    assert epoch(0, 0) == epoch(0, 0)  # a resumed run draws the same epoch again
    assert epoch(0, 1) != epoch(0, 0)


@pytest.mark.slow
def test_sweep_of_two_process_ddp_jobs(cli):
    """Each rank trains on half of every epoch; one results.json per job, from rank 0 only."""
    args = [
        "+experiment=digits_yosinski",
        "sweep",
        "transfer.arm=A4B+,A3B",
        "data.split_seed=0",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "source.epochs=1",
        "target.epochs=2",
        "+callbacks.seen._target_=tests.distributed_helpers.SeenSamples",
        "hydra.sweep.dir=sweep",
        *TINY[2:],
    ]
    done = cli(args)
    assert "plan: 1 source network(s) to train, then 2 target job(s)" in done.stdout
    sweep = cli.cwd / "sweep"
    for number in (0, 1):
        job = sweep / str(number)
        results = json.loads((job / "results.json").read_text())
        assert results["status"] == "ok", results.get("reason")
        # rank 0 tests on every test image at every epoch (digits_yosinski: mean of the best)
        history = results["target"]["test_history"]
        assert history["epoch"] == [1, 2] and all(0 <= a <= 1 for a in history["acc"])
        train = results["sizes"]["target_train"]
        ranks = [json.loads((job / f"seen-target-rank{r}.json").read_text()) for r in (0, 1)]
        for epoch in ("0", "1"):
            counts = [rank[epoch] for rank in ranks]
            assert sum(counts) == train and abs(counts[0] - counts[1]) <= 1
    assert len(list(sweep.glob("*/results.json"))) == 2
    assert len(list((sweep / "sources").glob("*/results.json"))) == 1


def test_several_devices_mean_spawned_ranks_and_plain_ddp_is_refused():
    from tests.conftest import compose
    from transfer_lab.errors import UserError
    from transfer_lab.train.trainer import SPAWNED_DDP, is_distributed, trainer_settings

    cfg = compose(["trainer.devices=4", "trainer.accelerator=cpu"]).trainer
    assert trainer_settings(cfg)["strategy"] == SPAWNED_DDP and is_distributed(cfg)
    assert not is_distributed(compose(["trainer=cpu"]).trainer)
    with pytest.raises(UserError, match="re-running the command line; use trainer=ddp"):
        trainer_settings(compose(["+trainer.strategy=ddp", "trainer.devices=2"]).trainer)
