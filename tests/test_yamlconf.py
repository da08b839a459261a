"""The one `key=value` override applier that experiments' SFT configs, forge configs, sweeps and ablations use."""

import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.yamlconf import apply_overrides, set_key

SECTIONS = {"eval": lambda: {"n": 10, "seed": 0}}


def test_plain_and_dotted_keys_apply_in_order_on_a_copy():
    values = {"name": "a", "steps": 3}
    result = apply_overrides(values, ["steps=5", "eval.n=50", "eval.seed=2", "name=b c"], SECTIONS)
    assert result == {"name": "b c", "steps": 5, "eval": {"n": 50, "seed": 2}}
    assert values == {"name": "a", "steps": 3}  # the input is left as it was


def test_a_dotted_key_keeps_the_other_keys_of_a_present_section():
    assert apply_overrides({"eval": {"n": 1, "extra": True}}, ["eval.seed=7"], SECTIONS) == {
        "eval": {"n": 1, "extra": True, "seed": 7}}


@pytest.mark.parametrize("override, known, message", [
    ("stpes=5", ("steps", "eval"), "override 'stpes=5': unknown key 'stpes'; known keys: steps, eval"),
    ("steps.x=5", None, "override 'steps.x=5': only eval take dotted keys"),
    ("eval.=5", None, "only eval take dotted keys"),
    ("steps", None, "expected key=value"),
])
def test_bad_overrides_are_named_and_change_nothing(override, known, message):
    values = {"steps": 3}
    with pytest.raises(GlyphDistError, match=message):
        apply_overrides(values, [override], SECTIONS, known)
    assert values == {"steps": 3}


def test_dotted_keys_reach_the_mappings_a_section_holds():
    values = {"presets": {"fast": {"provider": "rag", "config": {"k": 4}}}}
    result = apply_overrides(values, ["presets.fast.config.k=8"], {"presets": dict})
    assert result == {"presets": {"fast": {"provider": "rag", "config": {"k": 8}}}}
    assert values["presets"]["fast"]["config"] == {"k": 4}  # the input is left as it was


def test_closed_sections_take_only_the_keys_they_have():
    values = {"resources": {"cpu": 1, "gpu": 0}}
    set_key(values, "resources.cpu", 2, {"resources": dict}, None, "here", closed=True)
    assert values == {"resources": {"cpu": 2, "gpu": 0}}
    with pytest.raises(GlyphDistError, match="here: unknown key 'tpu'; known keys: cpu, gpu"):
        set_key(values, "resources.tpu", 1, {"resources": dict}, None, "here", closed=True)
    assert values == {"resources": {"cpu": 2, "gpu": 0}}
