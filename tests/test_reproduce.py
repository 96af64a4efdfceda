"""``sanode reproduce paper1``: the report builds from the runs, numbers come from results.json,
finished runs are skipped, interrupted ones resume, and the HTML is well formed."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from sanode.build import build_classifier
from sanode.cli import reproduce as reproduce_cli
from sanode.cli.reproduce import add_parser as add_reproduce_parser
from sanode.cli.reproduce import plan_from_args
from sanode.config import load_config
from sanode.data import DataNotFoundError, load_splits
from sanode.experiments import paper1
from sanode.experiments.noise_levels import model_noise, parametrisation
from sanode.experiments.paper1 import (
    LETTERS_AUTHORS_SCALE,
    PAPER_ACCURACY,
    DatasetPlan,
    Plan,
    paper1_plan,
    pick_node,
    realisation_rates,
    reproduce_paper1,
)
from sanode.experiments.paper1 import runs as paper1_runs
from sanode.noise import map_sigma_to_unit_scale
from sanode.report.html import HtmlReport, ReportError
from sanode.report.plots import noise_realisations_figure
from sanode.robustness.adversarial import AdversarialPlan
from sanode.training import TrainingDiverged

TINY = (*LETTERS_AUTHORS_SCALE, "data.n_train=200", "data.n_test=90", "train.epochs=1")
SIGMAS = (0.0, 0.2)


def tiny_plan(sigmas: tuple[float, ...] = SIGMAS, extra: tuple[str, ...] = ()) -> Plan:
    letters = DatasetPlan("letters", "paper1-letters", TINY + extra, sigmas=sigmas, seeds=(0,), ps_a=(0.0, 0.5), ps_b=(0.0, 0.4))
    return Plan("tiny", (letters,), fig4_realisations=4)


class _Page(HTMLParser):
    """Collects images and table cells, and checks that every non-void tag is closed in order."""

    VOID: ClassVar[frozenset[str]] = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[str] = []
        self.scripts = 0
        self.tables: list[dict[str, object]] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")
        if tag == "script":
            self.scripts += 1
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        if tag == "tr":
            self.tables[-1]["rows"].append([])  # type: ignore[union-attr]
        if tag in ("td", "th"):
            self._cell = []
        if tag == "caption":
            self._caption = []
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append("".join(self._cell).strip())  # type: ignore[index]
            self._cell = None
        if tag == "caption" and self._caption is not None:
            self.tables[-1]["caption"] = "".join(self._caption).strip()
            self._caption = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._caption is not None:
            self._caption.append(data)

    def table(self, caption_start: str) -> list[list[str]]:
        found = [t for t in self.tables if str(t["caption"]).startswith(caption_start)]
        assert len(found) == 1, f"expected one table captioned {caption_start!r}, got {[t['caption'] for t in self.tables]}"
        return found[0]["rows"]  # type: ignore[return-value]


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def mtimes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file() and "report" not in p.parts
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, paper1.Reproduction]:
    out = tmp_path_factory.mktemp("paper1")
    return out, reproduce_paper1(tiny_plan(), out, log=lambda line: None)


# ---------------------------------------------------------------- the report


def test_first_invocation_trains_every_run(built: tuple[Path, paper1.Reproduction]) -> None:
    out, result = built
    assert result.statuses == {"letters-sigma0-seed0": "trained", "letters-sigma0.2-seed0": "trained"}
    assert result.index == out / "report" / "index.html"
    for name in result.statuses:
        assert (out / "runs" / name / "results.json").is_file()
        assert (out / "analysis" / f"{name}.json").is_file()
        assert (out / "tables" / f"{name}-attack-A.csv").is_file()


def test_html_parses_and_every_image_exists(built: tuple[Path, paper1.Reproduction]) -> None:
    _, result = built
    page = parse(result.index)
    assert page.errors == [] and page.stack == []
    assert page.scripts == 0
    assert len(page.images) >= 7  # Figs. 2, 3, 4, 5A, 5B and two spectra
    for src in page.images:
        assert "://" not in src and not src.startswith("/")
        image = result.index.parent / src
        assert image.is_file(), src
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", src
    names = {Path(src).name for src in page.images}
    assert {
        "fig2-letters.png",
        "fig3-letters.png",
        "fig4-letters.png",
        "fig5-letters-attack-A.png",
        "fig5-letters-attack-B.png",
    } <= names


def test_table_one_holds_the_measured_numbers(built: tuple[Path, paper1.Reproduction]) -> None:
    out, result = built
    rows = {row[0]: row for row in parse(result.index).table("Table I")}
    for sigma in SIGMAS:
        results = json.loads((out / "runs" / f"letters-sigma{sigma:g}-seed0" / "results.json").read_text())
        row = rows[f"{sigma:g}"]
        acc = results["test"]["acc_inner_product"]
        assert row[1] == f"{100 * PAPER_ACCURACY['letters'][sigma]:.1f}"
        assert row[2] == f"{100 * acc:.2f} ± 0.00"
        assert row[3] == f"{100 * (acc - PAPER_ACCURACY['letters'][sigma]):+.2f}"
        assert row[4] == f"{100 * results['test']['acc_nearest']:.2f} ± 0.00"
        assert row[5] == "–"  # paper1-letters does not measure the settled state (eval.settle off)
        assert row[7] == f"{results['train_seconds']:.1f}"


def test_tables_md_repeats_the_html_tables(built: tuple[Path, paper1.Reproduction]) -> None:
    _, result = built
    markdown = (result.index.parent / "tables.md").read_text()
    html_rows = parse(result.index).table("Table I")
    md_rows = {
        tuple(cell.strip() for cell in line.strip("|").split(" | ")) for line in markdown.splitlines() if line.startswith("| ")
    }
    for row in html_rows:
        assert tuple(row) in md_rows


def test_stability_and_noise_off_tables_come_from_the_runs(built: tuple[Path, paper1.Reproduction]) -> None:
    out, result = built
    page = parse(result.index)
    stab = {(r[0], r[1]): r for r in page.table("letters: linear stability")[1:]}
    for sigma in SIGMAS:
        results = json.loads((out / "runs" / f"letters-sigma{sigma:g}-seed0" / "results.json").read_text())
        cells = stab[(f"{sigma:g}", "0")]
        assert cells[2:5] == [f"{s['max_real_eigenvalue']:.4f}" for s in results["stability"]]
    analysis = json.loads((out / "analysis" / "letters-sigma0.2-seed0.json").read_text())
    assert analysis["noise_off"] is not None
    (row,) = page.table("letters: stochastic models run")[1:]
    assert row[0] == "0.2"
    assert row[2] == f"{100 * analysis['noise_off']['acc_inner_product']:.2f} ± 0.00"
    assert row[4] == f"{100 * analysis['attack_A'][-1]['acc']:.2f} ± 0.00"
    deterministic = json.loads((out / "analysis" / "letters-sigma0-seed0.json").read_text())
    assert deterministic["noise_off"] is None  # nothing to switch off
    assert [r["p"] for r in deterministic["attack_B"]] == [0.0, 0.4]


def test_second_invocation_skips_finished_runs(built: tuple[Path, paper1.Reproduction]) -> None:
    out, first = built
    before = mtimes(out)
    second = reproduce_paper1(tiny_plan(), out, log=lambda line: None)
    assert set(second.statuses.values()) == {"skipped"}
    assert mtimes(out) == before  # no run, checkpoint, analysis or table was rewritten
    assert parse(second.index).table("Table I") == parse(first.index).table("Table I")


def test_a_changed_config_is_refused(built: tuple[Path, paper1.Reproduction]) -> None:
    out, _ = built
    with pytest.raises(ValueError, match="another configuration"):
        reproduce_paper1(tiny_plan(extra=("train.lr=0.02",)), out, log=lambda line: None)


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    plan = tiny_plan(sigmas=(0.0,))
    first = reproduce_paper1(plan, tmp_path, log=lambda line: None)
    results_path = tmp_path / "runs" / "letters-sigma0-seed0" / "results.json"
    expected = json.loads(results_path.read_text())["test"]["acc_inner_product"]
    results_path.unlink()  # as if killed after the last checkpoint, before results.json
    again = reproduce_paper1(plan, tmp_path, log=lambda line: None)
    assert first.statuses == {"letters-sigma0-seed0": "trained"}
    assert again.statuses == {"letters-sigma0-seed0": "resumed"}
    assert json.loads(results_path.read_text())["test"]["acc_inner_product"] == expected


def test_runs_in_worker_processes_equal_the_serial_runs(tmp_path: Path) -> None:
    serial = reproduce_paper1(tiny_plan(), tmp_path / "serial", log=lambda line: None)
    lines: list[str] = []
    parallel = reproduce_paper1(tiny_plan(), tmp_path / "parallel", log=lines.append, workers=2)
    assert parallel.statuses == serial.statuses == {"letters-sigma0-seed0": "trained", "letters-sigma0.2-seed0": "trained"}
    for name in serial.statuses:
        a, b = (json.loads((tmp_path / d / "runs" / name / "results.json").read_text()) for d in ("serial", "parallel"))
        assert a["test"] == b["test"]
        a, b = (json.loads((tmp_path / d / "analysis" / f"{name}.json").read_text()) for d in ("serial", "parallel"))
        assert a["attack_A"] == b["attack_A"] and a["attack_B"] == b["attack_B"]
    tables = [parse(r.index).table("Table I") for r in (serial, parallel)]
    wall = tables[0][0].index("train s/run")  # wall time, the one column that may differ
    assert [row[:wall] + row[wall + 1 :] for row in tables[0]] == [row[:wall] + row[wall + 1 :] for row in tables[1]]
    assert sum(line.startswith("[") for line in lines) == 2


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_worker_counts_are_refused(tmp_path: Path, workers: object) -> None:
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        reproduce_paper1(tiny_plan(), tmp_path, log=lambda line: None, workers=workers)  # type: ignore[arg-type]
    assert not (tmp_path / "runs").exists()


def test_a_diverged_run_is_recorded_and_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def diverge(*args: object, **kwargs: object) -> None:
        calls.append(1)
        raise TrainingDiverged("epoch 1: the loss is nan")

    monkeypatch.setattr(paper1_runs, "train", diverge)
    plan = tiny_plan(sigmas=(0.0,))
    first = reproduce_paper1(plan, tmp_path, log=lambda line: None)
    second = reproduce_paper1(plan, tmp_path, log=lambda line: None)
    assert first.statuses == second.statuses == {"letters-sigma0-seed0": "diverged"}
    assert len(calls) == 1
    assert "the loss is nan" in (tmp_path / "analysis" / "letters-sigma0-seed0.diverged.txt").read_text()
    assert "diverged" in second.index.read_text()
    assert parse(second.index).errors == []


# ---------------------------------------------------------------- σ mapping


@pytest.mark.parametrize("variant", ["authors", "paper"])
def test_sigma_enters_the_authors_parametrisation_unchanged(variant: str) -> None:
    model = load_config("paper1-letters", list(LETTERS_AUTHORS_SCALE)).model
    assert parametrisation(model, 49) == "authors"
    noise = model_noise(0.1, model, 49, 3, variant=variant, kappa=2.0)
    assert noise == {"kind": "damped", "sigma": 0.1, "kappa": 2.0, "variant": variant}


@pytest.mark.parametrize("variant", ["authors", "paper"])
@pytest.mark.parametrize(
    ("config", "n_nodes", "k"), [("paper1-letters", 49, 3), ("paper1-mnist", 784, 10), ("fast-mnist", 784, 10)]
)
def test_sigma_is_mapped_into_the_unit_scale(variant: str, config: str, n_nodes: int, k: int) -> None:
    model = load_config(config).model
    assert parametrisation(model, n_nodes) == "unit"
    noise = model_noise(0.5, model, n_nodes, k, variant=variant)
    expected = map_sigma_to_unit_scale(0.5, n_nodes, variant=variant, n_attractors=k)  # type: ignore[arg-type]
    assert noise is not None
    assert math.isclose(noise["sigma"], expected.sigma) and math.isclose(noise["kappa"], expected.kappa)
    assert math.isclose(noise["sigma"], 0.5 * math.sqrt(n_nodes))


def test_zero_sigma_is_the_deterministic_model() -> None:
    assert model_noise(0.0, load_config("paper1-letters").model, 49, 3) is None


@pytest.mark.parametrize("sigma", [-0.1, float("nan"), float("inf")])
def test_bad_sigma_is_refused(sigma: float) -> None:
    with pytest.raises(ValueError, match="sigma"):
        model_noise(sigma, load_config("paper1-letters").model, 49, 3)


def test_a_parametrisation_without_a_paper_sigma_is_refused() -> None:
    model = load_config("paper1-letters", ["model.c=0.05"]).model
    with pytest.raises(ValueError, match="neither"):
        parametrisation(model, 49)


# ---------------------------------------------------------------- Fig. 4 helpers


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pick_node_prefers_the_noisiest_lit_node(dtype: torch.dtype, generator: torch.Generator) -> None:
    rates = torch.zeros(6, 5, 4, dtype=dtype)
    spread = torch.tensor([0.1, 0.3, 0.9, 0.2], dtype=dtype)  # node 2 varies most but must end dark
    rates[3] = torch.randn(5, 4, generator=generator, dtype=dtype) * spread
    target = torch.tensor([0.85, 0.85, 0.0, 0.85], dtype=dtype)
    assert pick_node(rates, target) == 1
    assert pick_node(rates, torch.zeros(4, dtype=dtype)) == 2  # nothing lit: every node competes
    with pytest.raises(ValueError, match="two realisations"):
        pick_node(rates[:, :1], target)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_realisation_rates_differ_only_with_noise(dtype: str, generator: torch.Generator) -> None:
    def model(noise: dict[str, object] | None) -> torch.nn.Module:
        raw = load_config("paper1-letters", [*LETTERS_AUTHORS_SCALE, f"train.dtype={dtype}", "solver.steps=20"]).to_dict()
        raw["model"]["noise"] = noise
        from sanode.config import RunConfig
        from sanode.data.letters import templates

        return build_classifier(RunConfig.from_dict(raw), 49, 3, templates=templates())

    x0 = torch.rand(49, generator=generator)
    noisy = realisation_rates(model({"kind": "damped", "sigma": 0.2, "variant": "authors"}), x0, 6, generator)
    quiet = realisation_rates(model(None), x0, 6, generator)
    assert noisy.shape == quiet.shape == (21, 6, 49)
    assert noisy.dtype == getattr(torch, dtype)
    assert float(noisy.std(dim=1).max()) > 1e-3
    assert float((quiet - quiet[:, :1]).abs().max()) < 1e-12  # no noise: every realisation is the same path
    assert torch.equal(noisy[0, 0], noisy[0, 5])  # every realisation starts from the same input
    with pytest.raises(ValueError, match="one input"):
        realisation_rates(model(None), x0.unsqueeze(0), 6)


def test_noise_realisations_figure_writes_a_png(tmp_path: Path, generator: torch.Generator) -> None:
    rates = torch.rand(11, 5, generator=generator)
    path = noise_realisations_figure(rates, 0.85, 0.1, tmp_path / "fig4.png", title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="R >= 2"):
        noise_realisations_figure(rates[:, :1], 0.85, 0.1, tmp_path / "bad.png")


# ---------------------------------------------------------------- plans and the command line


def test_named_plans_follow_the_paper() -> None:
    quick, full = paper1_plan("quick"), paper1_plan("full")
    for plan in (quick, full):
        assert [d.dataset for d in plan.datasets] == ["letters", "mnist"]
        assert plan.datasets[0].sigmas == tuple(PAPER_ACCURACY["letters"])
    assert full.datasets[1].sigmas == tuple(PAPER_ACCURACY["mnist"])
    assert all(len(d.seeds) == 5 for d in full.datasets)
    # the full MNIST plan runs where paper 1's noise acts (x(0) = √N · pixels), with the corruption suite
    assert full.datasets[1].config == "sqrtn-mnist" and full.datasets[1].corruptions == 500
    assert quick.datasets[1].corruptions is None
    assert paper1_plan("quick", ["mnist"]).datasets[0].dataset == "mnist"
    with pytest.raises(ValueError, match="mode"):
        paper1_plan("medium")
    with pytest.raises(ValueError, match="datasets"):
        paper1_plan("quick", ["cifar"])


def test_seeds_replace_every_datasets_repetitions() -> None:
    plan = paper1_plan("full", seeds=3)
    assert all(d.seeds == (0, 1, 2) for d in plan.datasets)
    assert paper1.default_command(plan, Path("o")).endswith("--seeds 3")
    assert "--seeds" not in paper1.default_command(paper1_plan("full"), Path("o"))
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="seeds must be None or an integer >= 1"):
            paper1_plan("full", seeds=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("sigmas", (-0.1,), "sigmas"),
        ("sigmas", (0.1, 0.1), "repeat"),
        ("seeds", (0, 0), "seeds"),
        ("ps_a", (1.5,), "ps_a"),
        ("n_attack", 0, "n_attack"),
        ("corruptions", 0, "corruptions"),
    ],
)
def test_bad_dataset_plans_are_refused(field: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DatasetPlan("letters", "paper1-letters", **{field: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown dataset"):
        DatasetPlan("cifar", "paper1-letters")


def test_the_report_carries_the_worst_case_attacks_with_their_checks(tmp_path: Path) -> None:
    suite = AdversarialPlan(linf=(0.3,), l2=(), steps=5, restarts=1, n=20, eot=1, realisations=2, queries=30)
    base = tiny_plan()
    plan = dataclasses.replace(base, datasets=tuple(dataclasses.replace(d, adversarial=suite) for d in base.datasets))
    result = reproduce_paper1(plan, tmp_path, log=lambda line: None)
    rows = parse(result.index).table("letters: robust accuracy under PGD-5")
    assert [r[0] for r in rows[1:]] == ["0", "0 @settled", "0.2", "0.2 @settled"]
    for row in rows[1:]:
        assert row[1] == "1" and all(cell != "–" for cell in row[2:4])
    assert "pass" in rows[1][-1] and rows[2][-1] != "not run"  # monotone check of the settled curve
    analysis = json.loads(next((tmp_path / "analysis").glob("*sigma0.2*.json")).read_text())
    assert "damping" in analysis["adversarial"][analysis["run"]]
    assert "settled_state" in {c["name"] for c in analysis["adversarial"][analysis["run"]]["linf"]["checks"]}


def test_mnist_report_shows_settled_accuracy_corruptions_and_the_noise_envelope(tmp_path: Path) -> None:
    try:
        load_splits("mnist", n_train=10, n_test=10)
    except DataNotFoundError as err:
        pytest.skip(f"MNIST files not found: {err}")
    sets = ("data.n_train=200", "data.n_test=60", "data.val_fraction=0", "train.epochs=1", "solver.steps=5", "eval.settle=true")
    mnist = DatasetPlan(
        "mnist", "sqrtn-mnist", sets, sigmas=(0.0, 1.0), ps_a=(0.0, 0.5), ps_b=(0.0, 0.5), n_attack=30, corruptions=8
    )
    result = reproduce_paper1(Plan("tiny", (mnist,), fig4_realisations=2), tmp_path, log=lambda line: None)
    page = parse(result.index)
    table = page.table("Table II")
    settled = table[0].index("settled state (%)")
    assert all(row[settled] != "–" for row in table[1:])
    corrupted = page.table("mnist: the common-corruption suite")
    assert [r[0] for r in corrupted[1:]] == ["0", "1"] and corrupted[2][2] != "–" and corrupted[1][2] == "–"
    assert "d(x) at t = 0" in result.index.read_text(encoding="utf-8")
    assert (result.index.parent / "horizon-mnist.png").is_file() and "% settled" in result.index.read_text(encoding="utf-8")
    analysis = json.loads(next((tmp_path / "analysis").glob("*sigma1*.json")).read_text())
    assert analysis["corruptions"]["n"] == 8 and 0 <= analysis["corruptions"]["mean_noise_off"] <= 1
    assert analysis["damping"]["start"] >= 0.05  # the noise acts at the input in this regime


def test_the_command_line_builds_the_plan() -> None:
    parser = argparse.ArgumentParser(prog="sanode")
    sub = parser.add_subparsers(dest="command", required=True)
    add_reproduce_parser(sub)
    args = parser.parse_args(["reproduce", "paper1", "--full", "--datasets", "letters", "--variant", "paper"])
    plan = plan_from_args(args)
    assert args.func is reproduce_cli.cmd_reproduce
    assert plan.mode == "full" and plan.variant == "paper" and [d.dataset for d in plan.datasets] == ["letters"]
    args = parser.parse_args(["reproduce", "paper1", "--full", "--seeds", "3", "--workers", "4"])
    assert args.workers == 4 and all(len(d.seeds) == 3 for d in plan_from_args(args).datasets)
    assert plan_from_args(parser.parse_args(["reproduce", "paper1"])).mode == "quick"
    adv = plan_from_args(parser.parse_args(["reproduce", "paper1", "--adversarial", "100"]))
    assert all(d.adversarial == AdversarialPlan(n=100) for d in adv.datasets)
    assert paper1.default_command(adv, Path("out")).endswith("--adversarial 100")
    with pytest.raises(ValueError, match="--datasets"):
        plan_from_args(parser.parse_args(["reproduce", "paper1", "--datasets", "letters,cifar"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["reproduce", "paper1", "--quick", "--full"])


def test_paper2_refuses_the_paper1_options(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="sanode")
    add_reproduce_parser(parser.add_subparsers(dest="command", required=True))
    assert reproduce_cli.paper1_only_options(parser.parse_args(["reproduce", "paper2", "--threads", "2"])) == []
    args = parser.parse_args(["reproduce", "paper2", "--seeds", "3", "--workers", "2", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="does not take --workers, --seeds"):
        args.func(args)
    assert not any(tmp_path.iterdir())  # refused before anything ran


# ---------------------------------------------------------------- the HTML writer


def test_html_report_escapes_text_and_checks_images(tmp_path: Path) -> None:
    page = HtmlReport("a <b> title")
    page.paragraph("<script>alert(1)</script>")
    page.table(["x", "y"], [["<i>", 1]], caption="c & d")
    page.figure("missing.png", caption="a figure", command="sanode reproduce paper1")
    with pytest.raises(ReportError, match="missing"):
        page.write(tmp_path / "index.html")
    (tmp_path / "missing.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    parsed = parse(page.write(tmp_path / "index.html"))
    assert parsed.scripts == 0 and parsed.errors == []
    assert parsed.table("c & d") == [["x", "y"], ["<i>", "1"]]
    with pytest.raises(ReportError, match="cells"):
        page.table(["x", "y"], [["only one"]])
    for src in ("/abs.png", "../up.png", "http://host/x.png"):
        with pytest.raises(ReportError, match="relative"):
            page.figure(src, caption="x")


def test_attack_verdict_names_where_the_stochastic_model_wins_and_loses():
    from sanode.experiments.paper1 import attack_verdict

    curves = {
        0.0: {0.0: (0.99, 0.001), 0.5: (0.60, 0.01), 1.0: (0.30, 0.01)},
        0.2: {0.0: (0.95, 0.001), 0.5: (0.70, 0.01), 1.0: (0.31, 0.02)},
    }
    text = attack_verdict(curves, 0.2)
    assert "largest gain +10.00" in text and "p = 0.5" in text
    assert "better beyond the seed spread at p ∈ {0.5}" in text
    assert "worse beyond it at p ∈ {0}" in text
    same = {0.0: curves[0.0], 0.1: curves[0.0]}
    assert "never better" in attack_verdict(same, 0.1)
