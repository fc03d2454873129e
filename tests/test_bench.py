"""The bench's yardstick must do what the pipeline does, or its comparison means nothing."""

import torch

from benchmarks import plain_loop, run_all


class Order:
    """A sampler that records the epochs Lightning (or the plain loop) announces to it."""

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


class Batches(list):
    def __init__(self, *batches) -> None:
        super().__init__(batches)
        self.sampler = Order()


def test_plain_loop_announces_every_epoch_to_the_sampler_as_lightning_does():
    torch.manual_seed(0)
    batch = (torch.randn(8, 3), torch.arange(8) % 2)
    train = Batches(batch)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    plain_loop.train(model, optimizer, train, [batch], [batch], 3, torch.device("cpu"), False)
    assert train.sampler.epochs == [0, 1, 2]


def test_networks_trained_counts_sources_and_targets_but_not_reused_baseb():
    source_phase = {"source": {"trained": True, "cache_key": "a"}, "target": None}
    transfer = {"source": {"trained": False, "cache_key": "a"}, "target": {"test_acc": 0.9}}
    reused_baseb = {"source": {}, "target": {"trained": False, "cache_key": "b"}}
    trained_baseb = {"source": {}, "target": {"trained": True, "cache_key": "b"}}
    counts = [run_all.networks_trained(r) for r in (source_phase, transfer, reused_baseb)]
    assert counts == [1, 1, 0]
    assert run_all.networks_trained(trained_baseb) == 1
