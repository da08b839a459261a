"""`glyph-dist models list|prepare`: the local model catalog."""

from __future__ import annotations

import argparse

from glyph_dist.errors import GlyphDistError
from glyph_dist.models.catalog import CATALOG, CatalogModel, count_parameters, get, prepare


def _row(model: CatalogModel) -> list[str]:
    """name, kind, parameters, verified, path: what the package and the prepared directory hold now."""
    try:
        source = model.verify()
        parameters, verified = f"{count_parameters(source):,}", "yes"
    except GlyphDistError as error:
        parameters, verified = "-", f"no: {error}"
    marker = model.marker()
    path = str(model.directory) if marker else f"not prepared (`{model.prepare_command}`)"
    return [model.name, model.kind, parameters, verified, path]


def _list(args) -> None:
    rows = [["name", "kind", "parameters", "verified", "path"], *(_row(model) for model in CATALOG.values())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]))


def _prepare(args) -> None:
    names = [get(name).name for name in args.names or CATALOG]  # every name checked before any work
    for name in names:
        print(f"{name}: {prepare(name)}", flush=True)


def register(groups: argparse._SubParsersAction) -> None:
    models = groups.add_parser("models", help="the local model catalog (minilm, smollm2)")
    commands = models.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="name, kind, parameters, whether the packaged file is verified, path")
    listing.set_defaults(func=_list)
    preparing = commands.add_parser("prepare", help="verify the packaged weights and convert them once into models/NAME")
    preparing.add_argument("names", nargs="*", metavar="NAME",
                           help=f"catalog models to prepare (default: all of {', '.join(CATALOG)})")
    preparing.set_defaults(func=_prepare)
