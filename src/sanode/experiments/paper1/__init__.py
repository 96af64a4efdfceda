"""``sanode reproduce paper1``: every experiment of paper 1 (Chicchi et al., arXiv:2409.13470)
through the library API, resumable, ending in a self-contained HTML report.

What runs, per dataset (letters, MNIST) and per noise amplitude σ of Tables I–II and seed:

1. one training run, a normal run directory ``OUT/runs/<dataset>-sigma<σ>-seed<s>`` written by
   :func:`sanode.training.train` (a run whose ``results.json`` exists is skipped; one with only a
   checkpoint resumes with ``resume=True``);
2. its analysis, cached in ``OUT/analysis/<run>.json``: accuracy vs attack intensity p for
   attacks A and B (Sec. IV, Figs. 5–6; :func:`sanode.robustness.accuracy_vs_attack`, tables
   also in ``OUT/tables``), and for a stochastic model its accuracy when run with σ = 0
   (paper 2's claim that robustness is inherited by the deterministic counterpart);
3. the report ``OUT/report/index.html``: Figs. 2–6, Tables I–II (paper beside measured, mean ±
   std over seeds, difference), the Jacobian spectra (Eq. 6) and the wall times, all read back
   from the runs' ``results.json`` and analysis files.

Noise. The stochastic model is Eq. (7), dx = F(x) dt + σ d(x) dW with the damping d(x) of Eq. (8)
(:class:`sanode.noise.DampedNoise`, variant "authors" by default: the authors' code, whose
envelope tanh of the geometric mean keeps the noise alive for K = 10; the literal Eq. (8) with
κ = 1 is ~1e-5 for MNIST). Paper 1's σ belongs to the authors' parametrisation
(β = 1/√N, λ = 1, c = 1/(8N)). A config in that parametrisation gets σ as it is; a config in the
unit scale (βλ = 1, c = 1/8: ``paper1-mnist``, ``fast-mnist``, ``sqrtn-mnist``) gets (σ', κ') from
:func:`sanode.noise.map_sigma_to_unit_scale`. Letters run in the authors' parametrisation
(``paper1-letters`` quick, ``best-letters`` full, with c = 1/(8N), λ = 1, β = 1/√N), so Table I's σ enter unchanged.

The package, one idea per module: :mod:`~sanode.experiments.paper1.plan` (what runs),
:mod:`~sanode.experiments.paper1.runs` (run directories, resumption), :mod:`~sanode.experiments.paper1.analysis`
(what is measured on one run), :mod:`~sanode.experiments.paper1.verdicts` (summaries over seeds),
:mod:`~sanode.experiments.paper1.workers` (the worker pool), :mod:`~sanode.experiments.paper1.tables` and
:mod:`~sanode.experiments.paper1.report` (the HTML report), :mod:`~sanode.experiments.paper1.reproduce`
(the whole invocation). The command line is :mod:`sanode.cli.reproduce`.
"""

from sanode.experiments.paper1.analysis import analyse_run, pick_node, realisation_rates
from sanode.experiments.paper1.plan import (
    DATASETS,
    LETTERS_AUTHORS_SCALE,
    MODES,
    PAPER_ACCURACY,
    DatasetPlan,
    Plan,
    paper1_plan,
)
from sanode.experiments.paper1.reproduce import Reproduction, default_command, reproduce_paper1
from sanode.experiments.paper1.runs import RunRecord, RunSpec, ensure_run, run_specs
from sanode.experiments.paper1.verdicts import attack_curves, attack_verdict

__all__ = [
    "DATASETS",
    "LETTERS_AUTHORS_SCALE",
    "MODES",
    "PAPER_ACCURACY",
    "DatasetPlan",
    "Plan",
    "Reproduction",
    "RunRecord",
    "RunSpec",
    "analyse_run",
    "attack_curves",
    "attack_verdict",
    "default_command",
    "ensure_run",
    "paper1_plan",
    "pick_node",
    "realisation_rates",
    "reproduce_paper1",
    "run_specs",
]
