"""Run configuration: typed dataclasses, named JSON configs shipped in ``sanode/configs``, and
``section.key=value`` overrides (the resolved config is stored in every run directory)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any


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


@dataclass
class ModelConfig:
    """The dynamical system: reaction, filter, alphabet, planting."""

    reaction: str = "linear"  # linear | double_well
    filter: str = "hill"  # hill | identity
    c: float = 0.125  # Hill constant
    beta: float | None = None  # None: 1/sqrt(N) (paper 1)
    lam: float | None = None  # planted eigenvalue; None: 1/beta, so that beta*lam = 1
    attractors: str = "templates"  # templates | class_blocks | block_complements | random
    coupling: str = "spectral"  # spectral | projector
    init: str = "complement"  # spectral: complement | orthogonal
    gain: float = 1.0  # spectral: column norm of the free eigenvectors
    free_eig_init: tuple[float, float] = (-0.4, 0.4)  # spectral: in units of lam
    complex_pairs: bool = False  # spectral: 2x2 rotation blocks in Lambda
    solve_dtype: str | None = "float64"  # spectral: dtype of the linear solve
    init_scale: float = 1.0  # projector: A ~ U(±init_scale/sqrt(N))
    noise: dict[str, Any] | None = None  # e.g. {"kind": "damped", "sigma": 0.1} or {"kind": "additive", "eps": 0.06}


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
    time_budget_s: float | None = None  # start no new epoch once this much wall time has passed
    seed: int = 0
    dtype: str = "float32"


@dataclass
class EvalConfig:
    threshold: float = 0.1  # RMS distance for the conservative readout
    batch_size: int = 2000


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
        clean[key] = value
    return section_cls(**clean)


def named_configs() -> list[str]:
    """Names of the configs shipped with the package."""
    return sorted(p.name[: -len(".json")] for p in resources.files("sanode.configs").iterdir() if p.name.endswith(".json"))


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # bare strings: method=heun


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings (values parsed as JSON when they parse)."""
    raw = json.loads(json.dumps(raw))
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"override {item!r} must look like section.key=value, e.g. train.epochs=5")
        path, text = item.split("=", 1)
        section, key = path.split(".", 1)
        raw.setdefault(section, {})[key] = _parse_value(text)
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
