"""Run configuration: typed dataclasses, named JSON configs shipped in ``sanode/configs``, and
``section.key=value`` overrides (the resolved config is stored in every run directory).

Each model component is a nested config ``{"kind": name, **settings}`` naming a class of its
registry (reaction, filter, attractors, coupling, noise); the flat spelling of earlier versions
(``"coupling": "spectral", "gain": 1.3``) is translated on loading by :func:`translate_flat_model`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints


@dataclass
class DataConfig:
    """Which data, how much of it, and where it lives."""

    name: str = "letters"  # letters | mnist | fashion_mnist | digits
    n_train: int | None = 3000  # None: the whole split
    n_test: int | None = 1000
    noise: float = 0.2  # letters only: pixel replacement probability
    val_fraction: float = 0.0  # held out from train for early stopping
    data_dir: str | None = None
    seed: int = 0


def _spectral() -> dict[str, Any]:
    return {
        "kind": "spectral",
        "init": "complement",
        "gain": 1.0,
        "free_eig_init": [-0.4, 0.4],
        "complex_pairs": False,
        "solve_dtype": "float64",
    }


@dataclass
class ModelConfig:
    """The dynamical system: each component a ``{"kind": name, **settings}`` config (a bare name
    stands for ``{"kind": name}``); ``beta`` and ``lam`` set the drift's scales.

    The settings are those of the registered class (:data:`sanode.dynamics.REACTIONS`,
    :data:`~sanode.dynamics.FILTERS`, :data:`sanode.attractors.ATTRACTORS`,
    :data:`sanode.coupling.COUPLINGS`, the noises): e.g. ``{"kind": "hill", "c": 0.125}``,
    ``{"kind": "spectral", "init": "orthogonal", "gain": 1.3}``, ``{"kind": "projector", "init_scale": 1.0}``.
    """

    reaction: dict[str, Any] = field(default_factory=lambda: {"kind": "linear"})  # linear | double_well
    filter: dict[str, Any] = field(default_factory=lambda: {"kind": "hill", "c": 0.125})  # hill | identity
    beta: float | None = None  # None: 1/sqrt(N) (paper 1)
    lam: float | None = None  # planted eigenvalue; None: 1/beta, so that beta*lam = 1
    attractors: dict[str, Any] = field(
        default_factory=lambda: {"kind": "templates"}
    )  # + class_blocks | block_complements | random
    coupling: dict[str, Any] = field(default_factory=_spectral)  # spectral | projector
    noise: dict[str, Any] | None = None  # e.g. {"kind": "damped", "sigma": 0.1} or {"kind": "additive", "eps": 0.06}
    input_scale: float | str = 1.0  # x(0) = s · input; "sqrt_n": s = √N (the authors' regime in the unit scale)

    def __post_init__(self) -> None:
        for name in COMPONENTS:
            setattr(self, name, component_config(f"model.{name}", getattr(self, name)))
        s = self.input_scale
        if s != "sqrt_n" and (isinstance(s, bool) or not isinstance(s, (int, float)) or not (0 < s < float("inf"))):
            raise ValueError(f'model.input_scale must be a finite number > 0 or "sqrt_n", got {s!r}')


COMPONENTS = ("reaction", "filter", "attractors", "coupling")

# The flat keys of earlier versions: key -> (component, the kind whose setting it is).
FLAT_MODEL_KEYS: dict[str, tuple[str, str]] = {
    "c": ("filter", "hill"),
    "init": ("coupling", "spectral"),
    "gain": ("coupling", "spectral"),
    "free_eig_init": ("coupling", "spectral"),
    "complex_pairs": ("coupling", "spectral"),
    "solve_dtype": ("coupling", "spectral"),
    "init_scale": ("coupling", "projector"),
}


def component_config(where: str, value: Any) -> dict[str, Any]:
    """``value`` as a ``{"kind": name, ...}`` dict (a bare name becomes ``{"kind": name}``)."""
    if isinstance(value, str):
        return {"kind": value}
    if not isinstance(value, Mapping) or not isinstance(value.get("kind"), str):
        raise ValueError(f'{where} must be a name or a mapping with a "kind" key, e.g. {{"kind": "...", ...}}; got {value!r}')
    return dict(value)


def translate_flat_model(values: Mapping[str, Any]) -> dict[str, Any]:
    """Rewrite the flat model keys of earlier versions into nested component configs.

    ``{"filter": "hill", "c": 0.2}`` becomes ``{"filter": {"kind": "hill", "c": 0.2}}`` and
    ``{"coupling": "spectral", "gain": 1.3}`` becomes ``{"coupling": {"kind": "spectral", "gain": 1.3}}``;
    a flat key also merges into a nested config of the right kind (so ``--set model.c=0.2`` still
    works). A flat key for another kind than the one chosen was ignored by earlier versions, and is
    dropped when the component is spelled the old way (a bare name, or not given); next to a nested
    config of another kind it is an error that names the new spelling.
    """
    out = dict(values)
    nested = {name for name in COMPONENTS if isinstance(values.get(name), Mapping)}
    for name in COMPONENTS:
        if name in out:
            out[name] = component_config(f"model.{name}", out[name])
    defaults = ModelConfig()
    for key, (component, kind) in FLAT_MODEL_KEYS.items():
        if key not in out:
            continue
        value = out.pop(key)
        spec = out.get(component, getattr(defaults, component))
        if spec["kind"] == kind:
            out[component] = {**spec, key: value}
        elif component in nested:
            raise ValueError(
                f"model.{key} is a setting of the {kind!r} {component}, but model.{component} is {spec['kind']!r}; "
                f'spell it model.{component}={{"kind": "{kind}", "{key}": ...}} (or drop model.{key})'
            )
    return out


@dataclass
class SolverConfig:
    method: str = "euler"  # euler | exp_euler | heun
    dt: float = 0.1
    steps: int = 50
    compile: bool | str = False  # torch.compile the unroll: True, or a mode ("reduce-overhead": CUDA graphs)


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 100
    lr: float = 0.01
    lr_schedule: str = "constant"  # constant | cosine
    loss_space: str = "state"  # state | rate
    patience: int | None = None  # early stopping on validation loss (needs val_fraction > 0)
    grad_clip: float | None = None  # max global gradient norm (None: no clipping)
    shift: int = 0  # augmentation: move each training image by up to this many pixels (0: off)
    time_budget_s: float | None = None  # start no new epoch once this much wall time has passed
    seed: int = 0
    dtype: str = "float32"
    # issue 16: loss at several times / at the fixed point / stability margins (sanode.training.losses.Objective);
    # None is paper 1's loss at T alone
    objective: dict[str, Any] | None = None


@dataclass
class EvalConfig:
    threshold: float = 0.1  # RMS distance for the conservative readout
    batch_size: int = 2000
    # issue 16: also integrate the test inputs until ‖F‖∞ < 1e-4 (cap 100 T) and report the settled
    # state's accuracy (nearest-attractor rule first) as the headline
    settle: bool = False


@dataclass
class RunConfig:
    name: str = "custom"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        kwargs: dict[str, Any] = {}
        sections = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in raw.items():
            if key not in sections:
                raise ValueError(f"unknown config section {key!r}; valid: {', '.join(sections)}")
            if key == "name":
                kwargs[key] = str(value)
                continue
            if key == "resumes":
                continue  # config.json's history of resumes (sanode.io.rundir), not a setting
            section_cls = _SECTIONS[key]
            if not isinstance(value, dict):
                raise ValueError(f"config section {key!r} must be a mapping, got {type(value).__name__}")
            kwargs[key] = _build_section(section_cls, key, value)
        return cls(**kwargs)


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "solver": SolverConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
}


def _build_section(section_cls: type, section: str, values: dict[str, Any]) -> Any:
    if section_cls is ModelConfig:
        values = translate_flat_model(values)
    known = {f.name: f for f in dataclasses.fields(section_cls)}
    for key in values:
        if key not in known:
            raise ValueError(f"unknown key {section}.{key}; valid keys: {', '.join(known)}")
    default = section_cls()
    clean = {}
    for key, value in values.items():
        ref = getattr(default, key)
        if isinstance(ref, tuple) and isinstance(value, list):
            value = tuple(value)
        check_type(f"{section}.{key}", value, _hints(section_cls)[key])
        clean[key] = value
    return section_cls(**clean)


def _hints(section_cls: type) -> dict[str, Any]:
    return get_type_hints(section_cls)


def _matches(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin is Union or (origin is not None and type(hint).__name__ == "UnionType"):
        return any(_matches(value, arg) for arg in get_args(hint))
    if origin is not None:
        return isinstance(value, origin)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_text(hint: Any) -> str:
    args = get_args(hint)
    if args and get_origin(hint) is not dict:
        return " or ".join("null" if a is type(None) else _type_text(a) for a in args)
    return {float: "a number", int: "an integer", str: "a string", bool: "true/false"}.get(hint, str(hint))


def check_type(where: str, value: Any, hint: Any) -> None:
    """Refuse a setting whose JSON type is not its field's (``train.lr=abc`` is a string, not a number).

    Raises:
        ValueError: naming the setting, the value and the type it needs.
    """
    if not _matches(value, hint):
        raise ValueError(f"{where} must be {_type_text(hint)}, got {value!r} ({type(value).__name__})")


def named_configs() -> list[str]:
    """Names of the configs shipped with the package."""
    return sorted(p.name[: -len(".json")] for p in resources.files("sanode.configs").iterdir() if p.name.endswith(".json"))


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # bare strings: method=heun


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings (values parsed as JSON when they parse).

    A longer path sets one setting of a nested component: ``model.coupling.gain=1.3`` (a component
    not in ``raw`` starts from its default, a bare name from ``{"kind": name}``).
    """
    raw = json.loads(json.dumps(raw))
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"override {item!r} must look like section.key=value, e.g. train.epochs=5")
        path, text = item.split("=", 1)
        section, *keys = path.split(".")
        node = raw.setdefault(section, {})
        for depth, key in enumerate(keys[:-1]):
            child = node.get(key)
            if child is None and depth == 0 and section in _SECTIONS:
                child = getattr(_SECTIONS[section](), key, None)
            if not isinstance(child, (str, Mapping)):
                raise ValueError(f"override {item!r}: {section}.{'.'.join(keys[: depth + 1])} is not a component config")
            node[key] = child = component_config(f"{section}.{key}", child)
            node = child
        node[keys[-1]] = _parse_value(text)
    return raw


def load_config(name_or_path: str | Path = "paper1-letters", overrides: list[str] | None = None) -> RunConfig:
    """A named config (see :func:`named_configs`) or a JSON file, with overrides applied."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        raw = json.loads(path.read_text())
    else:
        name = str(name_or_path)
        res = resources.files("sanode.configs") / f"{name}.json"
        if not res.is_file():
            raise ValueError(f"no config named {name!r}; available: {', '.join(named_configs())} (or a .json path)")
        raw = json.loads(res.read_text())
    return RunConfig.from_dict(apply_overrides(raw, overrides or []))
