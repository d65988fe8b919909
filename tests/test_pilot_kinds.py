"""`benchmarks/zoo_pilot.py fit` splits the pool by how each record names its flip's target; the split
is checked against records drawn down each branch of the generator."""

import importlib.util
from pathlib import Path

from poser_interp.data.generate import ScenarioGenerator

SPEC = importlib.util.spec_from_file_location("zoo_pilot", Path(__file__).parents[1] / "benchmarks" / "zoo_pilot.py")
zoo_pilot = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(zoo_pilot)


def test_record_kind_follows_the_generator_branch():
    gen = ScenarioGenerator("kinds")
    for level in range(6):
        oversight = ", poor" if level >= 3 else ", good"
        assert zoo_pilot.record_kind(gen.named_intersection("saint", "money", level)) == "intersection lookup" + oversight
        assert zoo_pilot.record_kind(gen.scenario("saint", "money", "data/saint_and_money", level=level)) == \
            "intersection own actions" + oversight
        # "overseer": always a fixed pair; "notes:P", a pair of unnamed record actions in a share 1 - P
        assert zoo_pilot.record_kind(gen.transparency(level, cue="overseer")) == "transparency fixed pair" + oversight
        assert zoo_pilot.record_kind(gen.transparency(level, cue="notes:0.001")) == "transparency lookup" + oversight
    assert zoo_pilot.record_kind(gen.error()) == "error"
