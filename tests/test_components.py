"""Registries and nested component configs: every registered class round-trips through
``to_config()`` → ``build``; the flat config spelling of earlier versions still loads and builds the
very same model (coupling matrices and attractors compared with values recorded before the change)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sanode.attractors import ATTRACTORS
from sanode.build import build_classifier, make_alphabet
from sanode.config import ModelConfig, RunConfig, apply_overrides, load_config, named_configs, translate_flat_model
from sanode.coupling import COUPLINGS
from sanode.data import DATASETS, LabeledData, from_arrays, load_splits, register_arrays
from sanode.data.letters import templates as letter_templates
from sanode.dynamics import FILTERS, REACTIONS

LEGACY = Path(__file__).parent / "legacy_configs"

# Settings other than the defaults, so that a round trip that forgot a setting fails.
REACTION_SETTINGS = {"linear": {"rate": 0.7}, "double_well": {"gamma": 0.3, "a": 0.6}}
FILTER_SETTINGS = {"hill": {"c": 0.05}, "identity": {}}
COUPLING_SETTINGS = {
    "spectral": {"init": "orthogonal", "gain": 1.3, "free_eig_init": [-0.5, 0.2], "complex_pairs": True, "solve_dtype": None},
    "projector": {"init_scale": 2.0},
    "symmetric": {"free_eig_init": [-2.0, 0.5]},
}
ATTRACTOR_SETTINGS = {
    "templates": {"threshold": 0.4},
    "class_blocks": {"letter": "x_m"},
    "block_complements": {"letter": "x_m"},
    "random": {"density": 0.3, "max_tries": 7},
}


def test_every_registered_class_has_settings_here() -> None:
    assert set(REACTIONS) == set(REACTION_SETTINGS)
    assert set(FILTERS) == set(FILTER_SETTINGS)
    assert set(COUPLINGS) == set(COUPLING_SETTINGS)
    assert set(ATTRACTORS) == set(ATTRACTOR_SETTINGS)
    assert {"letters", "mnist", "fashion_mnist", "digits"} <= set(DATASETS)


@pytest.mark.parametrize(
    ("registry", "settings"), [(REACTIONS, REACTION_SETTINGS), (FILTERS, FILTER_SETTINGS), (ATTRACTORS, ATTRACTOR_SETTINGS)]
)
def test_value_components_round_trip(registry, settings) -> None:
    for kind, values in settings.items():
        config = {"kind": kind, **values}
        obj = registry.build(config)
        assert obj.to_config() == {**registry.build(kind).to_config(), **config}
        assert registry.build(obj.to_config()) == obj
        assert registry.build(obj.to_config()).to_config() == obj.to_config()


@pytest.mark.parametrize("kind", sorted(COUPLING_SETTINGS))
def test_couplings_round_trip(kind: str) -> None:
    patterns = torch.eye(12, dtype=torch.float64)[:3] + 0.1
    context = {"patterns": patterns, "eigenvalue": 1.5}
    coupling = COUPLINGS.build({"kind": kind, **COUPLING_SETTINGS[kind]}, generator=torch.Generator().manual_seed(4), **context)
    config = coupling.to_config()
    assert {k: config[k] for k in COUPLING_SETTINGS[kind]} == COUPLING_SETTINGS[kind]
    json.dumps(config)  # a config is plain JSON
    rebuilt = COUPLINGS.build(config, generator=torch.Generator().manual_seed(4), **context)
    assert type(rebuilt) is type(coupling) and rebuilt.to_config() == config
    assert torch.equal(rebuilt.matrix(), coupling.matrix())
    for (name, a), (_, b) in zip(coupling.state_dict().items(), rebuilt.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_attractor_builders_draw_as_the_functions_do() -> None:
    alphabet = make_alphabet(ModelConfig(), 49)
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    for kind in ATTRACTORS:
        builder = ATTRACTORS.build(kind)
        a = builder(3, 49, alphabet, templates=letter_templates(), generator=gen())
        b = ATTRACTORS.build(builder.to_config())(3, 49, alphabet, templates=letter_templates(), generator=gen())
        assert a.shape == (3, 49) and torch.equal(a, b), kind
    with pytest.raises(ValueError, match="needs class templates"):
        ATTRACTORS.build("templates")(3, 49, alphabet)


def test_datasets_round_trip_and_user_arrays_register() -> None:
    for kind in ("letters", "mnist", "fashion_mnist", "digits"):
        dataset = DATASETS.build(kind)
        assert DATASETS.build(dataset.to_config()) == dataset
    letters = DATASETS.build({"kind": "letters", "noise": 0.1})
    assert letters.to_config() == {"kind": "letters", "noise": 0.1} and DATASETS.build(letters.to_config()) == letters
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 6, generator=gen), torch.arange(40) % 2
    train, test = from_arrays(x[:30], y[:30]), from_arrays(x[30:], y[30:])
    dataset = register_arrays("test-components-arrays", train, test)
    assert DATASETS.build(dataset.to_config()) is dataset
    splits = load_splits("test-components-arrays", n_train=20, val_fraction=0.25)
    assert isinstance(splits.train, LabeledData) and len(splits.train) + len(splits.val) == 20 and len(splits.test) == 10
    with pytest.raises(ValueError, match="already registered"):
        register_arrays("test-components-arrays", train, test)
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_splits("nope")


def test_unknown_kinds_and_settings_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown coupling 'spectrall'; choose one of projector, spectral"):
        build_classifier(load_config("paper1-letters", ["model.coupling=spectrall"]), 49, 3, templates=letter_templates())
    with pytest.raises(ValueError, match=r"invalid settings \['gain'\] for filter 'hill'"):
        FILTERS.build({"kind": "hill", "gain": 2})
    with pytest.raises(ValueError, match='model.filter must be a name or a mapping with a "kind" key'):
        RunConfig.from_dict({"model": {"filter": {"c": 0.2}}})


# ------------------------------------------------------------------ the flat spelling of earlier versions

# Recorded on the commit before nested configs (train.dtype=float64): N, K, ΣA, Σ|A|, ΣA², Σx_s, Σ|x_s|.
BEFORE = {
    "authors-fashion-mnist": [784, 10, 788.7292198306247, 128949.84404792401, 57634.72797002413, 215.21739661693573],
    "authors-mnist": [784, 10, 788.7292198306247, 128949.84404792401, 57634.72797002413, 215.21739661693573],
    "best-letters": [49, 3, 336.65437865977697, 659.7394605678103, 299.15630640220485, 40.970563888549805],
    "unit-blocks-fashion-mnist": [784, 10, 779.3675153145634, 11024.057927828759, 268.108556462582, 665.7716631889343],
    "unit-blocks-mnist": [784, 10, 779.3675153145634, 11024.057927828759, 268.108556462582, 665.7716631889343],
    "paper1-letters": [49, 3, 138.2958869558941, 601.5754620757198, 299.1563064022048, 34.99568998813629],
    "unit-blocks-paper1-mnist": [784, 10, 21703.055055547615, 542036.371342334, 1621384.6562959354, 665.7716631889343],
    "stored-run-spectral.config.json": [49, 3, 446.2768524675414, 3394.8096261213127, 17063.00526606182, 34.99568998813629],
    "stored-run-projector.config.json": [49, 3, 13.774411463206382, 332.9045759280658, 63.24729469681125, 57.0],
}


def _fingerprint(config: RunConfig, n: int, k: int) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    templates = letter_templates() if n == 49 else None
    model = build_classifier(config, n, k, templates=templates)
    a = model.drift.coupling.matrix().detach()
    x = model.attractors
    return a, x, [float(a.sum()), float(a.abs().sum()), float((a * a).sum()), float(x.sum())]


@pytest.mark.parametrize("name", named_configs())
def test_shipped_configs_use_the_nested_spelling_and_round_trip(name: str) -> None:
    assert "c" not in json.loads((LEGACY.parent.parent / "src/sanode/configs" / f"{name}.json").read_text())["model"]
    config = load_config(name)
    assert RunConfig.from_dict(json.loads(config.to_json())) == config


# The configs that existed before the nested spelling; configs added since have no flat spelling.
@pytest.mark.parametrize("name", [n for n in named_configs() if (LEGACY / f"{n}.json").exists()])
def test_shipped_configs_equal_their_flat_spelling_and_build_as_before(name: str) -> None:
    shipped = load_config(name, ["train.dtype=float64"])
    flat = load_config(LEGACY / f"{name}.json", ["train.dtype=float64"])
    assert shipped == flat
    assert "c" not in json.loads((LEGACY.parent.parent / "src/sanode/configs" / f"{name}.json").read_text())["model"]
    n, k, *expected = BEFORE[name]
    a_new, x_new, got = _fingerprint(shipped, n, k)
    a_old, x_old, _ = _fingerprint(flat, n, k)
    assert torch.equal(a_new, a_old) and torch.equal(x_new, x_old)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["stored-run-spectral.config.json", "stored-run-projector.config.json"])
def test_a_stored_flat_config_json_builds_the_model_it_built_before(name: str) -> None:
    raw = json.loads((LEGACY / name).read_text())
    assert isinstance(raw["model"]["coupling"], str) and "c" in raw["model"]  # really the old spelling
    config = load_config(LEGACY / name)
    n, k, *expected = BEFORE[name]
    assert _fingerprint(config, n, k)[2] == pytest.approx(expected, rel=1e-12)
    # Storing the loaded config writes the new spelling, which loads to the same config.
    again = RunConfig.from_dict(json.loads(config.to_json()))
    assert again == config and isinstance(json.loads(config.to_json())["model"]["coupling"], dict)


def test_flat_keys_are_translated_into_the_nested_components() -> None:
    flat = {"coupling": "projector", "init_scale": 2.0, "gain": 1.3, "filter": "identity", "c": 0.2, "attractors": "random"}
    assert translate_flat_model(flat) == {
        "coupling": {"kind": "projector", "init_scale": 2.0},  # gain belonged to spectral: ignored, as before
        "filter": {"kind": "identity"},
        "attractors": {"kind": "random"},
    }
    model = RunConfig.from_dict({"model": flat}).model
    assert model.attractors == {"kind": "random"} and model.filter == {"kind": "identity"}
    assert RunConfig.from_dict({"model": {"gain": 1.3}}).model.coupling["gain"] == 1.3  # the default coupling is spectral


def test_flat_overrides_land_in_the_nested_config() -> None:
    config = load_config("paper1-letters", ["model.c=0.2", "model.gain=1.3", "model.free_eig_init=[-1, 0.5]"])
    assert config.model.filter == {"kind": "hill", "c": 0.2}
    assert config.model.coupling == {"kind": "spectral", "gain": 1.3, "free_eig_init": [-1, 0.5]}
    assert make_alphabet(config.model, 49).c == 0.2
    model = build_classifier(config, 49, 3, templates=letter_templates())
    assert model.drift.filter.c == 0.2 and model.drift.coupling.gain == 1.3


def test_nested_overrides() -> None:
    config = load_config("paper1-letters", ["model.coupling.gain=1.3", "model.filter.c=0.3", "model.reaction.rate=2.0"])
    assert config.model.coupling == {"kind": "spectral", "gain": 1.3}
    assert config.model.filter == {"kind": "hill", "c": 0.3} and config.model.reaction == {"kind": "linear", "rate": 2.0}
    # a component the file leaves out starts from its default; a bare name from {"kind": name}
    raw = apply_overrides({"model": {}}, ["model.coupling.gain=2"])
    assert raw["model"]["coupling"] == {**ModelConfig().coupling, "gain": 2}
    raw = apply_overrides({"model": {"coupling": "projector"}}, ["model.coupling.init_scale=2"])
    assert raw["model"]["coupling"] == {"kind": "projector", "init_scale": 2}
    switched = load_config("paper1-letters", ['model.coupling={"kind": "projector", "init_scale": 0.5}'])
    assert switched.model.coupling == {"kind": "projector", "init_scale": 0.5}
    with pytest.raises(ValueError, match="is not a component config"):
        apply_overrides({"model": {"beta": 1.0}}, ["model.beta.x=2"])


def test_a_flat_key_for_another_kind_next_to_a_nested_config_names_the_new_spelling() -> None:
    with pytest.raises(
        ValueError, match=r"model.init_scale is a setting of the 'projector' coupling.*model.coupling=\{\"kind\": \"projector\""
    ):
        load_config("paper1-letters", ["model.init_scale=2"])
    with pytest.raises(ValueError, match="model.c is a setting of the 'hill' filter"):
        load_config("paper1-letters", ['model.filter={"kind": "identity"}', "model.c=0.2"])
