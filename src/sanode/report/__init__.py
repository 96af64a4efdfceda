"""Reports and figures: the self-contained HTML page writer (:mod:`~sanode.report.html`), the
matplotlib figures (:mod:`~sanode.report.plots`) and the standard figures of a run directory
(:mod:`~sanode.report.figures`), kept beside the plots they draw."""

from sanode.report.figures import run_figures
from sanode.report.html import HtmlReport, ReportError

__all__ = ["HtmlReport", "ReportError", "run_figures"]
