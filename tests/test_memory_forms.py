"""Surface forms of the suites: enough of them, split disjointly, and each profile says its statements
only in its own split; the memory modules' readers never see the forms."""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from glyph_dist.memory.base import SUITES
from glyph_dist.memory.suites import generate_suite
from glyph_dist.memory.suites.forms import FORMS, SPLITS, forms, recognise

MEMORY = Path(__file__).resolve().parents[1] / "glyph_dist" / "memory"


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


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
    return names


def test_memory_modules_and_their_readers_do_not_import_the_suites():
    """The readers (reading.py, tuples.py, smpd.py) and every module are written without the forms
    or the generators' vocabularies."""
    modules = sorted(MEMORY.glob("*.py"))
    assert {"reading.py", "tuples.py", "smpd.py", "sgc_rss.py"} <= {p.name for p in modules}
    for path in modules:
        leaks = {name for name in _imports(path) if name.startswith("glyph_dist.memory.suites")}
        assert not leaks, f"{path.name} imports {sorted(leaks)}"
