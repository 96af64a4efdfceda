import math

import pytest
import torch

from sanode import readout
from sanode.build import build_classifier
from sanode.config import RunConfig
from sanode.data.letters import load_letters, templates


@pytest.fixture(scope="module")
def model():
    return build_classifier(RunConfig(), 49, 3, templates=templates())


def test_untrained_model_keeps_attractors_fixed(model):
    with torch.no_grad():
        out = model(model.attractors)
    assert (out - model.attractors).abs().max() < 1e-5


@pytest.mark.parametrize("shape", [(10, 48), (10, 50), (49, 10)])
def test_wrong_input_width_is_refused(model, shape):
    with pytest.raises(ValueError, match="inputs must have shape"):
        model(torch.rand(*shape))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_inputs_are_refused(model, bad):
    x = torch.rand(4, 49)
    x[2, 7] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        model(x)


def test_integer_inputs_are_refused(model):
    with pytest.raises(ValueError, match="floating point"):
        model(torch.ones(2, 49, dtype=torch.int64))


def test_readout_rules():
    attractors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    final = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.8, 1.1], [0.5, 0.5, 0.5]])
    assert readout.classify(final, attractors, "inner_product").tolist() == [0, 1, 1]
    assert readout.classify(final, attractors, "nearest").tolist() == [0, 1, 0]
    assert readout.classify(final, attractors, "threshold", threshold=0.2).tolist() == [0, 1, readout.UNDECIDED]
    s = readout.score(final, torch.tensor([0, 1, 0]), attractors, threshold=0.2)
    assert s.undecided_fraction == pytest.approx(1 / 3)
    assert s.accuracy["threshold"] == pytest.approx(2 / 3) and s.decided_accuracy == 1.0
    with pytest.raises(ValueError, match="unknown readout"):
        readout.classify(final, attractors, "vote")


def test_confusion_matrix_counts():
    pred = torch.tensor([0, 1, 1, -1, 2])
    true = torch.tensor([0, 1, 0, 2, 2])
    cm = readout.confusion_matrix(pred, true, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_letters_dataset():
    a = load_letters("train", n_train=2000, seed=3)
    b = load_letters("train", n_train=2000, seed=3)
    t = load_letters("test", n_test=500, seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x[:500], t.x)
    assert a.x.shape == (2000, 49) and a.image_shape == (7, 7)
    changed = (a.x != templates()[a.y]).float().mean()
    assert 0.15 < float(changed) < 0.21  # ≈ 0.2 replaced, minus replacements that land on the same value class
    assert set(a.y.unique().tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="probability"):
        load_letters("train", noise=1.5)
