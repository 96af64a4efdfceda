"""The generic component registry: names, clear errors, build from a config mapping."""

import pytest

from sanode.registry import Registry


class Thing:
    def __init__(self, size: int = 1, *, scale: float = 1.0):
        self.size, self.scale = size, scale


def make() -> Registry[Thing]:
    reg: Registry[Thing] = Registry("thing")
    reg.register("plain")(Thing)
    return reg


def test_build_from_name_and_mapping_with_context():
    reg = make()
    assert reg.build("plain").size == 1
    built = reg.build({"kind": "plain", "size": 3}, scale=2.0)
    assert (built.size, built.scale) == (3, 2.0)
    assert "plain" in reg and list(reg) == ["plain"]


@pytest.mark.parametrize(
    "config, match",
    [
        ("nope", "unknown thing 'nope'; choose one of plain"),
        ({"size": 2}, "needs a 'kind'"),
        (3, "name or a mapping"),
        ({"kind": "plain", "colour": 1}, "invalid settings \\['colour'\\] for thing 'plain'"),
    ],
)
def test_bad_configs_are_named(config, match):
    with pytest.raises(ValueError, match=match):
        make().build(config)


def test_a_registered_class_learns_its_name_and_a_contradicting_one_is_refused():
    reg = make()
    assert Thing.kind == "plain"  # type: ignore[attr-defined]
    named = type("Named", (), {"kind": "other"})
    with pytest.raises(ValueError, match="Named.kind is 'other' but it is registered as 'odd'"):
        reg.register("odd")(named)


def test_unregister_removes_a_name():
    reg = make()
    assert reg.unregister("plain") is Thing and "plain" not in reg
    with pytest.raises(ValueError, match="unknown thing 'plain'"):
        reg.unregister("plain")


def test_a_name_cannot_be_taken_twice():
    reg = make()
    with pytest.raises(ValueError, match="already registered"):
        reg.register("plain")(type("Other", (), {}))
