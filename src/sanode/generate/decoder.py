"""The feedforward decoder z ↦ image, and generation mode (b): decoding a classifier's own states.

Paper 2 (Gagliani et al., arXiv 2510.12286) turns the stationary law around each planted attractor
into images by "providing samples from the target distribution as an input to a feedforward neural
network". Two ways to get such a network are offered:

* mode (a), :mod:`sanode.generate.latent`: the decoder is trained jointly with an encoder and a
  latent stochastic CVFR (the authors' code);
* mode (b), here: an already trained pixel-space :class:`~sanode.model.AttractorClassifier` is
  frozen, its final states x(T) are recorded for the training images, and a decoder is fitted
  afterwards on the pairs (x(T), image) by minimising the mean squared error

      L_dec = (1/n) Σ_j ‖D(x_j(T)) − x_j(0)‖² / N.                                    (dec)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sanode.data.base import LabeledData
from sanode.generate.dynamical_decoder import DynamicalDecoder
from sanode.generate.statistics import ClassStatistics, class_statistics
from sanode.model import AttractorClassifier
from sanode.training.fit import NonFiniteLoss, adam, fit
from sanode.validation import (
    check_batch,
    check_generator,
    check_hidden,
    check_positive_int,
)

__all__ = ["ClassifierSpaceGenerator", "Decoder", "final_states", "fit_classifier_space", "mlp", "train_decoder"]


def mlp(n_in: int, hidden: tuple[int, ...], n_out: int, *, final: nn.Module | None) -> nn.Sequential:
    """Linear → ReLU for each hidden width, then Linear to ``n_out`` and the optional ``final`` layer."""
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, n_out))
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


class Decoder(nn.Module):
    """x̂ = sigmoid(MLP(z)): latent or state vectors (n, d) to pixel intensities (n, N) in (0, 1).

    The authors' MNIST decoder mirrors the encoder (hidden widths [200, 400, 600]) and ends in a
    sigmoid (method-notes §2.4).

    Args:
        n_latent: input width d.
        n_out: output width N (pixels).
        hidden: hidden widths, first to last.
        seed: initialise from this seed without touching torch's global generator (None: use it).
    """

    def __init__(self, n_latent: int, n_out: int, hidden: tuple[int, ...] = (200, 400, 600), *, seed: int | None = None):
        super().__init__()
        self.n_latent = check_positive_int("n_latent", n_latent)
        self.n_out = check_positive_int("n_out", n_out)
        self.hidden = check_hidden(hidden)
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.net = mlp(n_latent, self.hidden, n_out, final=nn.Sigmoid())

    def forward(self, z: Tensor) -> Tensor:
        check_batch("decoder input", z, self.n_latent)
        return self.net(z)


def train_decoder(
    decoder: Decoder | DynamicalDecoder,
    codes: Tensor,
    images: Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Fit ``decoder`` to map ``codes`` to ``images`` by minimising (dec) with Adam.

    Args:
        decoder: the network to train (in place): the MLP :class:`Decoder` or a
            :class:`~sanode.generate.dynamical_decoder.DynamicalDecoder`.
        codes: (n, d) inputs, e.g. a classifier's final states x(T).
        images: (n, N) targets in [0, 1].
        epochs: passes over the data.
        batch_size: items per step.
        lr: Adam's learning rate.
        seed: seeds the minibatch order.

    Returns:
        The mean training loss of each epoch.

    Raises:
        ValueError: mismatched or non-finite inputs, bad hyper-parameters, or a diverging loss.
    """
    check_batch("codes", codes, decoder.n_latent)
    check_batch("images", images, decoder.n_out)
    if len(codes) != len(images):
        raise ValueError(f"codes and images must pair up: {len(codes)} codes vs {len(images)} images")
    dtype, order = next(decoder.parameters()).dtype, torch.Generator().manual_seed(seed)
    opt, _ = adam(decoder.parameters(), lr)

    # A dynamical decoder is fitted on its unclipped x(T): the clip would stop the gradient of a dark pixel.
    output = decoder.flow if isinstance(decoder, DynamicalDecoder) else decoder

    def reconstruction(batch: tuple[Tensor, ...]) -> Tensor:
        return nn.functional.mse_loss(output(batch[0]), batch[1])

    decoder.train()
    try:
        history = fit(
            reconstruction, (codes.to(dtype), images.to(dtype)), opt, epochs=epochs, batch_size=batch_size, generator=order
        )
    except NonFiniteLoss as err:
        raise ValueError(f"decoder training diverged at epoch {err.epoch} (loss {err.value}); lower lr") from err
    decoder.eval()
    return [record["loss"] for record in history]


@torch.no_grad()
def final_states(
    model: AttractorClassifier, x: Tensor, *, generator: torch.Generator | None = None, batch_size: int = 2000
) -> Tensor:
    """x(T) of the (stochastic) classifier for every row of ``x``, in batches, without gradient."""
    check_batch("inputs", x, model.n_nodes)
    check_generator(generator)
    check_positive_int("batch_size", batch_size)
    dtype = model.attractors.dtype
    parts = [model(x[i : i + batch_size].to(dtype), generator=generator) for i in range(0, len(x), batch_size)]
    return torch.cat(parts)


@dataclass
class ClassifierSpaceGenerator:
    """Mode (b): a frozen classifier, the statistics of its final states, and a decoder fitted on them.

    Samplers (:mod:`sanode.generate.samplers`) draw states around the classifier's attractors; the
    decoder turns them into images.

    Attributes:
        dynamics: the trained classifier (its drift, attractors and noise define the samplers).
        decoder: maps x(T) (n, N) to images (n, N).
        statistics: per-class mean and covariance of x(T) over the data the decoder saw.
        history: the decoder's training loss per epoch.
    """

    dynamics: AttractorClassifier
    decoder: Decoder
    statistics: ClassStatistics
    history: list[float]

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z.to(next(self.decoder.parameters()).dtype))


def fit_classifier_space(
    model: AttractorClassifier,
    data: LabeledData,
    *,
    hidden: tuple[int, ...] = (512, 512),
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> ClassifierSpaceGenerator:
    """Record x(T) of ``model`` on ``data`` (seeded noise) and fit a decoder x(T) ↦ image (mode b).

    Args:
        model: a trained pixel-space classifier (N = data.n_features); it is left unchanged.
        data: the images (their labels give the per-class statistics).
        hidden: decoder hidden widths.
        epochs, batch_size, lr: decoder training.
        seed: seeds the noise of the classifier's runs, the decoder's initialisation and batch order.

    Raises:
        ValueError: the data do not match the model (width or number of classes).
    """
    if not isinstance(model, AttractorClassifier):
        raise ValueError(f"model must be an AttractorClassifier, got {type(model).__name__}")
    if data.n_features != model.n_nodes:
        raise ValueError(f"the classifier has N = {model.n_nodes} nodes but the data have {data.n_features} features")
    if data.n_classes != model.n_classes:
        raise ValueError(f"the classifier has {model.n_classes} attractors but the data have {data.n_classes} classes")
    model.eval()
    codes = final_states(model, data.x, generator=torch.Generator().manual_seed(seed))
    stats = class_statistics(codes, data.y, model.n_classes)
    decoder = Decoder(model.n_nodes, data.n_features, hidden, seed=seed).to(codes.dtype)
    history = train_decoder(decoder, codes, data.x, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    return ClassifierSpaceGenerator(model, decoder, stats, history)
