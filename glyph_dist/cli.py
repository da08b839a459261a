"""The `glyph-dist` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from glyph_dist.errors import GlyphDistError


def _data_corpus(args) -> None:
    from glyph_dist.data.corpus import make_sgd_corpus

    paths = make_sgd_corpus(args.sgd, args.out, args.heldout, args.seed)
    for part, path in paths.items():
        print(f"{part}: {path}")


def _tape_build(args) -> None:
    from glyph_dist.fgt.build import TapeConfig, build_tape

    config = TapeConfig(clusters=args.clusters, embedder=args.embedder, tokenizer=args.tokenizer,
                        seed=args.seed, depth=args.depth, projection=args.projection)
    build_tape(args.corpus, args.out, config)


def _hybrid(args):
    from glyph_dist.fgt.hybrid import HybridTokenizer
    from glyph_dist.fgt.store import load_tape

    return HybridTokenizer(load_tape(args.tape), threshold=args.threshold)


def _tape_encode(args) -> None:
    hybrid = _hybrid(args)
    ids, details = hybrid.encode_hybrid(args.text, return_details=True)
    print(hybrid.decode_hybrid(ids))
    if args.details:
        print(json.dumps({"ids": ids, "phrases": details}, ensure_ascii=False, indent=2))


def _tape_decode(args) -> None:
    hybrid = _hybrid(args)
    print(hybrid.expand(args.text) if args.expand else args.text)


def _tape_inspect(args) -> None:
    from glyph_dist.fgt.store import load_tape

    tape = load_tape(args.tape)
    record = tape.record(args.glyph)
    print(json.dumps({
        "glyph": record.glyph, "family_id": record.family_id, "address": record.address,
        "point": [round(record.x, 4), round(record.y, 4)], "size": record.size,
        "frequency": record.frequency, "coherence": round(record.coherence, 4),
        "representative": record.representative,
        "members": [{"text": t, "count": c, "similarity": round(s, 4)}
                    for t, c, s in tape.members(record.family_id, args.limit)],
    }, ensure_ascii=False, indent=2))


def _tape_efficiency(args) -> None:
    from glyph_dist.fgt.efficiency import load_documents, run_efficiency
    from glyph_dist.reports.efficiency import markdown_table, write_report

    hybrid = _hybrid(args)
    result = run_efficiency(hybrid, load_documents(args.corpus), args.thresholds)
    paths = write_report(result, args.out)
    print(markdown_table(result["rows"]))
    print(f"\nreport: {paths['md']}  plot: {paths['png']}  data: {paths['json']}")


def _thresholds(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"thresholds must be comma-separated numbers, got {text!r}") from exc
    if not all(0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"thresholds must lie in [0, 1], got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    from glyph_dist.data.corpus import DEFAULT_SGD
    from glyph_dist.fgt.build import TapeConfig
    from glyph_dist.fgt.efficiency import DEFAULT_THRESHOLDS
    from glyph_dist.fgt.hybrid import DEFAULT_THRESHOLD

    defaults = TapeConfig()
    parser = argparse.ArgumentParser(prog="glyph-dist", description=__doc__)
    groups = parser.add_subparsers(dest="group", required=True)

    data = groups.add_parser("data", help="prepare data sets").add_subparsers(dest="command", required=True)
    corpus = data.add_parser("corpus", help="the shared SGD dialogues as train/held-out JSONL episodes")
    corpus.add_argument("--sgd", type=Path, default=DEFAULT_SGD, help="SGD split directory (default: %(default)s)")
    corpus.add_argument("--out", type=Path, default=Path("data/corpus"), help="output directory (default: %(default)s)")
    corpus.add_argument("--heldout", type=float, default=0.2, help="held-out share of dialogues (default: %(default)s)")
    corpus.add_argument("--seed", type=int, default=0)
    corpus.set_defaults(func=_data_corpus)

    tape = groups.add_parser("tape", help="build and use a Fractal Glyph Tape").add_subparsers(dest="command", required=True)
    build = tape.add_parser("build", help="build a tape from corpus files")
    build.add_argument("--corpus", type=Path, nargs="+", required=True,
                       help="text files, JSONL episodes, or SGD directories / dialogues_*.json files")
    build.add_argument("--out", type=Path, required=True, help="tape root; the build adds a new version under it")
    build.add_argument("--clusters", type=int, default=defaults.clusters, help="number of families K (default: %(default)s)")
    build.add_argument("--embedder", default=defaults.embedder,
                       help="'static' (fitted to the corpus, default), 'static:DIM', or a local sentence-transformers model")
    build.add_argument("--tokenizer", default=defaults.tokenizer,
                       help="'bpe' (trained on the corpus, default) or a local Hugging Face tokenizer")
    build.add_argument("--seed", type=int, default=defaults.seed)
    build.add_argument("--depth", type=int, default=defaults.depth, help="fractal address depth (default: %(default)s)")
    build.add_argument("--projection", choices=["pca", "umap"], default=defaults.projection)
    build.set_defaults(func=_tape_build)

    def with_tape(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--tape", type=Path, required=True, help="tape root or version directory")
        sub.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                         help="similarity at or above which a phrase becomes a glyph (default: %(default)s)")
        return sub

    encode = with_tape(tape.add_parser("encode", help="hybrid-encode a text"))
    encode.add_argument("text")
    encode.add_argument("--details", action="store_true", help="also print token ids and every phrase's decision")
    encode.set_defaults(func=_tape_encode)

    decode = with_tape(tape.add_parser("decode", help="decode hybrid text, optionally expanding glyphs"))
    decode.add_argument("text")
    decode.add_argument("--expand", action="store_true", help="replace each glyph by its family's representative phrase")
    decode.set_defaults(func=_tape_decode)

    inspect = tape.add_parser("inspect", help="show a glyph's family, address and examples")
    inspect.add_argument("--tape", type=Path, required=True)
    inspect.add_argument("glyph")
    inspect.add_argument("--limit", type=int, default=10, help="member phrases to show (default: %(default)s)")
    inspect.set_defaults(func=_tape_inspect)

    efficiency = with_tape(tape.add_parser("efficiency", help="context-efficiency experiment on held-out text"))
    efficiency.add_argument("--corpus", type=Path, nargs="+", required=True, help="held-out corpus files")
    efficiency.add_argument("--out", type=Path, required=True, help="report directory")
    efficiency.add_argument("--thresholds", type=_thresholds, default=list(DEFAULT_THRESHOLDS),
                            help="comma-separated thresholds to sweep (default: 0.50,0.55,...,0.95)")
    efficiency.set_defaults(func=_tape_efficiency)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except GlyphDistError as exc:
        print(f"glyph-dist: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
