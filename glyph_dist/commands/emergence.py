"""`glyph-dist emergence unify|traces|filter|rewrite|eval|sweep`: the glyph-emergence pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from glyph_dist.errors import GlyphDistError

DATA = Path("data/emergence")
SHARED = Path("../shared/datasets")


def _print(summary: dict) -> None:
    print(json.dumps(summary, indent=1, default=str))


def _write_summary(path: Path, summary: dict) -> None:
    from glyph_dist.files import write_text

    write_text(path, json.dumps(summary, indent=1) + "\n")


def _unify(args) -> None:
    from glyph_dist.emergence.unify import unify

    _print(unify(args.out, args.gsm8k, args.svamp, args.math))


def _traces(args) -> None:
    from glyph_dist.data.corpus import write_jsonl
    from glyph_dist.emergence.records import PROBLEM_KEYS, read_records
    from glyph_dist.emergence.teachers import PROGRAMMATIC, model_traces, programmatic_traces, training_sample
    from glyph_dist.models.catalog import resolve_model

    problems = training_sample(read_records(args.unified, PROBLEM_KEYS), args.n, args.seed)
    if args.teacher == PROGRAMMATIC:
        records, summary = programmatic_traces(problems)
    else:
        records, summary = model_traces(problems, resolve_model(args.teacher), args.max_new_tokens, args.batch_size,
                                        args.actors, args.cpus_per_actor, args.gpus_per_actor)
    write_jsonl(args.out, records)
    _write_summary(args.out.with_suffix(".summary.json"), summary)
    _print(summary)


def _filter(args) -> None:
    from glyph_dist.data.corpus import write_jsonl
    from glyph_dist.emergence.filter import filter_traces
    from glyph_dist.emergence.records import TRACE_KEYS, read_records

    records = [r for path in args.traces for r in read_records(path, TRACE_KEYS)]
    kept, summary = filter_traces(records, args.max_chars)
    write_jsonl(args.out, kept)
    _write_summary(args.out.with_suffix(".summary.json"), summary)
    _print(summary)


def _rewrite(args) -> None:
    from glyph_dist.emergence.records import PROBLEM_KEYS, TRACE_KEYS, read_records
    from glyph_dist.emergence.rewrite import rewrite
    from glyph_dist.models.catalog import resolve_model

    template = resolve_model(args.template) if args.template != "none" else None
    _print(rewrite(read_records(args.unified, PROBLEM_KEYS), read_records(args.kept, TRACE_KEYS), args.out,
                   args.glyph_share, args.selection, args.n, args.val_share, args.seed, template))


def _model_spec(text: str) -> tuple[str, str]:
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec:
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL (a catalog name or a directory), got {text!r}")
    return name, spec


def _eval(args) -> None:
    from glyph_dist.emergence.evaluate import eval_setup, evaluate_model, heldout_sample
    from glyph_dist.emergence.records import PROBLEM_KEYS, read_records
    from glyph_dist.models.catalog import resolve_model
    from glyph_dist.reports.emergence import verdict, write_report

    specs = args.model or [("base", "smollm2")]
    names = [name for name, _ in specs]
    if len(set(names)) != len(names):
        raise GlyphDistError(f"model names must differ: {', '.join(names)}")
    models = [(name, resolve_model(spec)) for name, spec in specs]  # every model checked first
    problems = heldout_sample(read_records(args.unified, PROBLEM_KEYS), args.n, args.seed)
    evaluated = [evaluate_model(name, path, problems, args.out / "outputs", args.seed, args.max_new_tokens,
                                args.batch_size, args.actors, args.cpus_per_actor, args.gpus_per_actor)
                 for name, path in models]
    summary = {"eval": eval_setup(problems, args.seed, args.max_new_tokens), "models": evaluated}
    for path in write_report(summary, args.out):
        print(path, file=sys.stderr)
    print(verdict(evaluated))


def _sweep(args) -> None:
    from glyph_dist.emergence.sweep import load_sweep, run_sweep
    from glyph_dist.reports.emergence import verdict, write_report

    settings = load_sweep(args.config, args.overrides)
    summary = run_sweep(settings)
    for path in write_report(summary, Path(settings["out"])):
        print(path, file=sys.stderr)
    for failed in summary["failed"]:
        print(f"failed trial glyph_share={failed['glyph_share']} seed={failed['seed']}: {failed['error']}",
              file=sys.stderr)
    print(verdict(summary["models"]))


def _generation(parser: argparse.ArgumentParser, max_new_tokens: int) -> None:
    parser.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help="(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per generate call (default: %(default)s)")
    parser.add_argument("--actors", type=int, default=1, help="Ray actors, one model each (default: %(default)s)")
    parser.add_argument("--cpus-per-actor", type=float, default=1, help="(default: %(default)s)")
    parser.add_argument("--gpus-per-actor", type=float, default=0, help="1 when a GPU is lent (default: %(default)s)")


def register(groups: argparse._SubParsersAction) -> None:
    group = groups.add_parser("emergence", help="glyph emergence: unify, traces, filter, rewrite, eval, sweep")
    commands = group.add_subparsers(dest="command", required=True)
    unified = DATA / "unified.jsonl"

    unify = commands.add_parser("unify", help="GSM8K, SVAMP (and MATH) as one JSONL of problems with difficulty")
    unify.add_argument("--gsm8k", type=Path, default=SHARED / "gsm8k", help="(default: %(default)s)")
    unify.add_argument("--svamp", type=Path, default=SHARED / "svamp", help="(default: %(default)s)")
    unify.add_argument("--math", type=Path, help="a MATH directory in its public layout (train/, test/)")
    unify.add_argument("--out", type=Path, default=unified, help="(default: %(default)s)")
    unify.set_defaults(func=_unify)

    traces = commands.add_parser("traces", help="glyph traces of training problems from a teacher")
    traces.add_argument("--unified", type=Path, default=unified, help="(default: %(default)s)")
    traces.add_argument("--teacher", default="programmatic",
                        help="'programmatic', or a local causal LM (catalog name or directory) (default: %(default)s)")
    traces.add_argument("--n", type=int, help="a seeded sample of this many training problems (default: all)")
    traces.add_argument("--seed", type=int, default=1337)
    traces.add_argument("--out", type=Path, default=DATA / "traces.jsonl", help="(default: %(default)s)")
    _generation(traces, 320)
    traces.set_defaults(func=_traces)

    filtering = commands.add_parser("filter", help="keep valid traces with the gold answer and a bounded length")
    filtering.add_argument("--traces", type=Path, nargs="+", default=[DATA / "traces.jsonl"], help="(default: %(default)s)")
    filtering.add_argument("--max-chars", type=int, default=1200, help="(default: %(default)s)")
    filtering.add_argument("--out", type=Path, default=DATA / "kept.jsonl", help="(default: %(default)s)")
    filtering.set_defaults(func=_filter)

    rewriting = commands.add_parser("rewrite", help="SFT (prompt, target) files: clean prompts, glyph and natural rows")
    rewriting.add_argument("--unified", type=Path, default=unified, help="(default: %(default)s)")
    rewriting.add_argument("--kept", type=Path, default=DATA / "kept.jsonl", help="(default: %(default)s)")
    rewriting.add_argument("--out", type=Path, required=True, help="directory of train.jsonl, val.jsonl, rewrite.json")
    rewriting.add_argument("--glyph-share", type=float, required=True, help="share of glyph rows (0: the control)")
    rewriting.add_argument("--selection", choices=["random", "hardest"], default="hardest", help="(default: %(default)s)")
    rewriting.add_argument("--n", type=int, help="a seeded sample of this many problems (default: all with a kept trace)")
    rewriting.add_argument("--val-share", type=float, default=0.1, help="(default: %(default)s)")
    rewriting.add_argument("--seed", type=int, default=1337)
    rewriting.add_argument("--template", default="smollm2",
                           help="the chat template of the model to train (catalog name or directory), or 'none' "
                                "(default: %(default)s)")
    rewriting.set_defaults(func=_rewrite)

    evaluating = commands.add_parser("eval", help="glyph use, selectivity and accuracy on held-out problems")
    evaluating.add_argument("--unified", type=Path, default=unified, help="(default: %(default)s)")
    evaluating.add_argument("--model", type=_model_spec, action="append", default=None, metavar="NAME=MODEL",
                            help="a model to evaluate, repeatable (default: base=smollm2)")
    evaluating.add_argument("--n", type=int, default=200, help="held-out problems (default: %(default)s)")
    evaluating.add_argument("--seed", type=int, default=0, help="of the sample and the bootstrap (default: %(default)s)")
    evaluating.add_argument("--out", type=Path, default=Path("reports/emergence"), help="(default: %(default)s)")
    _generation(evaluating, 256)
    evaluating.set_defaults(func=_eval)

    sweep = commands.add_parser("sweep", help="glyph share x seeds on Ray Tune: rewrite, train, evaluate")
    sweep.add_argument("config", type=Path, help="e.g. experiments/emergence_sweep.yaml")
    sweep.add_argument("overrides", nargs="*", help="key=value overrides, e.g. seeds='[1,2]' eval.n=100")
    sweep.set_defaults(func=_sweep)
