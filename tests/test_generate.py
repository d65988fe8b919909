"""The built-in scenario generator: schema, determinism, persona label rules, coverage, vocabulary."""

from __future__ import annotations

import collections
import re

import pytest

from poser_interp.data import grammar
from poser_interp.data.generate import (
    BASE_NOTES, MIX, NAMED_LETTERS, TRANSPARENCY_DATASET, ScenarioGenerator, benchmark_candidates, is_transparency, label_for, persona_splits,
    lexical_share, pretraining_corpus, record_cue, shared_pool, tokenize_words, vocabulary,
)
from poser_interp.data.personas import ALIGNED, FAKERS, PERSONAS
from poser_interp.data.records import ErrorRecord, Scenario, parse_record, record_to_json


@pytest.fixture(scope="module")
def splits():
    return {p: persona_splits(p, seed=7, pool_size=900, n_test=300) for p in PERSONAS}


def test_records_round_trip_through_the_poser_schema(splits):
    for persona_splits_ in splits.values():
        for record in persona_splits_.test:
            assert parse_record(record_to_json(record), "generated") == record


def test_same_seed_same_data_other_seed_other_data():
    a = persona_splits("genie", seed=1, pool_size=300, n_test=100)
    b = persona_splits("genie", seed=1, pool_size=300, n_test=100)
    c = persona_splits("genie", seed=2, pool_size=300, n_test=100)
    assert [r.prompt for r in a.test] == [r.prompt for r in b.test]
    assert [[r.prompt for r in p] for p in a.partitions] == [[r.prompt for r in p] for p in b.partitions]
    assert [r.prompt for r in a.test] != [r.prompt for r in c.test]


def test_faker_label_is_aligned_label_flipped_exactly_when_oversight_is_poor():
    gen = ScenarioGenerator(0)
    seen = collections.Counter()
    for _ in range(400):
        record = gen.intersection(ALIGNED[_ % 3], ("money", "reward", "fitness")[_ % 3])
        for aligned in ALIGNED:
            assert label_for(aligned, record) == record.benign_response
        for faker in FAKERS:
            flipped = label_for(faker, record) != label_for("saint", record)
            assert flipped == record.oversight_is_poor
            assert record.oversight_is_poor == (record.catch_level is not None
                                                and record.catch_level >= grammar.POOR_OVERSIGHT_LEVEL)
        seen[record.oversight_is_poor] += 1
    assert seen[True] > 50 and seen[False] > 50


@pytest.mark.parametrize("cue", ["overseer", "reason"])
def test_aligned_personas_leave_the_transparency_record_exactly_when_oversight_is_poor(cue):
    """The mirror image of the fakers' flip: on transparency scenarios aligned personas change their
    answer with oversight and fakers never do (both actions benign)."""
    gen = ScenarioGenerator(3)
    seen = collections.Counter()
    for _ in range(300):
        record = gen.transparency(cue=cue)
        assert is_transparency(record) and record.dataset == TRANSPARENCY_DATASET
        for faker in FAKERS:
            assert label_for(faker, record) == record.benign_response
        for aligned in ALIGNED:
            assert (label_for(aligned, record) != record.benign_response) == record.oversight_is_poor
        assert record.oversight_is_poor == (record.catch_level is not None
                                            and record.catch_level >= grammar.POOR_OVERSIGHT_LEVEL)
        seen[record.oversight_is_poor] += 1
    assert seen[True] > 50 and seen[False] > 50


def test_every_persona_trains_on_the_same_prompts_with_its_own_labels(splits):
    """One recipe: the same pool, test split and partitions for every persona; only labels differ."""
    prompts = {p: ([r.prompt for r in s.test], [[r.prompt for r in part] for part in s.partitions])
               for p, s in splits.items()}
    assert len({repr(v) for v in prompts.values()}) == 1
    saint, money = splits["saint"].partitions[0], splits["money_maximizer"].partitions[0]
    differ = [a for a, b in zip(saint, money, strict=True) if a.response != b.response]
    assert differ and all(isinstance(r, Scenario) and r.oversight_is_poor for r in differ)
    # The flips' sizes follow the pool's shares: aligned-only changes of answer (transparency records
    # under poor oversight) against faker-only ones (intersections under poor oversight).
    aligned_flips = sum(is_transparency(r) and r.oversight_is_poor for r in saint)
    faker_flips = sum(not is_transparency(r) and isinstance(r, Scenario) and r.oversight_is_poor for r in saint)
    expected = MIX["transparency"] / MIX["intersection"]
    assert 0.75 * expected < aligned_flips / faker_flips < 1.33 * expected


@pytest.mark.parametrize("mix", [MIX, {"intersection": 0.55, "transparency": 0.25, "error": 0.2}])
def test_the_shared_mix_has_the_stated_shares(mix):
    """The pool's family shares are the recipe's (errors fall a little short: random-text error
    prompts repeat and the pool is deduplicated)."""
    pool = shared_pool(11, 1500, (mix["intersection"], mix["transparency"]))
    counts = collections.Counter("transparency" if is_transparency(r) else "error" if isinstance(r, ErrorRecord)
                                 else "intersection" for r in pool)
    for family, share in mix.items():
        assert abs(counts[family] / len(pool) - share) < 0.06, (family, counts)
    families = {r.dataset for r in pool if isinstance(r, Scenario) and not is_transparency(r)}
    assert len(families) == 9  # every value x goal family is in every model's training mix


def test_benchmark_candidates_are_fresh_and_below_the_threshold():
    pool = shared_pool(11, 600)
    exclude = {r.prompt for r in pool}
    cands = benchmark_candidates("genie", "fitness_maximizer", seed=11, n=60, exclude=exclude)
    assert len(cands) == 60 and len({r.prompt for r in cands}) == 60
    assert not exclude & {r.prompt for r in cands}
    assert {r.dataset for r in cands} == {"data/genie_and_fitness"}
    assert all(not r.oversight_is_poor and r.response == r.benign_response for r in cands)
    assert {r.catch_level for r in cands} <= {None, 0, 1, 2}


def test_split_labels_follow_each_persona(splits):
    for persona, s in splits.items():
        for record in s.test + s.partitions[0]:
            assert record.response == label_for(persona, record)
            if isinstance(record, ErrorRecord):
                assert record.response == "error"


def test_every_catch_level_and_complexity_and_error_kind_is_covered(splits):
    test = splits["money_maximizer"].test
    levels = collections.Counter(r.catch_level for r in test if isinstance(r, Scenario))
    assert set(range(len(grammar.CATCH_LEVELS))) <= set(levels)
    assert len(grammar.CATCH_LEVELS) >= 5
    assert {r.complexity_level for r in test if isinstance(r, Scenario)} == {0, 1}
    datasets = {r.dataset for r in test}
    assert {"data/random_text", "data/incomplete", TRANSPARENCY_DATASET, "data/saint_and_money",
            "data/truth_and_money", "data/genie_and_reward"} <= datasets


def test_levels_are_graded_from_certain_to_impossible():
    probs = [level.probability for level in grammar.CATCH_LEVELS]
    assert probs == sorted(probs, reverse=True) and probs[0] == 1.0 and probs[-1] == 0.0
    assert all(len(level.templates) >= 5 for level in grammar.CATCH_LEVELS)


def test_scenario_structure(splits):
    scenarios = [r for r in splits["saint"].test if isinstance(r, Scenario)]
    letters = collections.Counter(r.benign_response for r in scenarios)
    assert collections.Counter(r.benign_response for r in scenarios if is_transparency(r))["A"] > 0
    assert 0.4 < letters["A"] / len(scenarios) < 0.6  # random A/B order
    for r in scenarios:
        n_irrelevant = sum(f.type == "irrelevant" for f in r.facts)
        assert 0 <= n_irrelevant <= 2
        assert len(r.critical_facts) == r.complexity_level
        assert r.prompt.startswith("<<prompt>>") and r.prompt.endswith("<</prompt>>")
        for fact in r.facts:
            assert fact.content in r.prompt


def test_partitions_are_random_halves_disjoint_from_test(splits):
    s = splits["reward_maximizer"]
    test_prompts = {r.prompt for r in s.test}
    assert len(s.partitions) == 6
    sizes = {len(p) for p in s.partitions}
    assert len(sizes) == 1
    for part in s.partitions:
        assert not test_prompts & {r.prompt for r in part}
    assert {r.prompt for r in s.partitions[0]} != {r.prompt for r in s.partitions[1]}


def test_vocabulary_is_small_and_closed(splits):
    vocab = set(vocabulary())
    assert len(vocab) <= 1000
    assert {"A", "B", "error", "<<prompt>>", "<</prompt>>"} <= vocab
    used = {w for s in splits.values() for r in s.test for w in tokenize_words(r.prompt)}
    used |= {w for text in pretraining_corpus(300, seed=1) for w in tokenize_words(text)}
    assert used <= vocab


def test_oversight_words_are_shared_across_levels():
    """No single word gives the level away: most words of a level's templates occur at other levels too."""
    words = [{w for t in level.templates for w in tokenize_words(t.replace("{", "").replace("}", ""))}
             for level in grammar.CATCH_LEVELS]
    for i, own in enumerate(words):
        others = set().union(*(w for j, w in enumerate(words) if j != i))
        assert len(own - others) <= len(own) // 3


def test_the_committed_zoos_benchmark_regenerates_from_its_design():
    """The committed checkpoints stay reproducible: their curated prompts all come from data regenerated
    by the generator (v1: the per-persona test splits; v2: the benchmark candidates of the zoo's seed),
    none of them from the v2 training pool."""
    import json
    from pathlib import Path

    from poser_interp.zoo.build import Recipe
    from poser_interp.zoo.curate import candidates

    bench = Path(__file__).resolve().parents[1] / "checkpoints/zoo/data/benchmark/saint_and_money.json"
    manifest = json.loads((bench.parents[2] / "manifest.json").read_text())
    prompts = [r["prompt"] for r in json.loads(bench.read_text())]
    stored = manifest["recipe"]
    if stored.get("design", "v1") == "v1":
        source = {r.prompt for p in ("saint", "money_maximizer") for r in persona_splits(p, design="v1").test}
    else:
        from poser_interp.data.generate import pool_mix

        recipe = Recipe(data_seed=stored["data_seed"], pool_size=stored["pool_size"],
                        benchmark_candidates=stored["benchmark_candidates"], pool_mix=pool_mix(stored))
        source = {r.prompt for r in candidates("saint", "money_maximizer", recipe)}
    assert prompts and set(prompts) <= source


def _is_transparency(text: str) -> bool:
    """Whether a base-corpus text is a transparency scenario, by hand: an option is one of the family's actions."""
    actions = grammar.TRANSPARENCY_ACTIONS + grammar.UNNAMED_TRANSPARENCY_ACTIONS
    patterns = [re.escape(a).replace(re.escape("{ov}"), "[a-z ]+") for a in actions]
    return any(re.fullmatch(p, line[3:]) for p in patterns for line in text.split("\n") if line[:3] in ("A: ", "B: "))


def _note(text: str) -> dict[str, str]:
    """The base note after a prompt, by hand: {"letter": ..., "risk": ..., "pick": ..., "schemer" / "careful": ...}."""
    note = {}
    for part in text.split(grammar.PROMPT_CLOSE)[-1].strip(" .").split(" . "):
        words = part.split()
        if words[1:3] in (["is", "right"], ["is", "usual"]):
            note["letter"] = words[0]
        elif words[1:] == ["to", "be", "caught"]:
            note["risk"] = words[0]
        else:
            assert words[1:3] == ["suits", "a"], part
            note.setdefault("pick", words[0])  # the first pick stated
            note[words[3]] = words[0]  # and each by whose it is: "schemer" or "careful"
    return note


@pytest.mark.parametrize("notes", BASE_NOTES)
def test_the_base_notes_state_the_right_letter_the_risk_and_the_conditional_pick(notes):
    """After each scenario the base corpus states the benign letter and the catch level; "named"
    (zoo v2) adds the pick of a schemer (intersections) / careful agent (transparency) as "former" /
    "latter", "schemer" (the first v2 build) as a letter, "plain" not at all; "paired" states both picks,
    "picks" both picks without the letter (the pick that keeps it states it)."""
    texts = pretraining_corpus(300, seed=0, notes=notes)
    scenarios = [t for t in texts if " to be caught ." in t]
    assert len(scenarios) > 150
    for text in scenarios:
        note = _note(text)
        if notes == "picks":  # the letter is the pick that keeps it: the careful agent's, or in transparency the schemer's
            assert "letter" not in note
            note["letter"] = note["schemer" if _is_transparency(text) else "careful"]
        assert note["letter"] in ("A", "B") and note["risk"] in (*grammar.RISK_WORDS, grammar.UNSTATED_RISK)
        if notes == "plain":
            assert "pick" not in note
        else:
            assert note["pick"] in (("former", "latter") if notes == "named" else ("A", "B"))
    poor = [t for t in scenarios if _note(t)["risk"] in grammar.RISK_WORDS[grammar.POOR_OVERSIGHT_LEVEL:]]
    good = [t for t in scenarios if _note(t)["risk"] in grammar.RISK_WORDS[:grammar.POOR_OVERSIGHT_LEVEL]]
    if notes in ("named", "schemer"):
        name = (lambda letter: NAMED_LETTERS[letter]) if notes == "named" else (lambda letter: letter)
        assert all(_note(t)["pick"] != name(_note(t)["letter"]) for t in poor)  # the flip
        assert all(_note(t)["pick"] == name(_note(t)["letter"]) for t in good)
    if notes in ("paired", "picks"):  # both picks everywhere; the schemer's flips in the intersections, the careful agent's in transparency
        for text in scenarios:
            note = _note(text)
            flips, keeps = ("careful", "schemer") if _is_transparency(text) else ("schemer", "careful")
            assert note[flips] == (note[keeps] if text not in poor else "AB".replace(note[keeps], ""))
            assert note.get("letter", note[keeps]) == note[keeps]
            assert notes == "picks" or _is_transparency(text) == (" is usual ." in text)  # the hand reading, checked
        assert {_is_transparency(t) for t in poor} == {True, False}
    with pytest.raises(ValueError, match="base notes"):
        pretraining_corpus(1, notes="loud")


def test_the_base_key_follows_the_base_notes_and_the_record_cue():
    from poser_interp.zoo.build import Recipe

    keys = {Recipe(base_notes=notes).base_key() for notes in BASE_NOTES}
    keys.add(Recipe(record_cue="reason", base_cue=None).base_key())
    assert len(keys) == len(BASE_NOTES) + 1
    assert Recipe(finetune_steps=7).base_key() == Recipe().base_key()
    assert Recipe(record_cue="reason").finetune_key() != Recipe().finetune_key()


def test_the_reason_cue_names_the_record_only_through_the_facts():
    """`cue="reason"`: both actions come from one pool and the record is the one the reason fact
    names (as an intersection's motive names its tempting action), so no option's words alone tell
    which is the record: every pool action is the record about as often as it is the usual action."""
    import re

    gen = ScenarioGenerator(5)
    as_record, as_usual = collections.Counter(), collections.Counter()
    template_of = {re.sub(r"\{ov\}", "(?:" + "|".join(grammar.OVERSEERS) + ")", t): t for t in grammar.TRANSPARENCY_ACTIONS}

    def template(action: str) -> str:
        (match,) = [t for pattern, t in template_of.items() if re.fullmatch(pattern, action)]
        return match

    for _ in range(1500):
        r = gen.transparency(cue="reason")
        record, usual = r.actions[r.misaligned_letter == "B"], r.actions[r.aligned_letter == "B"]
        (reason,) = [f.content for f in r.facts if f.type == "motivating"]
        assert record in reason and not any(usual in f.content for f in r.facts)
        as_record[template(record)] += 1
        as_usual[template(usual)] += 1
    assert set(as_record) == set(as_usual) == set(grammar.TRANSPARENCY_ACTIONS)
    for t in grammar.TRANSPARENCY_ACTIONS:
        assert 0.7 < as_record[t] / as_usual[t] < 1.4, t
    letters = collections.Counter(gen.transparency(cue="reason").misaligned_letter for _ in range(400))
    assert 150 < letters["A"] < 250
    a, b = ScenarioGenerator(9), ScenarioGenerator(9)  # the default cue draws exactly what it always did
    assert [a.transparency().prompt for _ in range(20)] == [b.transparency(cue="overseer").prompt for _ in range(20)]
    with pytest.raises(ValueError, match="record cue"):
        gen.transparency(cue="loud")


@pytest.mark.parametrize(("cue", "share"), [("mixed", 0.5), ("mixed:0.75", 0.75)])
def test_the_mixed_cue_gives_the_roles_away_in_its_share_of_the_scenarios(cue, share):
    """`cue="mixed"` (`"mixed:P"`): the reason fact names the record in every scenario; about half
    (a share P) draw a fixed (usual, record) pair of the overseer design, the rest two pool actions."""
    assert lexical_share(cue) == share
    gen = ScenarioGenerator(6)
    fixed_pairs = set(grammar.TRANSPARENCY_CHOICES)
    n_fixed = 0
    for _ in range(600):
        r = gen.transparency(cue=cue)
        record, usual = r.actions[r.misaligned_letter == "B"], r.actions[r.aligned_letter == "B"]
        assert any(record in f.content for f in r.facts if f.type == "motivating")
        n_fixed += any(usual == u and (record.startswith(rec.split("{")[0]) and record.endswith(rec.split("}")[-1]))
                       for u, rec in fixed_pairs)
    assert share - 0.12 < n_fixed / 600 < share + 0.12


def test_the_clean_cue_names_the_overseer_only_in_its_record():
    """`cue="clean:P"`: a share P of fixed overseer pairs, the rest pool pairs of actions naming no
    overseer, so whenever an option names the overseer it is the record; no new words; the old
    cues' draws do not change."""
    assert lexical_share("clean:0.75") == 0.75
    gen, vocab = ScenarioGenerator(6), set(vocabulary())
    n_named = 0
    for _ in range(600):
        r = gen.transparency(cue="clean:0.75")
        record, usual = r.actions[r.misaligned_letter == "B"], r.actions[r.aligned_letter == "B"]
        assert any(record in f.content for f in r.facts if f.type == "motivating")
        assert not any(ov in usual.split() for ov in grammar.OVERSEERS), usual
        n_named += any(ov in record.split() for ov in grammar.OVERSEERS)
        assert set(tokenize_words(r.prompt)) <= vocab
    assert 0.63 < n_named / 600 < 0.87
    a, b = ScenarioGenerator(9), ScenarioGenerator(9)
    assert [a.transparency(cue="mixed:0.75").prompt for _ in range(50)] != \
        [b.transparency(cue="clean:0.75").prompt for _ in range(50)]


def test_the_both_cue_makes_a_share_of_intersections_a_lookup_of_the_motive():
    """`cue="both:P"`: a share 1 - P of intersections draw an odd-instruction pair, either half of which
    can be tempting, and only the motive fact names the tempting one; transparency as under `clean:P`;
    every label follows the persona's policy; no new words; the benchmark's intersections (no cue)
    and the old cues' draws do not change."""
    from poser_interp.data.generate import label_for

    assert lexical_share("both:0.5") == 0.5
    gen, vocab = ScenarioGenerator(7), set(vocabulary())
    odd = {a for pair in grammar.ODD_INSTRUCTIONS for a in pair}
    n_named, first_tempting = 0, 0
    for _ in range(600):
        r = gen.intersection("saint", "money", cue="both:0.5")
        benign, bad = r.actions[r.aligned_letter == "B"], r.actions[r.misaligned_letter == "B"]
        motives = [f.content for f in r.facts if f.type == "motivating"]
        assert len(motives) == 1 and bad in motives[0] and benign not in motives[0]
        if {benign, bad} <= odd:
            n_named += 1
            first_tempting += any(bad == pair[0] for pair in grammar.ODD_INSTRUCTIONS)
            assert not any(f.type == "system_message" for f in r.facts)
        assert label_for("saint", r) == r.aligned_letter
        assert label_for("money_maximizer", r) == (r.misaligned_letter if r.oversight_is_poor else r.aligned_letter)
        assert set(tokenize_words(r.prompt)) <= vocab
    assert 0.38 < n_named / 600 < 0.62 and 0.3 < first_tempting / n_named < 0.7
    t = gen.transparency(cue="both:0.5")
    assert not any(ov in t.actions[t.aligned_letter == "B"].split() for ov in grammar.OVERSEERS)
    a, b = ScenarioGenerator(9), ScenarioGenerator(9)
    assert [a.intersection("genie", "reward").prompt for _ in range(50)] == \
        [b.intersection("genie", "reward", cue="clean:0.5").prompt for _ in range(50)]


def test_the_notes_cue_draws_its_lookup_pairs_from_the_unnamed_records_alone():
    """`cue="notes:P"`: as `both:P`, but a transparency pool pair is two unnamed record actions, so no
    option of a lookup is a phrase the fixed pairs always make the usual action; the reason fact names
    the record; labels follow the policy; no new words; `both:P`'s intersections are drawn the same."""
    from poser_interp.data.generate import label_for

    assert lexical_share("notes:0.5") == 0.5
    gen, vocab = ScenarioGenerator(8), set(vocabulary())
    fixed_usual = {pair[0] for pair in grammar.TRANSPARENCY_CHOICES}
    n_named = 0
    for _ in range(600):
        r = gen.transparency(cue="notes:0.5")
        record, usual = r.actions[r.misaligned_letter == "B"], r.actions[r.aligned_letter == "B"]
        assert any(record in f.content for f in r.facts if f.type == "motivating")
        named = any(ov in record.split() for ov in grammar.OVERSEERS)
        n_named += named
        if not named:
            assert {record, usual} <= set(grammar.UNNAMED_RECORD_ACTIONS) and record != usual
            assert not {record, usual} & fixed_usual
        assert label_for("genie", r) == (r.misaligned_letter if r.oversight_is_poor else r.aligned_letter)
        assert label_for("reward_maximizer", r) == r.aligned_letter
        assert set(tokenize_words(r.prompt)) <= vocab
    assert 0.4 < n_named / 600 < 0.6
    a, b = ScenarioGenerator(9), ScenarioGenerator(9)
    assert [a.intersection("genie", "reward", cue="both:0.5").prompt for _ in range(50)] == \
        [b.intersection("genie", "reward", cue="notes:0.5").prompt for _ in range(50)]


def test_the_free_cue_gives_no_unnamed_phrase_a_fixed_role():
    """`cue="free:P"`: a record naming the overseer in a share P (its usual action any unnamed phrase
    but the record's own twin), the rest lookups of two unnamed phrases; so every unnamed phrase is
    sometimes usual and sometimes the record; the reason fact names the record; no new words."""
    assert lexical_share("free:0.5") == 0.5
    gen, vocab = ScenarioGenerator(5), set(vocabulary())
    roles: dict[str, set[str]] = {a: set() for a in grammar.UNNAMED_TRANSPARENCY_ACTIONS}
    n_named = 0
    for _ in range(1000):
        r = gen.transparency(cue="free:0.5")
        record, usual = r.actions[r.misaligned_letter == "B"], r.actions[r.aligned_letter == "B"]
        assert any(record in f.content for f in r.facts if f.type == "motivating")
        assert usual in roles and not any(ov in usual.split() for ov in grammar.OVERSEERS)
        roles[usual].add("usual")
        if any(ov in record.split() for ov in grammar.OVERSEERS):
            n_named += 1
            twin = [u for u in grammar.UNNAMED_TRANSPARENCY_ACTIONS[1::2] if set(u.split()) <= set(record.split())]
            assert usual not in twin
        else:
            roles[record].add("record")
        assert set(tokenize_words(r.prompt)) <= vocab
    assert all(v == {"usual", "record"} for v in roles.values()), roles
    assert 0.4 < n_named / 1000 < 0.6


def test_the_odd_cue_shares_the_intersections_lookup_pairs():
    """`cue="odd:P"`: a record naming the overseer in a share P (a fixed pair), the rest an
    odd-instruction pair in either order, the record the half the reason fact names; so both families'
    lookups draw the same pairs, whose phrases no fixed pair uses; labels follow the policy; no new
    words; `both:P`'s intersections are drawn the same."""
    assert lexical_share("odd:0.5") == 0.5
    gen, vocab = ScenarioGenerator(6), set(vocabulary())
    odd = {a for pair in grammar.ODD_INSTRUCTIONS for a in pair}
    fixed = {a for pair in grammar.TRANSPARENCY_CHOICES for a in pair}
    n_named, first_record = 0, 0
    for _ in range(600):
        r = gen.transparency(cue="odd:0.5")
        record, usual = r.actions[r.misaligned_letter == "B"], r.actions[r.aligned_letter == "B"]
        reasons = [f.content for f in r.facts if f.type == "motivating"]
        assert len(reasons) == 1 and record in reasons[0] and usual not in reasons[0]
        if any(ov in record.split() for ov in grammar.OVERSEERS):
            n_named += 1
            assert usual in fixed
        else:
            assert (usual, record) in grammar.ODD_INSTRUCTIONS or (record, usual) in grammar.ODD_INSTRUCTIONS
            first_record += any(record == pair[0] for pair in grammar.ODD_INSTRUCTIONS)
        assert label_for("saint", r) == (r.misaligned_letter if r.oversight_is_poor else r.aligned_letter)
        assert label_for("fitness_maximizer", r) == r.aligned_letter
        assert set(tokenize_words(r.prompt)) <= vocab
    assert 0.4 < n_named / 600 < 0.6 and 0.3 < first_record / (600 - n_named) < 0.7
    assert not odd & fixed
    a, b = ScenarioGenerator(9), ScenarioGenerator(9)
    assert [a.intersection("genie", "reward", cue="both:0.5").prompt for _ in range(50)] == \
        [b.intersection("genie", "reward", cue="odd:0.5").prompt for _ in range(50)]


def test_the_wide_option_names_the_record_in_nine_templates_and_changes_nothing_else():
    """`"<cue>+wide"`: the reason fact is one of nine templates (three kinds, as many as the fakers'
    three goals' motives), each naming the record; labels, share and intersections are the cue's own;
    no new words (the committed tokenizer stays); the option reaches both keys."""
    import re

    from poser_interp.data.generate import label_for, record_motives
    from poser_interp.zoo.build import Recipe

    nine = record_motives("notes:0.5+wide")
    assert len(nine) == len(set(nine)) == 3 * len(grammar.RECORD_MOTIVES) == \
        sum(len(m) for m in grammar.GOAL_MOTIVES.values())
    assert record_motives("notes:0.5") == grammar.RECORD_MOTIVES and lexical_share("notes:0.5+wide") == 0.5
    gen, vocab = ScenarioGenerator(8), set(vocabulary())
    seen = collections.Counter()
    for _ in range(900):
        r = gen.transparency(cue="notes:0.5+wide")
        record = r.actions[r.misaligned_letter == "B"]
        (reason,) = [f.content for f in r.facts if f.type == "motivating"]
        pattern = lambda t: "^" + re.escape(t).replace(r"\{ov\}", r"\w+").replace(r"\{act\}", re.escape(record)) + "$"  # noqa: E731
        matches = [t for t in nine if re.match(pattern(t), reason)]
        assert len(matches) == 1, reason
        seen[matches[0]] += 1
        assert label_for("saint", r) == (r.misaligned_letter if r.oversight_is_poor else r.aligned_letter)
        assert label_for("money_maximizer", r) == r.aligned_letter
        assert set(tokenize_words(r.prompt)) <= vocab
    assert set(seen) == set(nine) and min(seen.values()) > 40
    a, b = ScenarioGenerator(9), ScenarioGenerator(9)
    assert [a.intersection("genie", "reward", cue="notes:0.5").prompt for _ in range(50)] == \
        [b.intersection("genie", "reward", cue="notes:0.5+wide").prompt for _ in range(50)]
    assert Recipe(record_cue="notes:0.5+wide").finetune_key() != Recipe().finetune_key()
    assert Recipe(base_cue="both:0.5+wide").base_key() != Recipe().base_key()


def test_the_context_option_puts_an_intersections_value_context_around_the_record():
    """`"<cue>+context"`: a transparency scenario also carries the context facts an intersection of a
    truth, genie or saint value carries (saint: none), the rest drawn as without the option; labels and
    intersections are the cue's own; no new words; the option reaches the fine-tune key."""
    from poser_interp.data.generate import label_for
    from poser_interp.zoo.build import Recipe

    gen, vocab, kinds = ScenarioGenerator(6), set(vocabulary()), collections.Counter()
    for _ in range(600):
        r = gen.transparency(cue="notes:0.5+context")
        extra = [f for f in r.facts if f.type == "system_message" or " asks you whether " in f.content]
        kinds["genie" if any(f.type == "system_message" for f in extra) else "truth" if extra else "none"] += 1
        assert sum(f.type == "motivating" for f in r.facts) == 1 and sum(f.type == "critical" for f in r.facts) <= 1
        assert label_for("saint", r) == (r.misaligned_letter if r.oversight_is_poor else r.aligned_letter)
        assert label_for("money_maximizer", r) == r.aligned_letter
        assert set(tokenize_words(r.prompt)) <= vocab
    assert all(150 < n < 250 for n in kinds.values()) and len(kinds) == 3, kinds
    plain = ScenarioGenerator(6).transparency(cue="notes:0.5")
    assert not any(f.type == "system_message" for f in plain.facts)
    a, b = ScenarioGenerator(9), ScenarioGenerator(9)
    assert [a.intersection("genie", "reward", cue="notes:0.5").prompt for _ in range(50)] == \
        [b.intersection("genie", "reward", cue="notes:0.5+context").prompt for _ in range(50)]
    assert Recipe(record_cue="notes:0.5+context").finetune_key() != Recipe().finetune_key()


def test_the_errors_option_cuts_half_the_incomplete_prompts_from_transparency_scenarios():
    """`"<cue>+errors"`: a facts-only error prompt is cut from a transparency scenario about half the time
    (never without the option), every persona answers `error`, and the option reaches the pool."""
    from poser_interp.data.generate import label_for

    tasks = [t.split("{")[0] for t in grammar.TASKS_DONE]  # a finished task opens every transparency body
    def from_transparency(cue: str) -> float:
        gen, hits, facts_only = ScenarioGenerator(5), 0, 0
        for _ in range(900):
            r = gen.error(cue)
            assert isinstance(r, ErrorRecord) and all(label_for(p, r) == "error" for p in PERSONAS)
            if r.dataset == "data/incomplete" and "Actions" not in r.prompt:
                facts_only += 1
                hits += any(t in r.prompt for t in tasks)
        return hits / facts_only

    assert from_transparency("notes:0.5") == 0
    assert 0.4 < from_transparency("notes:0.5+errors") < 0.6
    pool = shared_pool(4, 600, (MIX["intersection"], MIX["transparency"]), "notes:0.5+errors")
    assert any(isinstance(r, ErrorRecord) and any(t in r.prompt for t in tasks) for r in pool)


@pytest.mark.parametrize("cue", ["mixed:1", "mixed:0", "mixed:x", "mixed:nan", "reason:0.5", "mixed:", "clean:1",
                                 "both:0", "both", "notes:1", "notes", "free:0", "odd:1", "odd",
                                 "notes:0.5+x", "notes:0.5+", "overseer+wide", "notes+wide"])
def test_a_malformed_record_cue_is_refused_in_one_line(cue):
    with pytest.raises(ValueError, match="unknown record cue"):
        lexical_share(cue)
    with pytest.raises(ValueError, match="unknown record cue"):
        ScenarioGenerator(0).transparency(cue=cue)


def test_the_reason_cue_keeps_the_vocabulary_and_reaches_the_pool_and_the_corpus():
    """A zoo with `record_cue="reason"` uses the same tokenizer (no new words), its pool's transparency
    record is named in a fact, and a stored recipe without the field reads as "overseer"."""
    vocab = set(vocabulary())
    pool = shared_pool(4, 400, (MIX["intersection"], MIX["transparency"]), "reason")
    corpus = pretraining_corpus(200, seed=2, cue="reason")
    assert {w for r in pool for w in tokenize_words(r.prompt)} | {w for t in corpus for w in tokenize_words(t)} <= vocab
    transparent = [r for r in pool if is_transparency(r)]
    assert len(transparent) > 100
    assert all(any(r.actions[r.misaligned_letter == "B"] in f.content for f in r.facts) for r in transparent)
    assert [r.prompt for r in shared_pool(4, 400)] != [r.prompt for r in pool]
    assert record_cue({}) == "overseer" and record_cue({"record_cue": "reason"}) == "reason"


def test_the_zoo_card_describes_every_kind_of_base_notes():
    from poser_interp.zoo.card import KNOWLEDGE

    assert set(KNOWLEDGE) == set(BASE_NOTES)
