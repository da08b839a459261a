"""Surface forms of the suites: enough of them, split disjointly, and each profile says its statements
only in its own split. That the memory modules' readers never import the forms is an import-linter
contract (pyproject.toml), checked before every test target."""

from collections import defaultdict

import pytest

from glyph_dist.memory.suites import generate_suite
from glyph_dist.memory.suites.forms import FORMS, SPLITS, forms, recognise
from glyph_dist.memory_rows import SUITES


@pytest.mark.parametrize("kind", FORMS)
def test_each_statement_type_has_six_forms_in_two_disjoint_splits(kind):
    assert len(FORMS[kind]) >= 6
    seen, heldout = (forms(kind, split) for split in SPLITS)
    assert len(seen) >= 3 and len(heldout) >= 3 and len(seen) + len(heldout) == len(FORMS[kind])
    assert not {f.text for f in seen} & {f.text for f in heldout}
    assert FORMS[kind][0] == seen[0]  # the canonical form is seen


@pytest.fixture(scope="module")
def forms_used() -> dict[str, dict[str, set]]:
    """profile -> statement type -> the forms its statements are said in (every statement recognised)."""
    used: dict[str, dict[str, set]] = {}
    for profile in ("easy", "hard", "heldout"):
        used[profile] = defaultdict(set)
        for suite in SUITES:
            for item in generate_suite(suite, 60, 9, profile):
                for statement in item.teach:
                    found = recognise(statement.text)
                    assert found is not None, f"{profile}: a statement of no form: {statement.text}"
                    used[profile][found[0]].add(found[1])
    return used


def test_every_statement_type_is_generated_and_each_profile_keeps_to_its_split(forms_used):
    for profile, by_kind in forms_used.items():
        assert set(by_kind) == set(FORMS), profile
    for kind in FORMS:
        assert forms_used["easy"][kind] == {FORMS[kind][0]}
        assert forms_used["hard"][kind] <= set(forms(kind, "seen")) and len(forms_used["hard"][kind]) >= 2
        assert forms_used["heldout"][kind] <= set(forms(kind, "heldout")) and len(forms_used["heldout"][kind]) >= 2


def test_heldout_is_the_hard_world_in_other_words():
    for suite in SUITES:
        hard, heldout = generate_suite(suite, 20, 4, "hard"), generate_suite(suite, 20, 4, "heldout")
        assert [(i.kind, i.question, i.answer, i.meta) for i in hard] == \
            [(i.kind, i.question, i.answer, i.meta) for i in heldout]
        assert [len(i.teach) for i in hard] == [len(i.teach) for i in heldout]
        assert not {s.text for i in hard for s in i.teach} & {s.text for i in heldout for s in i.teach}

