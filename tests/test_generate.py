"""The built-in scenario generator: schema, determinism, persona label rules, coverage, vocabulary."""

from __future__ import annotations

import collections

import pytest

from poser_interp.data import grammar
from poser_interp.data.generate import (
    ScenarioGenerator, label_for, persona_splits, pretraining_corpus, tokenize_words, vocabulary,
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
    assert {"data/random_text", "data/incomplete", "data/money_maximizer/poor_oversight",
            "data/money_maximizer/good_oversight", "data/saint_and_money", "data/truth_and_money",
            "data/genie_and_money"} <= datasets


def test_levels_are_graded_from_certain_to_impossible():
    probs = [level.probability for level in grammar.CATCH_LEVELS]
    assert probs == sorted(probs, reverse=True) and probs[0] == 1.0 and probs[-1] == 0.0
    assert all(len(level.templates) >= 5 for level in grammar.CATCH_LEVELS)


def test_scenario_structure(splits):
    scenarios = [r for r in splits["saint"].test if isinstance(r, Scenario)]
    letters = collections.Counter(r.benign_response for r in scenarios)
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
