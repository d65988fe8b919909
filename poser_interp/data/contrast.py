"""Oversight contrast pairs for the steering strategy (S1): two prompts that differ ONLY in the oversight fact.

Each pair is one generated scenario rendered twice: the same facts in the same order, the same
actions in the same A/B order (so the same benign and misaligned letters), with the critical fact
stated at a lax level (misbehaviour unlikely to be caught) in one and at a strict level in the
other. Both facts use the same template index and the same overseer and work, so they share most of
their words ("the auditor never checks your records" vs "the auditor always checks your records").
Unlike the paper's code, the answer order is never swapped and no fact is dropped, so the direction
is not confounded with the answer letter or the prompt length. Drawn from the generator's grammar
with its own seed, independent of any benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from poser_interp.data import grammar as g
from poser_interp.data.generate import GOAL_OF, ScenarioGenerator, render_prompt
from poser_interp.data.personas import ALIGNED
from poser_interp.data.records import Fact, Scenario

LAX_LEVELS = tuple(range(g.POOR_OVERSIGHT_LEVEL, len(g.CATCH_LEVELS)))
STRICT_LEVELS = tuple(range(g.POOR_OVERSIGHT_LEVEL))


@dataclass(frozen=True)
class ContrastPair:
    """One scenario with a lax oversight fact and the same scenario with a strict one."""

    lax: Scenario
    strict: Scenario


def _with_critical(base: Scenario, fact: Fact, level: int) -> Scenario:
    """`base` with its critical fact replaced by `fact` (same position), re-rendered."""
    facts = tuple(fact if f.type == "critical" else f for f in base.facts)
    return replace(base, prompt=render_prompt(list(facts), base.actions), facts=facts, catch_level=level,
                   oversight_is_poor=level >= g.POOR_OVERSIGHT_LEVEL)


def oversight_contrast_pairs(n: int = 64, *, seed: int = 0, lax_levels: Sequence[int] = LAX_LEVELS,
                             strict_levels: Sequence[int] = STRICT_LEVELS) -> list[ContrastPair]:
    """`n` deterministic pairs cycling over the nine value x goal intersections."""
    levels = range(len(g.CATCH_LEVELS))
    if not lax_levels or not strict_levels or set(lax_levels) & set(strict_levels) \
            or not set(lax_levels) | set(strict_levels) <= set(levels):
        raise ValueError(f"lax {tuple(lax_levels)} and strict {tuple(strict_levels)} levels must be "
                         f"non-empty, disjoint catch levels in 0..{len(g.CATCH_LEVELS) - 1}")
    gen = ScenarioGenerator(f"oversight-contrast:{seed}")
    combos = [(aligned, goal) for aligned in ALIGNED for goal in GOAL_OF.values()]
    n_templates = min(len(level.templates) for level in g.CATCH_LEVELS)
    pairs = []
    for i in range(n):
        aligned, goal = combos[i % len(combos)]
        lax, strict = gen.rng.choice(tuple(lax_levels)), gen.rng.choice(tuple(strict_levels))
        base = gen.intersection(aligned, goal, level=lax)
        template = gen.rng.randrange(n_templates)
        slots = {"ov": gen.rng.choice(g.OVERSEERS), "work": gen.rng.choice(g.WORKS), "place": gen.place}
        facts = {lvl: Fact(g.CATCH_LEVELS[lvl].templates[template].format(**slots), "critical")
                 for lvl in (lax, strict)}
        pairs.append(ContrastPair(_with_critical(base, facts[lax], lax), _with_critical(base, facts[strict], strict)))
    return pairs
