import json
from html.parser import HTMLParser

from sanode.experiments.paper2 import Paper2Plan, reproduce_paper2
from sanode.generate import SAMPLERS

TINY = Paper2Plan(
    "tiny",
    ("digits",),
    epochs=2,
    n_train=300,
    per_class=20,
    lna_steps=700,
    lna_paths=20,
    letters_train=200,
    dynamical_epochs=1,
)


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.src = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.src.append(dict(attrs)["src"])


def test_paper2_report_builds_from_measured_numbers_and_is_reused(tmp_path):
    lines = []
    summary = reproduce_paper2(TINY, tmp_path, command="sanode reproduce paper2 --tiny", log=lines.append)
    html = (tmp_path / "report" / "index.html").read_text()
    parser = _Images()
    parser.feed(html)
    dynamical = ("empirical", "lna", "time_sample")  # the same samples through the dynamical decoder
    assert len(parser.src) == len(SAMPLERS) + 2 + len(dynamical) and all((tmp_path / "report" / s).is_file() for s in parser.src)
    scores = json.loads((tmp_path / "digits" / "scores.json").read_text())
    for s in scores["samplers"]:
        assert f"{100 * s['classified_fraction']:.1f} %" in html and f"{s['local_frechet']:.2f}" in html
    assert f"{scores['vae_frechet']:.2f}" in html
    assert [s["sampler"] for s in scores["dynamical_decoder"]] == list(dynamical)
    for s in scores["dynamical_decoder"]:
        assert f"{s['local_frechet']:.2f}" in html
    assert set(summary["classified"]["digits"]) == set(SAMPLERS)
    lines.clear()
    reproduce_paper2(TINY, tmp_path, command="sanode reproduce paper2 --tiny", log=lines.append)
    assert any("generator reused" in line for line in lines)
    assert json.loads((tmp_path / "digits" / "scores.json").read_text()) == scores  # cached, not recomputed
