"""The `glyph-dist` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from glyph_dist.cluster.job_env import enter_project_root
from glyph_dist.commands import adapter, models
from glyph_dist.commands import emergence
from glyph_dist.commands import forge
from glyph_dist.errors import GlyphDistError

INTERRUPTED = 130  # the exit status of a command ended by SIGINT (128 + 2)


def _data_corpus(args) -> None:
    from glyph_dist.data.corpus import make_sgd_corpus

    paths = make_sgd_corpus(args.sgd, args.out, args.heldout, args.seed)
    for part, path in paths.items():
        print(f"{part}: {path}")


def _data_prepare(args) -> None:
    from glyph_dist.data.context_bench import prepare_long_conversations, prepare_context_bench

    prepare_context_bench(args.out, seed=args.seed, sgd_dir=args.sgd)
    manifest = prepare_long_conversations(args.out, seed=args.long_seed, sgd_dir=args.sgd)
    for name, entry in manifest["files"].items():
        if name.startswith("phase5/"):
            counts = ", ".join(f"{split} {c['episodes']} episodes / {c['questions']} questions"
                               for split, c in entry["splits"].items())
            print(f"{args.out / name}: {counts}")


def _data_glyph_aware(args) -> None:
    from glyph_dist.data.glyph_aware import build_glyph_aware

    summary = build_glyph_aware(args.bench_data, args.tape, args.out, args.budget)
    for split, entry in summary["files"].items():
        print(f"{split}: {entry['pairs']} pairs -> {entry['path']}")


def _data_reader_pairs(args) -> None:
    from glyph_dist.data.reader_pairs import build_reader_pairs

    summary = build_reader_pairs(args.model, args.bench_data, args.tape, args.out, {"train": args.train, "val": args.val},
                                 args.budgets, args.strategies, seed=args.seed)
    for split, entry in summary["files"].items():
        print(f"{split}: {entry['pairs']} pairs from {entry['questions']} questions -> {entry['path']}")


def _run(args) -> int | None:
    import time

    from glyph_dist.runner.config import load_experiment
    from glyph_dist.runner.run import run_experiment

    if args.resume:
        if args.experiment or args.overrides:
            raise GlyphDistError("--resume takes the run directory only (its experiment.yaml is reused)")
        summary = run_experiment(None, args.resume, args.address, resume=True)
    else:
        if not args.experiment:
            raise GlyphDistError("name an experiment file, e.g. experiments/context_bench.yaml, or --resume RUN_DIR")
        experiment = load_experiment(args.experiment, args.overrides)
        run_dir = args.run_dir or Path("runs") / f"{experiment.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        summary = run_experiment(experiment, run_dir, args.address)
    print(f"{summary['finished']}/{summary['trials']} trials finished ({summary['failed']} failed) "
          f"in {summary['seconds']:.0f} s; rows: {summary['run_dir'] / 'results.csv'}")
    if summary["status"] == "interrupted":
        print(f"interrupted: no report from a partial grid; finish it with: glyph-dist run --resume {summary['run_dir']}")
        return INTERRUPTED
    outputs = summary["outputs"]
    shown = outputs if len(outputs) <= 30 else [path for path in outputs if Path(path).suffix == ".md"]
    print(f"{len(outputs)} output files" + (f", of which the {len(shown)} reports:" if shown != outputs else ":"))
    for path in shown:
        print(f"   {path}")


def _bench_context(args) -> None:
    import json
    import tempfile

    from glyph_dist.context.bench import CellConfig, run_cell, token_counter_name
    from glyph_dist.fgms.memory import ShardMemory
    from glyph_dist.models.answerers import get_answerer
    from glyph_dist.models.judges import get_judge
    from glyph_dist.files import write_text
    from glyph_dist.fgms.schema import read_settings

    config = CellConfig(dataset=str(args.dataset), budget=args.budget, split=args.split or None,
                        strategies=tuple(args.strategies), isolation=args.isolation, answerer=args.answerer,
                        judge=args.judge, **read_settings(args))
    answerer, judge = get_answerer(args.answerer), get_judge(args.judge)
    pairwise_judge = get_judge(args.pairwise_judge) if args.pairwise_judge else None
    with tempfile.TemporaryDirectory(prefix="fgms-bench-") as scratch:
        memory = ShardMemory.open(args.tape, args.fgms_storage or scratch, tokenizer=args.tokenizer)
        print(f"{args.dataset} ({args.split or 'all splits'}), budget {args.budget}, answerer {answerer.name}, "
              f"judge {judge.name}:", flush=True)
        result = run_cell(config, memory.hybrid, answerer, judge, memory, token_counter_name(memory.hybrid), quiet=False,
                          pairwise_judge=pairwise_judge)
        memory.storage.close()
    write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(f"results: {args.out}")


def _train_sft(args) -> None:
    from glyph_dist.train.config import load_sft_config
    from glyph_dist.train.job import train_sft

    result = train_sft(load_sft_config(args.config, args.overrides))
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items() if isinstance(v, (int, float)))
    print(f"{metrics}\ncheckpoint: {result.checkpoint}\nrun: {result.path}")


def _eval_glyph_model(args) -> None:
    import json

    from glyph_dist.context.model_eval import evaluate_model
    from glyph_dist.files import write_text

    for variant, model in (("raw", args.raw), ("glyph", args.glyph)):
        if model is None:
            continue
        label = f"{args.label}_{variant}"
        result = evaluate_model(model, args.pairs, variant, args.bench_data, model_label=label, seed=args.seed,
                                limit=args.limit)
        row = next(iter(result["results"].values()))
        path = args.out / f"model_eval_{label}_s{args.seed}.json"
        write_text(path, json.dumps(result, indent=1) + "\n")
        print(f"{label}: success {row['success_rate']:.3f} (EM {row['em']:.3f}, F1 {row['f1']:.3f}) on "
              f"{row['n_questions']} questions, summary fact recall {row['summary_fact_recall']:.3f} -> {path}")


def _eval_reader(args) -> None:
    import json

    from glyph_dist.context.reader_eval import evaluate_readers
    from glyph_dist.files import write_text
    from glyph_dist.reports.reader import reader_markdown

    readers = dict(spec.split("=", 1) if "=" in spec else (spec, spec) for spec in args.reader)
    result = evaluate_readers(readers, args.bench_data, args.tape, args.datasets, args.questions, args.budgets, args.strategies)
    table = reader_markdown(result)
    write_text(args.out / "reader_eval.json", json.dumps(result, indent=1) + "\n")
    write_text(args.out / "reader_eval.md", table)
    print(f"{table}\nresults: {args.out / 'reader_eval.json'}, {args.out / 'reader_eval.md'}")


def _report_context_bench(args) -> None:
    from glyph_dist.reports.context_bench import write_context_bench_report

    for name, path in write_context_bench_report(args.dir, args.docs).items():
        print(f"{name}: {path}")


def _report_study(args) -> None:
    from glyph_dist.reports.study_report import write_study_report

    print("\n".join(str(path) for path in write_study_report(args.run_dir, args.study, args.out)))


def _report_memory(args) -> None:
    from glyph_dist.reports.memory_eval import write_memory_report

    if not args.date:
        raise GlyphDistError("report: give --date DATE (a day under runs/) or a report kind such as context-bench")
    paths = write_memory_report(args.runs, args.out, args.date)
    print("\n".join(str(path) for path in paths if path.suffix == ".md"))


def _tape_build(args) -> None:
    from glyph_dist.fgt.build import TapeConfig, build_tape
    from glyph_dist.models.catalog import CATALOG, resolve_model

    # fgt takes a directory; a catalog name is resolved here, above both layers
    embedder = str(resolve_model(args.embedder)) if args.embedder in CATALOG else args.embedder
    config = TapeConfig(clusters=args.clusters, embedder=embedder, tokenizer=args.tokenizer,
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


def _memory_serve(args) -> None:
    """With Ray started here (no --address or RAY_ADDRESS, or `local`) the replica serves --port itself
    (direct ingress) and Serve's proxy another port; on a cluster the proxy serves --port."""
    import functools
    import os
    import signal
    import time

    import ray
    from ray import serve

    from glyph_dist.fgms.app import bindable_port, build_app, direct_ingress_env
    from glyph_dist.fgt.store import resolve_tape_dir

    tape = str(resolve_tape_dir(args.tape))  # fail early on a bad tape or port, before starting Ray
    address = args.address or os.environ.get("RAY_ADDRESS") or "local"  # "local": a new Ray instance, even beside another
    local = address == "local"
    if local:
        tell = functools.partial(print, file=sys.stderr, flush=True)
        os.environ.update(direct_ingress_env(bindable_port(args.host, args.port, waiting=tell)))
    proxy_port = bindable_port(args.host) if local else args.port
    ray.init(address=address, namespace="fgms", log_to_driver=False)
    serve.start(http_options={"host": args.host, "port": proxy_port})
    serve.run(build_app(tape, str(args.storage), args.shards, args.tokenizer, args.shard_cpus),
              name="fgms", route_prefix="/")
    proxy = f"; Serve's proxy at http://{args.host}:{proxy_port}" if local else ""
    print(f"FGMS serving {args.shards} shard(s) at http://{args.host}:{args.port} "
          f"(docs: /docs, storage: {args.storage}{proxy}); Ctrl-C or SIGTERM stops it", flush=True)
    for stop in (signal.SIGINT, signal.SIGTERM):  # also where SIGINT came ignored, as in a shell's background job
        signal.signal(stop, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()


def _memory_write(args) -> None:
    from glyph_dist.fgms.client import MemoryClient
    from glyph_dist.fgt.ingest import iter_jsonl

    client = MemoryClient(args.url)
    if args.file:
        records = [record for _, record in iter_jsonl(args.file)]
    else:
        records = [{"actor_id": args.actor, "record_id": args.record_id, "text": args.text, "role": args.role,
                    **({"episode_id": args.episode} if args.episode else {}),
                    **({"turn": args.turn} if args.turn is not None else {}), "tags": args.tag or []}]
    print(client.write(records).model_dump_json())


def _memory_read(args) -> None:
    from glyph_dist.fgms.client import MemoryClient
    from glyph_dist.fgms.schema import read_settings

    response = MemoryClient(args.url).read(
        args.actor, args.query, args.budget, **read_settings(args),
        filters={"episode_id": args.episode, "tags": args.tag or []})
    if args.json:
        print(response.model_dump_json(indent=2))
    else:
        print(response.context)
        print(f"-- {len(response.items)} items, {response.token_estimate}/{response.token_budget} tokens, "
              f"{response.candidates_considered} candidates, policy {response.policy}, mode {response.mode}, "
              f"relevance {response.relevance}, unit {response.unit}")


def _thresholds(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"thresholds must be comma-separated numbers, got {text!r}") from exc
    if not all(0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"thresholds must lie in [0, 1], got {text!r}")
    return values


FGMS_GROUP = ("fgms", "memory")  # the service's command group and its former name


def add_bench_data_option(parser: argparse.ArgumentParser) -> None:
    """--bench-data: the directory of the context benchmark's episode files (former name: --phase5)."""
    parser.add_argument("--bench-data", "--phase5", dest="bench_data", type=Path, default=Path("data/phase5"),
                        help="the context benchmark's data sets, from `glyph-dist data prepare` (former name: "
                             "--phase5; default: %(default)s)")


def add_read_options(parser: argparse.ArgumentParser, whose: str = "") -> None:
    """--policy, --mode, --relevance, --unit and --neighbours of an FGMS read, with the request schema's types,
    choices and defaults."""
    import typing

    from glyph_dist.fgms.schema import READ_SETTINGS, ReadRequest

    for key in READ_SETTINGS:
        field = ReadRequest.model_fields[key]
        kind = {"type": int} if field.annotation is int else {"choices": typing.get_args(field.annotation)}
        parser.add_argument(f"--{key}", default=field.default, **kind,
                            help=f"FGMS read {key}{' ' + whose if whose else ''} (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    from glyph_dist.context.bench import DEFAULT_STRATEGIES
    from glyph_dist.eval.episodes import ISOLATIONS
    from glyph_dist.providers.registry import PROVIDERS
    from glyph_dist.data.corpus import DEFAULT_SGD
    from glyph_dist.data.long_conversations import SEED as LONG_SEED
    from glyph_dist.data.reader_pairs import BUDGETS as READER_BUDGETS, QUESTIONS, STRATEGIES as READER_STRATEGIES
    from glyph_dist.fgt.build import TapeConfig
    from glyph_dist.fgt.efficiency import DEFAULT_THRESHOLDS
    from glyph_dist.fgt.hybrid import DEFAULT_THRESHOLD
    from glyph_dist.reports.studies import STUDIES

    defaults = TapeConfig()
    parser = argparse.ArgumentParser(prog="glyph-dist", description=__doc__)
    groups = parser.add_subparsers(dest="group", required=True)
    models.register(groups)
    emergence.register(groups)
    adapter.register(groups)
    forge.register(groups)

    data = groups.add_parser("data", help="prepare data sets").add_subparsers(dest="command", required=True)
    corpus = data.add_parser("corpus", help="the shared SGD dialogues as train/held-out JSONL episodes")
    corpus.add_argument("--sgd", type=Path, default=DEFAULT_SGD, help="SGD split directory (default: %(default)s)")
    corpus.add_argument("--out", type=Path, default=Path("data/corpus"), help="output directory (default: %(default)s)")
    corpus.add_argument("--heldout", type=float, default=0.2, help="held-out share of dialogues (default: %(default)s)")
    corpus.add_argument("--seed", type=int, default=0)
    corpus.set_defaults(func=_data_corpus)
    prepare = data.add_parser("prepare", help="the context benchmark's data sets (agent logs, SGD dialogue questions, "
                                              "long dated conversations)")
    prepare.add_argument("--out", type=Path, default=Path("data"), help="data directory (default: %(default)s)")
    prepare.add_argument("--seed", type=int, default=1337, help="generation seed (default: %(default)s)")
    prepare.add_argument("--long-seed", type=int, default=LONG_SEED,
                         help="seed of the long conversations, their own (default: %(default)s)")
    prepare.add_argument("--sgd", type=Path, default=DEFAULT_SGD, help="SGD split directory (default: %(default)s)")
    prepare.set_defaults(func=_data_prepare)
    glyph_aware = data.add_parser("glyph-aware", help="RAW and GLYPH-CONTEXT (prompt, target) pairs for the mini-models")
    add_bench_data_option(glyph_aware)
    glyph_aware.add_argument("--tape", type=Path, default=Path("data/tapes/sgd"), help="tape (default: %(default)s)")
    glyph_aware.add_argument("--out", type=Path, default=Path("data/phase5/glyph_aware"),
                             help="output directory (default: %(default)s)")
    glyph_aware.add_argument("--budget", type=int, default=512, help="context tokens of both variants (default: %(default)s)")
    glyph_aware.set_defaults(func=_data_glyph_aware)
    reader_pairs = data.add_parser("reader-pairs", help="reader fine-tuning pairs from the train and val splits: "
                                                        "every strategy's context at several budgets")
    reader_pairs.add_argument("--model", default="smollm2", help="the reader: its tokenizer counts the budgets and "
                                                                 "its chat template renders the prompts (default: %(default)s)")
    add_bench_data_option(reader_pairs)
    reader_pairs.add_argument("--tape", type=Path, default=Path("data/tapes/sgd"), help="tape of fgt_context (default: %(default)s)")
    reader_pairs.add_argument("--out", type=Path, default=Path("data/reader"), help="(default: %(default)s)")
    reader_pairs.add_argument("--train", type=int, default=QUESTIONS["train"], help="train questions drawn (default: %(default)s)")
    reader_pairs.add_argument("--val", type=int, default=QUESTIONS["val"], help="val questions drawn (default: %(default)s)")
    reader_pairs.add_argument("--budgets", type=int, nargs="+", default=list(READER_BUDGETS), help="(default: %(default)s)")
    reader_pairs.add_argument("--strategies", nargs="+", default=list(READER_STRATEGIES),
                              help="(default: %(default)s)")
    reader_pairs.add_argument("--seed", type=int, default=1337, help="draws the questions (default: %(default)s)")
    reader_pairs.set_defaults(func=_data_reader_pairs)

    run = groups.add_parser("run", help="run an experiment (YAML plus key=value overrides) on Ray Tune")
    run.add_argument("experiment", nargs="?", type=Path, help="experiment file, e.g. experiments/context_bench.yaml")
    run.add_argument("overrides", nargs="*", help="key=value overrides, e.g. budget=512 seed='[1337]'")
    run.add_argument("--run-dir", type=Path, help="run directory (default: runs/NAME-TIMESTAMP)")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR", help="finish an interrupted run")
    run.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else start Ray locally)")
    run.set_defaults(func=_run)

    bench = groups.add_parser("bench", help="benchmarks of the research questions").add_subparsers(dest="command", required=True)
    context = bench.add_parser("context", help="one cell of the context benchmark: every provider at one budget")
    context.add_argument("--dataset", type=Path, required=True, help="episodes with questions, or memory suite items (JSONL)")
    context.add_argument("--budget", type=int, required=True, help="token budget of every strategy")
    context.add_argument("--out", type=Path, required=True, help="result JSON")
    context.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES), choices=PROVIDERS.choices(),
                         metavar="PROVIDER", help="context providers to compare: strategies or memory modules, of "
                         f"{', '.join(PROVIDERS.choices())} (default: %(default)s)")
    context.add_argument("--answerer", default="context-recall", help="context-recall or a local causal LM directory")
    context.add_argument("--judge", default="rule")
    context.add_argument("--pairwise-judge", metavar="llm:DIR",
                         help="also compare fgt_context's answers with each strategy's, by a local LM in both orders")
    context.add_argument("--split", default="test", help="episodes of this split only, in a file with split keys "
                         "(a file without them runs whole; '' for all; default: %(default)s)")
    context.add_argument("--isolation", choices=ISOLATIONS, help="episode: a fresh memory per episode; stream: the "
                         "whole file one teach stream (default: stream for a memory suite, episode otherwise)")
    context.add_argument("--tape", type=Path, default=Path("data/tapes/sgd"), help="tape of fgt_context (default: %(default)s)")
    context.add_argument("--tokenizer", help="tokenizer that counts the budget (default: the tape's)")
    add_read_options(context, "of fgt_context")
    context.add_argument("--fgms-storage", type=Path, help="keep fgt_context's memories here (default: a temporary directory)")
    context.set_defaults(func=_bench_context)

    train = groups.add_parser("train", help="training jobs on Ray Train").add_subparsers(dest="command", required=True)
    sft = train.add_parser("sft", help="supervised fine-tuning with DeepSpeed (YAML plus key=value overrides)")
    sft.add_argument("config", type=Path, help="e.g. experiments/sft_tiny.yaml")
    sft.add_argument("overrides", nargs="*", help="key=value overrides, e.g. num_workers=2 zero_stage=1")
    sft.set_defaults(func=_train_sft)

    evaluate = groups.add_parser("eval", help="evaluations").add_subparsers(dest="command", required=True)
    glyph_model = evaluate.add_parser("glyph-model", help="model_raw and model_glyph on the glyph-aware test pairs")
    glyph_model.add_argument("--raw", type=Path, help="model_raw: a checkpoint, training run or catalog name")
    glyph_model.add_argument("--glyph", type=Path, help="model_glyph: a checkpoint, training run, saved adapter or "
                                                        "catalog name")
    glyph_model.add_argument("--pairs", type=Path, default=Path("data/phase5/glyph_aware/test.jsonl"),
                             help="(default: %(default)s)")
    add_bench_data_option(glyph_model)
    glyph_model.add_argument("--seed", type=int, default=1337, help="the training seed, for the file name and tables")
    glyph_model.add_argument("--out", type=Path, default=Path("reports/phase5"), help="(default: %(default)s)")
    glyph_model.add_argument("--label", default="model", help="models are named LABEL_raw and LABEL_glyph, e.g. "
                                                               "zero_shot for --raw smollm2 --glyph smollm2 (default: %(default)s)")
    glyph_model.add_argument("--limit", type=int, help="the first LIMIT question and summary pairs only (default: all)")
    glyph_model.set_defaults(func=_eval_glyph_model)
    reader = evaluate.add_parser("reader", help="zero-shot vs fine-tuned readers on the context benchmark's test split: "
                                                "EM, F1 and containment per strategy and budget")
    reader.add_argument("--reader", action="append", required=True, metavar="LABEL=MODEL",
                        help="a reader: a catalog name, model directory or training run (repeatable; the first "
                             "one's tokenizer counts the budgets), e.g. zero-shot=smollm2 tuned=runs/train/reader_sft")
    add_bench_data_option(reader)
    reader.add_argument("--tape", type=Path, default=Path("data/tapes/sgd"), help="tape of fgt_context (default: %(default)s)")
    reader.add_argument("--datasets", nargs="+", default=["agent_logs", "public_dialog"], help="(default: %(default)s)")
    reader.add_argument("--questions", type=int, default=8, help="first test questions of each data set (default: %(default)s)")
    reader.add_argument("--budgets", type=int, nargs="+", default=list(READER_BUDGETS), help="(default: %(default)s)")
    reader.add_argument("--strategies", nargs="+", default=list(READER_STRATEGIES),
                        help="(default: %(default)s)")
    reader.add_argument("--out", type=Path, default=Path("reports/reader"), help="(default: %(default)s)")
    reader.set_defaults(func=_eval_reader)

    report_group = groups.add_parser("report", help="reports from results: --date DATE for a memory evaluation day")
    report_group.add_argument("--date", help="roll up runs/DATE of the memory evaluation into reports/DATE/")
    report_group.add_argument("--runs", type=Path, default=Path("runs"), help="runs directory (default: %(default)s)")
    report_group.add_argument("--out", type=Path, default=Path("reports"), help="reports directory (default: %(default)s)")
    report_group.set_defaults(func=_report_memory)
    report = report_group.add_subparsers(dest="command")
    context_bench = report.add_parser("context-bench", aliases=["phase5"],
                                      help="summary table, plots and results document of the context benchmark")
    context_bench.add_argument("--dir", type=Path, default=Path("reports/phase5"), help="result JSON directory (default: %(default)s)")
    context_bench.add_argument("--docs", type=Path, default=Path("docs/PHASE-5-RESULTS.md"),
                               help="results document (default: %(default)s)")
    context_bench.set_defaults(func=_report_context_bench)
    study = report.add_parser("study", help="one study's tables, paired verdicts and plots from a run's results.jsonl")
    study.add_argument("--run-dir", type=Path, required=True, help="a run directory (glyph-dist run ... --run-dir DIR)")
    study.add_argument("--study", choices=STUDIES.choices(),
                       help="the study's declaration (default: the one the run's rows fit)")
    study.add_argument("--out", type=Path, default=None, help="report directory (default: RUN_DIR/report)")
    study.set_defaults(func=_report_study)

    tape = groups.add_parser("tape", help="build and use a Fractal Glyph Tape").add_subparsers(dest="command", required=True)
    build = tape.add_parser("build", help="build a tape from corpus files")
    build.add_argument("--corpus", type=Path, nargs="+", required=True,
                       help="text files, JSONL episodes, or SGD directories / dialogues_*.json files")
    build.add_argument("--out", type=Path, required=True, help="tape root; the build adds a new version under it")
    build.add_argument("--clusters", type=int, default=defaults.clusters, help="number of families K (default: %(default)s)")
    build.add_argument("--embedder", default=defaults.embedder,
                       help="'static' (fitted to the corpus, default), 'static:DIM', 'minilm' (the catalog's all-MiniLM-L6-v2), "
                            "or a local sentence-transformers model")
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

    memory = groups.add_parser("fgms", aliases=["memory"], help="FGMS, the glyph memory service (former name: memory)"
                               ).add_subparsers(dest="command", required=True)
    serve = memory.add_parser("serve", help="start the sharded memory service with its HTTP API")
    serve.add_argument("--tape", type=Path, required=True, help="tape root or version directory")
    serve.add_argument("--shards", type=int, default=2, help="number of shard actors (default: %(default)s)")
    serve.add_argument("--storage", type=Path, required=True, help="directory of the shards' durable storage")
    serve.add_argument("--tokenizer", help="tokenizer that counts budgets (default: the tape's)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--address", help="join this Ray cluster (default: RAY_ADDRESS, else start Ray locally)")
    serve.add_argument("--shard-cpus", type=float, default=0.5, help="CPUs reserved per shard (default: %(default)s)")
    serve.set_defaults(func=_memory_serve)

    def with_url(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--url", default="http://127.0.0.1:8000", help="service URL (default: %(default)s)")
        sub.add_argument("--actor", help="the agent whose memory this is")
        sub.add_argument("--episode", help="episode id")
        sub.add_argument("--tag", action="append", help="a tag (repeatable)")
        return sub

    write = with_url(memory.add_parser("write", help="write one memory, or a JSONL file of records"))
    write.add_argument("text", nargs="?")
    write.add_argument("--file", type=Path, help="JSONL file of records (MemoryRecord fields)")
    write.add_argument("--record-id", help="idempotency key of the record")
    write.add_argument("--role", default="user")
    write.add_argument("--turn", type=int)
    write.set_defaults(func=_memory_write)

    read = with_url(memory.add_parser("read", help="read the best context for a query under a budget"))
    read.add_argument("query", nargs="?", default="")
    read.add_argument("--budget", type=int, default=2048, help="token budget (default: %(default)s)")
    add_read_options(read)
    read.add_argument("--json", action="store_true", help="print the whole response as JSON")
    read.set_defaults(func=_memory_read)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.group in FGMS_GROUP and args.command != "serve" and not args.actor and not getattr(args, "file", None):
        parser.error("--actor is required (or --file for write)")
    if args.group in FGMS_GROUP and args.command == "write" and not args.file and not (args.text and args.record_id):
        parser.error("fgms write needs TEXT and --record-id, or --file")
    try:
        enter_project_root()  # a submitted job runs in the project root its submitter named
        return args.func(args) or 0
    except GlyphDistError as exc:
        print(f"glyph-dist: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("glyph-dist: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
