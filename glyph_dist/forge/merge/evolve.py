"""The evolution of merges (plain Python; evaluation is injected, on Ray in pool.py).

    generation 0   the 8 combinations of (linear | slerp) x (ties | dare) x (franken | dfs), each a
                   random recipe (recipe.py) applied to the parents
    generation g   ranked by fitness: the top `elites` stay; each elite gets `mutants` mutants
                   (Gaussian noise, sigma times each tensor's std, on a random `mutation_fraction`
                   of its entries); the bottom `losers` are merged in groups (`losers / children`
                   models each, best first, the best the target) by a random recipe of a random
                   combination into `children` children. The population after generation 0 is
                   elites + mutants + children (10 by default); only new members are evaluated.
    diversity      the mean over pairs of members of ||a - b|| / (||a|| + ||b||) (0: identical,
                   1 at most), on a seeded sample of entries of the tensors the two share; below
                   `diversity_floor` every member but the elites is replaced by fresh seeds
                   (generation 0's procedure) and evaluated
    early stop     after `patience` generations without the best fitness rising by `min_delta`

The run directory holds the population state (`state.json`, rewritten atomically after every
generation) and every living member as a model directory (`candidates/ID`, removed once the
member leaves); a restarted run continues after its last finished generation. Each generation
draws from its own generator seeded by (seed, generation), so a resumed run makes the same
choices as an uninterrupted one.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import write_text
from glyph_dist.forge.merge.family import Family, Model
from glyph_dist.forge.merge.recipe import COMBOS, RecipeRanges, apply_recipe, random_recipe, source_depths
from glyph_dist.forge.merge.state import StateDict, tensor_seed

STATE_FILE, CANDIDATES, FINGERPRINT = "state.json", "candidates", "fingerprint.pt"
Evaluate = Callable[[list[Path]], list[dict]]  # candidate directories -> their metrics
Score = Callable[[dict], float]  # metrics -> fitness


@dataclass
class GAConfig:
    generations: int = 50
    elites: int = 2
    mutants: int = 3  # per elite
    losers: int = 6
    children: int = 2
    mutation_fraction: float = 0.05
    mutation_sigma: float = 0.1
    patience: int = 8
    min_delta: float = 1e-3
    diversity_floor: float = 0.02
    diversity_sample: int = 1_000_000  # entries of each model compared
    seed: int = 1337

    def __post_init__(self):
        if self.elites < 1 or self.mutants < 0 or self.children < 1 or self.losers < self.children:
            raise GlyphDistError("evolution: need elites >= 1, mutants >= 0, children >= 1, losers >= children")
        if not 0 < self.mutation_fraction <= 1:
            raise GlyphDistError(f"evolution: mutation_fraction must lie in (0, 1], got {self.mutation_fraction}")


def mutate(state: StateDict, fraction: float, sigma: float, seed: int) -> StateDict:
    """Noise ~ N(0, (sigma * std)^2) of each float tensor, added on a Bernoulli(fraction) mask."""
    out = {}
    for name, tensor in state.items():
        if not tensor.is_floating_point() or tensor.numel() < 2:
            out[name] = tensor
            continue
        generator = torch.Generator().manual_seed(tensor_seed(seed, name))
        mask = torch.rand(tensor.shape, generator=generator) < fraction
        noise = torch.randn(tensor.shape, generator=generator) * (sigma * float(tensor.float().std()))
        out[name] = (tensor.float() + mask * noise).to(tensor.dtype)
    return out


def fingerprint(state: StateDict, sample: int, seed: int) -> dict[str, torch.Tensor]:
    """A seeded sample of each float tensor's entries (the same positions for the same name and shape)."""
    total = sum(t.numel() for t in state.values() if t.is_floating_point())
    share = min(1.0, sample / max(1, total))
    out = {}
    for name, tensor in state.items():
        if tensor.is_floating_point():
            flat = tensor.flatten().float()
            if share < 1:
                generator = torch.Generator().manual_seed(tensor_seed(seed, f"{name}{tuple(tensor.shape)}"))
                flat = flat[torch.randint(flat.numel(), (max(1, int(share * flat.numel())),), generator=generator)]
            out[name] = flat
    return out


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """||a - b|| / (||a|| + ||b||) over the entries both fingerprints hold (same name and size)."""
    shared = [n for n in a if n in b and a[n].shape == b[n].shape]
    if not shared:
        return 1.0
    diff = math.sqrt(sum(float((a[n] - b[n]).pow(2).sum()) for n in shared))
    norms = math.sqrt(sum(float(a[n].pow(2).sum()) for n in shared)) + math.sqrt(
        sum(float(b[n].pow(2).sum()) for n in shared))
    return diff / norms if norms else 0.0


def diversity(prints: list[dict[str, torch.Tensor]]) -> float:
    pairs = list(itertools.combinations(prints, 2))
    return sum(distance(a, b) for a, b in pairs) / len(pairs) if pairs else 0.0


class Evolution:
    def __init__(self, run_dir: Path, family: Family, parents: list[Model], evaluate: Evaluate, score: Score,
                 ga: GAConfig, ranges: RecipeRanges, base: Model | None = None, target: int = 0,
                 names: list[str] | None = None, log: Callable[[str], None] = print):
        self.run_dir, self.family, self.parents, self.base, self.target = Path(run_dir), family, parents, base, target
        self.names = names or [p.directory.name for p in parents]
        self.evaluate, self.score, self.ga, self.ranges, self.log = evaluate, score, ga, ranges, log
        self.state_path = self.run_dir / STATE_FILE
        self.evaluations = 0

    # -- members -------------------------------------------------------------------------------------
    def _dir(self, member_id: str) -> Path:
        return self.run_dir / CANDIDATES / member_id

    def _save(self, member_id: str, state: StateDict, origin: dict) -> dict:
        directory = self.family.save(state, self.parents[self.target], self._dir(member_id))
        torch.save(fingerprint(state, self.ga.diversity_sample, self.ga.seed), directory / FINGERPRINT)
        return {"id": member_id, "origin": origin, "depth": self.family.layout.depth(state)}

    def _load(self, member: dict) -> StateDict:
        return self.family.load(self._dir(member["id"])).state

    def _seed(self, member_id: str, combo: tuple, parents: list[StateDict], rng: np.random.Generator,
              kind: str, parent_ids: list[str]) -> dict:
        base = self.base.state if self.base is not None else None
        depths = source_depths(parents, self.family.layout)
        recipe = random_recipe(combo, len(parents), depths, self.ranges, rng)
        merged = apply_recipe(recipe, parents, self.family.layout, base)
        return self._save(member_id, merged, {"kind": kind, "combo": recipe.combo, "parents": parent_ids,
                                              "recipe": recipe.to_dict()})

    def _evaluate(self, members: list[dict]) -> None:
        for member, metrics in zip(members, self.evaluate([self._dir(m["id"]) for m in members])):
            member["metrics"] = {k: v for k, v in metrics.items() if k not in ("windows", "gsm8k_items")}
            member["fitness"] = self.score(metrics)
        self.evaluations += len(members)

    def _seeds(self, generation: int, rng: np.random.Generator) -> list[dict]:
        states = [p.state for p in self.parents]
        return [self._seed(f"g{generation:03d}-seed{i}", combo, states, rng, "seed", self.names)
                for i, combo in enumerate(COMBOS)]

    # -- state ---------------------------------------------------------------------------------------
    def _write(self, state: dict) -> None:
        write_text(self.state_path, json.dumps(state, indent=1) + "\n")
        living = {m["id"] for m in state["population"]}
        for directory in (self.run_dir / CANDIDATES).iterdir():
            if directory.name not in living:
                shutil.rmtree(directory)

    def load_state(self) -> dict | None:
        return json.loads(self.state_path.read_text()) if self.state_path.is_file() else None

    def _diversity(self, population: list[dict]) -> float:
        return diversity([torch.load(self._dir(m["id"]) / FINGERPRINT) for m in population])

    def _record(self, state: dict, generation: int, new: list[dict], reseeded: bool) -> None:
        population = state["population"]
        fitness = [m["fitness"] for m in population]
        best = max(population, key=lambda m: m["fitness"])
        improved = best["fitness"] > state.get("best_fitness", -math.inf) + self.ga.min_delta
        state["stalled"] = 0 if improved or generation == 0 else state["stalled"] + 1
        state["best_fitness"] = max(best["fitness"], state.get("best_fitness", -math.inf))
        state["generation"] = generation
        state["history"].append({
            "generation": generation, "best": best["fitness"], "mean": sum(fitness) / len(fitness),
            "best_id": best["id"], "diversity": self._diversity(population), "evaluated": len(new),
            "reseeded": reseeded, "combos": dict(Counter(m["origin"]["combo"] for m in new))})
        self.log(f"generation {generation}: best {best['fitness']:.4f} ({best['id']}), mean "
                 f"{state['history'][-1]['mean']:.4f}, diversity {state['history'][-1]['diversity']:.4f}, "
                 f"{len(new)} evaluated{', re-seeded' if reseeded else ''}")

    # -- the loop ------------------------------------------------------------------------------------
    def step(self, state: dict, generation: int) -> None:
        rng = np.random.default_rng([self.ga.seed, generation])
        ranked = sorted(state["population"], key=lambda m: -m["fitness"])
        elites = ranked[:self.ga.elites]
        new = []
        for e, elite in enumerate(elites):
            elite_state = self._load(elite)
            for k in range(self.ga.mutants):
                seed = int(rng.integers(2**31))
                mutant = mutate(elite_state, self.ga.mutation_fraction, self.ga.mutation_sigma, seed)
                new.append(self._save(f"g{generation:03d}-e{e}m{k}", mutant,
                                      {"kind": "mutant", "parents": [elite["id"]], "seed": seed,
                                       "combo": elite["origin"]["combo"]}))
        losers = ranked[-self.ga.losers:]
        size = self.ga.losers // self.ga.children
        for c in range(self.ga.children):
            group = losers[c * size:(c + 1) * size]
            combo = COMBOS[int(rng.integers(len(COMBOS)))]
            new.append(self._seed(f"g{generation:03d}-c{c}", combo, [self._load(m) for m in group], rng, "child",
                                  [m["id"] for m in group]))
        self._evaluate(new)
        state["population"] = elites + new
        reseeded = self._diversity(state["population"]) < self.ga.diversity_floor
        if reseeded:
            seeds = self._seeds(generation, rng)
            self._evaluate(seeds)
            state["population"] = elites + seeds
            new += seeds
        self._record(state, generation, new, reseeded)
        self._write(state)

    def run(self) -> dict:
        """Evolve until `generations` or the early stop; returns the state (also in state.json)."""
        (self.run_dir / CANDIDATES).mkdir(parents=True, exist_ok=True)
        state = self.load_state()
        if state is None:
            state = {"ga": asdict(self.ga), "population": [], "history": [], "stalled": 0, "stopped": None}
            rng = np.random.default_rng([self.ga.seed, 0])
            state["population"] = self._seeds(0, rng)
            self._evaluate(state["population"])
            self._record(state, 0, state["population"], False)
            self._write(state)
        else:
            state["stopped"] = None  # the limits are checked again (a resumed run may have more generations)
            self._write(state)  # members of an interrupted generation are removed
        while state["stopped"] is None:
            if state["generation"] >= self.ga.generations:
                state["stopped"] = "generations"
            elif state["stalled"] >= self.ga.patience:
                state["stopped"] = f"best fitness stalled for {state['stalled']} generations"
            else:
                self.step(state, state["generation"] + 1)
                continue
            self._write(state)
        return state

    def champion(self, state: dict) -> dict:
        return max(state["population"], key=lambda m: m["fitness"])

    def member_dir(self, member: dict) -> Path:
        return self._dir(member["id"])
