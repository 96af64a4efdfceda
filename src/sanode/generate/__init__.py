"""Paper 2's generator: planted-attractor stationary laws decoded into images.

Mode (a), :mod:`~sanode.generate.latent`: encoder → latent stochastic CVFR → decoder, trained jointly.
Mode (b), :mod:`~sanode.generate.decoder`: a decoder fitted on the final states of a trained
pixel-space classifier. :mod:`~sanode.generate.law` fits the SDE's own stationary (LNA) law to the
codes, so that its samples generate; :mod:`~sanode.generate.dynamical_decoder` decodes with a
pixel-space CVFR instead of an MLP; :mod:`~sanode.generate.conv` is the convolutional
encoder/decoder option. Samplers (:mod:`~sanode.generate.samplers`) draw states around the
attractor of the requested class; :mod:`~sanode.generate.features` measures what the covariance eigenvectors
change; :mod:`~sanode.generate.frechet` scores samples with a *local* Fréchet distance (not FID);
:mod:`~sanode.generate.vae` is the baseline.
"""

from sanode.generate.conv import ConvDecoder, ConvEncoder
from sanode.generate.decoder import ClassifierSpaceGenerator, Decoder, final_states, fit_classifier_space, train_decoder
from sanode.generate.dynamical_decoder import DynamicalDecoder
from sanode.generate.features import FEATURES, Traversal, feature_correlations, image_features, traversal
from sanode.generate.frechet import (
    FeatureNet,
    frechet_distance,
    gaussian_fit,
    local_frechet_distance,
    train_feature_net,
)
from sanode.generate.latent import (
    Encoder,
    LatentConfig,
    LatentGenerator,
    LossTerms,
    LossWeights,
    fit_dynamical_decoder,
    refit_activity_noise,
    train_latent,
)
from sanode.generate.law import fit_law, law_covariances, law_nll
from sanode.generate.samplers import (
    SAMPLERS,
    GaussianSampler,
    Sampler,
    TimeSampler,
    empirical_sampler,
    interpolate,
    lna_sampler,
    make_sampler,
)
from sanode.generate.statistics import ClassStatistics, class_statistics
from sanode.generate.vae import VAE, train_vae

__all__ = [
    "FEATURES",
    "SAMPLERS",
    "VAE",
    "ClassStatistics",
    "ClassifierSpaceGenerator",
    "ConvDecoder",
    "ConvEncoder",
    "Decoder",
    "DynamicalDecoder",
    "Encoder",
    "FeatureNet",
    "GaussianSampler",
    "LatentConfig",
    "LatentGenerator",
    "LossTerms",
    "LossWeights",
    "Sampler",
    "TimeSampler",
    "Traversal",
    "class_statistics",
    "empirical_sampler",
    "feature_correlations",
    "final_states",
    "fit_dynamical_decoder",
    "fit_law",
    "fit_classifier_space",
    "frechet_distance",
    "gaussian_fit",
    "image_features",
    "interpolate",
    "law_covariances",
    "law_nll",
    "lna_sampler",
    "local_frechet_distance",
    "make_sampler",
    "refit_activity_noise",
    "train_decoder",
    "train_feature_net",
    "train_latent",
    "train_vae",
    "traversal",
]
