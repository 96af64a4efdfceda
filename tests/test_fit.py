"""The one training loop, sanode.training.fit: batches, Adam, schedule, clipping, callback, budget."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sanode.training import SCHEDULES, NonFiniteLoss, adam, fit, minibatches


def _problem(seed: int = 0) -> tuple[nn.Linear, tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(50, 3, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    torch.manual_seed(seed)
    return nn.Linear(3, 1), (x, y)


def _mse(model: nn.Module):
    return lambda b: ((model(b[0]).squeeze(-1) - b[1]) ** 2).mean()


def test_fit_is_the_hand_written_adam_loop() -> None:
    """Same seed, same steps as the loops it replaced: randperm per epoch, zero_grad, backward, step."""
    model, data = _problem()
    opt, _ = adam(model.parameters(), 0.05)
    history = fit(_mse(model), data, opt, epochs=3, batch_size=16, generator=torch.Generator().manual_seed(7))

    ref, _ = _problem()
    ref_opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    order = torch.Generator().manual_seed(7)
    losses = []
    for _ in range(3):
        perm, total = torch.randperm(50, generator=order), 0.0
        for start in range(0, 50, 16):
            idx = perm[start : start + 16]
            loss = ((ref(data[0][idx]).squeeze(-1) - data[1][idx]) ** 2).mean()
            ref_opt.zero_grad()
            loss.backward()
            ref_opt.step()
            total += loss.item() * len(idx)
        losses.append(total / 50)
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)
    assert [r["loss"] for r in history] == losses
    assert [r["epoch"] for r in history] == [1, 2, 3] and history[-1]["loss"] < history[0]["loss"]
    assert all(r["lr"] == 0.05 for r in history) and all(r["seconds"] >= 0 for r in history)


def test_minibatches_cover_every_row_once_in_a_seeded_order() -> None:
    x, y = torch.arange(10.0), torch.arange(10)
    first = list(minibatches((x, y), 4, torch.Generator().manual_seed(1)))
    again = list(minibatches((x, y), 4, torch.Generator().manual_seed(1)))
    assert [len(b[0]) for b in first] == [4, 4, 2]
    assert sorted(torch.cat([b[1] for b in first]).tolist()) == list(range(10))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))
    assert all(torch.equal(b[0], b[1].float()) for b in first)  # rows stay paired


def test_cosine_schedule_follows_the_formula() -> None:
    model, data = _problem()
    opt, sched = adam(model.parameters(), 0.1, schedule="cosine", epochs=4)
    history = fit(_mse(model), data, opt, scheduler=sched, epochs=4, batch_size=50)
    # the record's lr is the rate after the epoch's schedule step: η/2 (1 + cos(π e / E))
    assert [r["lr"] for r in history] == pytest.approx([0.05 * (1 + math.cos(math.pi * e / 4)) for e in range(1, 5)], abs=1e-12)
    assert SCHEDULES == ("constant", "cosine")
    with pytest.raises(ValueError, match="schedule must be one of constant, cosine"):
        adam(model.parameters(), 0.1, schedule="linear")
    with pytest.raises(ValueError, match="lr must be"):
        adam(model.parameters(), -1.0)


def test_gradient_clipping_bounds_the_global_norm() -> None:
    model, data = _problem()
    seen = []

    class Spy(torch.optim.SGD):
        def step(self, closure=None):  # type: ignore[override]
            seen.append(math.sqrt(sum(float(p.grad.norm() ** 2) for p in model.parameters())))
            return super().step(closure)

    fit(_mse(model), data, Spy(model.parameters(), lr=1e-3), epochs=1, batch_size=10, grad_clip=0.01)
    assert len(seen) == 5 and max(seen) <= 0.01 + 1e-6
    with pytest.raises(ValueError, match="grad_clip"):
        fit(_mse(model), data, Spy(model.parameters(), lr=1e-3), epochs=1, batch_size=10, grad_clip=0.0)


def test_callback_sees_each_record_can_extend_it_and_stop() -> None:
    model, data = _problem()
    opt, _ = adam(model.parameters(), 0.01)
    seen = []

    def on_epoch(record):
        seen.append(record["epoch"])
        record["extra"] = 1
        return record["epoch"] == 2

    history = fit(_mse(model), data, opt, epochs=5, batch_size=25, on_epoch=on_epoch)
    assert seen == [1, 2] and [r["extra"] for r in history] == [1, 1]
    # only True stops: a logger returning something truthy does not
    history = fit(_mse(model), data, opt, epochs=3, batch_size=25, on_epoch=lambda r: "logged")
    assert len(history) == 3


def test_time_budget_stops_after_the_epoch_that_spends_it() -> None:
    model, data = _problem()
    opt, _ = adam(model.parameters(), 0.01)
    assert len(fit(_mse(model), data, opt, epochs=4, batch_size=25, time_budget_s=1e-9)) == 1
    assert len(fit(_mse(model), data, opt, epochs=4, batch_size=25, time_budget_s=3600)) == 4
    agreed = []
    fit(_mse(model), data, opt, epochs=2, batch_size=25, agree=lambda stop: agreed.append(stop) or False, time_budget_s=1e-9)
    assert agreed == [True, True]  # every process defers to the agreed decision (here: go on)


def test_terms_are_averaged_and_resuming_skips_done_epochs() -> None:
    model, data = _problem()
    opt, _ = adam(model.parameters(), 0.01)

    def loss_fn(batch):
        loss = _mse(model)(batch)
        return loss, {"total": loss.item(), "half": 0.5 * loss.item()}

    history = fit(loss_fn, data, opt, epochs=3, batch_size=20, start_epoch=1)
    assert [r["epoch"] for r in history] == [2, 3]
    assert all(r["half"] == pytest.approx(0.5 * r["total"]) for r in history) and "loss" not in history[0]


def test_a_non_finite_loss_is_reported_before_any_step_with_it() -> None:
    model, data = _problem()
    before = [p.detach().clone() for p in model.parameters()]
    opt, _ = adam(model.parameters(), 0.01)
    with pytest.raises(NonFiniteLoss, match="epoch 1: the loss is nan") as info:
        fit(lambda b: _mse(model)(b) * float("nan"), data, opt, epochs=2, batch_size=25)
    assert info.value.epoch == 1 and math.isnan(info.value.value)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        fit(_mse(model), data, opt, epochs=0, batch_size=25)
