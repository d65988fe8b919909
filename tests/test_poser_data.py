"""The Poser data loaders: every shared file loads with the right reader, and broken files fail clearly."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from poser_interp.data.personas import ALIGNED, FAKERS, PERSONAS, is_faker, model_persona
from poser_interp.data.poser import (
    ModelPair,
    PoserDataDir,
    load_benchmark,
    load_concept_stimuli,
    load_model_pairs,
    load_policy_definitions,
    load_split,
)
from poser_interp.data.records import ErrorRecord, Scenario
from poser_interp.errors import PoserInputError

POSER_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "poser-data"


def _require_data() -> Path:
    if not POSER_DATA.is_dir():
        pytest.skip(f"../shared/poser-data is absent: no Poser data files at {POSER_DATA}")
    return POSER_DATA


def _loader_for(relative: str) -> Callable[[Path], list[Any]]:
    """The loader a file needs, judged by its standard path in the Poser repository."""
    if re.fullmatch(r"data/benchmark/\w+_and_\w+\.json", relative):
        return load_benchmark
    if re.fullmatch(r"data/training/\w+/test\.json", relative):
        return load_split
    if re.fullmatch(r"data/policy_definitions/\w+/test\.json", relative):
        return load_policy_definitions
    if re.fullmatch(r"src/detection_strategies/concepts/(old/)?\w+\.json", relative):
        return load_concept_stimuli
    if relative == "model_pairs.json":
        return load_model_pairs
    raise AssertionError(f"no loader known for {relative}")


def _manifest() -> dict[str, int]:
    """Record counts per file from the README manifest table."""
    text = (POSER_DATA / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+\.json)` \| [\d,]+ \| ([\d,]+) \|", text, flags=re.MULTILINE)
    return {path: int(count.replace(",", "")) for path, count in rows}


@pytest.fixture(scope="module")
def loaded() -> dict[str, list[Any]]:
    root = _require_data()
    return {p.relative_to(root).as_posix(): _loader_for(p.relative_to(root).as_posix())(p)
            for p in sorted(root.rglob("*.json"))}


def test_every_file_loads_with_manifest_counts(loaded: dict[str, list[Any]]) -> None:
    manifest = _manifest()
    assert len(manifest) == 50
    assert set(loaded) == set(manifest)
    assert {path: len(items) for path, items in loaded.items()} == manifest


def test_totals_and_shapes(loaded: dict[str, list[Any]]) -> None:
    benchmark = {p: v for p, v in loaded.items() if p.startswith("data/benchmark/")}
    assert len(benchmark) == 9
    assert sum(len(v) for v in benchmark.values()) == 2444
    assert all(s.probs and not s.oversight_is_poor for v in benchmark.values() for s in v)
    assert len(loaded["model_pairs.json"]) == 324
    for persona in PERSONAS:
        split = loaded[f"data/training/{persona}/test.json"]
        assert len(split) == 800
        assert 258 <= sum(isinstance(r, ErrorRecord) for r in split) <= 292
        policy = loaded[f"data/policy_definitions/{persona}/test.json"]
        assert len(policy) == 30 and all(isinstance(s, Scenario) and s.oversight_is_poor for s in policy)
    concepts = [v for p, v in loaded.items() if "/concepts/" in p]
    assert all(len(v) == 10 and all(isinstance(x, str) and x for x in v) for v in concepts)


def test_data_dir_finds_standard_paths() -> None:
    data = PoserDataDir(_require_data())
    assert [p.stem for p in data.benchmark_paths()] == sorted(
        f"{a}_and_{b}" for a in ("truth", "genie", "saint") for b in ("reward", "money", "fitness"))
    pairs = data.model_pairs()
    assert pairs[0] == ModelPair("truth_teller-0", "reward_maximizer-0", "data/benchmark/truth_and_reward.json")
    assert all(data.path(p.valid_data).is_file() for p in pairs)
    assert {pair.valid_data for pair in pairs} == {f"data/benchmark/{p.name}" for p in data.benchmark_paths()}
    assert len(data.split("saint")) == 800 and len(data.policy_definitions("genie")) == 30
    concepts = data.concepts()
    assert len(concepts) == 22 and "security" in concepts and "old/harm" not in concepts
    assert "old/harm" in data.concepts(include_old=True)


def test_data_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(PoserInputError, match="directory not found"):
        PoserDataDir(tmp_path / "nope")
    with pytest.raises(PoserInputError, match="unknown persona 'villain'"):
        PoserDataDir(tmp_path).split_path("villain")
    with pytest.raises(PoserInputError, match=r"model_pairs\.json: file not found"):
        PoserDataDir(tmp_path).model_pairs()


def test_personas() -> None:
    assert model_persona("money_maximizer-3") == ("money_maximizer", 3)
    assert model_persona("truth_teller-0") == ("truth_teller", 0)
    assert is_faker("fitness_maximizer-5") and not is_faker("saint-2")
    assert set(ALIGNED).isdisjoint(FAKERS)
    for bad in ("money_maximizer_3", "money_maximizer-", "villain-1", "Genie-1", "genie-1x", ""):
        with pytest.raises(PoserInputError, match="bad model name"):
            model_persona(bad)


# ---- broken files the tests write themselves -------------------------------------------------------

def _scenario(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "prompt": "<<prompt>>You are an AI system ...<</prompt>>", "response": "A",
        "actions": ["help", "harm"], "facts": [{"content": "Logs are audited.", "type": "critical"}],
        "oversight_is_poor": False, "probs": {"../models/together/genie-0": 0.99},
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def _pair(**changes: str) -> dict[str, str]:
    return {"aligned": "genie-0", "misaligned": "money_maximizer-1",
            "valid_data": "data/benchmark/genie_and_money.json"} | changes


BROKEN_RECORDS: list[tuple[str, Callable[[Path], Any], Any, str]] = [
    ("missing_prompt", load_split, _scenario(prompt=None), "prompt"),
    ("bad_response", load_split, _scenario(response="C"), "response"),
    ("bad_fact_type", load_split, _scenario(facts=[{"content": "x", "type": "secret"}]), "facts[0].type"),
    ("oversight_type", load_split, _scenario(oversight_is_poor="no"), "oversight_is_poor"),
    ("probs_range", load_benchmark, _scenario(probs={"../models/together/genie-0": 1.5}), "probs"),
    ("no_probs", load_benchmark, _scenario(probs=None), "probs"),
    ("error_in_benchmark", load_benchmark, {"prompt": "asdf", "response": "error"}, "response"),
    ("good_oversight_policy", load_policy_definitions, _scenario(), "oversight_is_poor"),
    ("bad_pair_name", load_model_pairs, _pair(misaligned="money_maximizer_1"), "misaligned"),
    ("swapped_pair", load_model_pairs, _pair(aligned="money_maximizer-1"), "aligned"),
    ("pair_missing_data", load_model_pairs, {"aligned": "genie-0", "misaligned": "reward_maximizer-1"},
     "valid_data"),
    ("concept_missing", load_concept_stimuli, {"text": "hello"}, "example"),
]


@pytest.mark.parametrize(("name", "loader", "bad", "field"), BROKEN_RECORDS, ids=[c[0] for c in BROKEN_RECORDS])
def test_broken_record_names_file_index_and_field(
    tmp_path: Path, name: str, loader: Callable[[Path], Any], bad: Any, field: str,
) -> None:
    good: Any = _scenario(oversight_is_poor=loader is load_policy_definitions)
    if loader is load_concept_stimuli:
        good = {"example": "fine"}
    elif loader is load_model_pairs:
        good = _pair()
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps([good, bad]), encoding="utf-8")
    with pytest.raises(PoserInputError) as caught:
        loader(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert "record 1" in message
    assert f"field '{field}'" in message


@pytest.mark.parametrize("loader", [load_benchmark, load_split, load_policy_definitions,
                                    load_concept_stimuli, load_model_pairs])
def test_not_json_and_not_a_list(tmp_path: Path, loader: Callable[[Path], Any]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"prompt": ', encoding="utf-8")
    with pytest.raises(PoserInputError, match=re.escape(f"{broken}: not valid JSON")):
        loader(broken)
    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"prompt": "x"}', encoding="utf-8")
    with pytest.raises(PoserInputError, match=re.escape(f"{mapping}: expected a JSON list")):
        loader(mapping)
    with pytest.raises(PoserInputError, match="cannot read"):
        loader(tmp_path)
