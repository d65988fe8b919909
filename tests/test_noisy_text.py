"""Table 1 generation: no-noise rows equal a naive greedy loop, noise rows equal a hand-hooked loop,
hooks fire and are removed, seeds fix the noise, and `table1.json` is reused only for the same config."""

from __future__ import annotations

import json

import pytest
import torch

from poser_interp import noisy_text
from poser_interp.errors import PoserInputError
from poser_interp.hooks import active_hook_count
from poser_interp.noisy_text import DEFAULT_PROMPTS, noisy_continuations, uniform_direction, write_table1

PROMPTS = ["<<prompt>>the cat sat by the window all day<</prompt>>", "the inspector reviews all of your orders ."]
HOOK = "blocks.1.hook_resid_pre"


def _naive_greedy(model, prompt: str, n: int, delta: torch.Tensor | None = None) -> list[int]:
    """Token-by-token argmax on the whole sequence; `delta` added to the residual before block 1 by hand."""
    ids = torch.tensor([model.tokenizer(prompt, add_special_tokens=False)["input_ids"]])
    hooks = [] if delta is None else [(HOOK, lambda act, hook: act + delta)]
    out = []
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model.run_with_hooks(ids, fwd_hooks=hooks)[0, -1].argmax())
            out.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    stops = {model.tokenizer.pad_token_id, model.tokenizer.eos_token_id}
    cut = next((i for i, t in enumerate(out) if t in stops), len(out))
    return out[:cut]


def test_magnitude_zero_is_plain_greedy_and_hooks_fire_then_vanish(tiny_model):
    rows = noisy_continuations(tiny_model, PROMPTS, [0.0], layer=1, n_tokens=6, seed=0)
    assert active_hook_count(tiny_model) == 0
    assert [r["prompt"] for r in rows] == PROMPTS
    for row, prompt in zip(rows, PROMPTS, strict=True):
        expected = _naive_greedy(tiny_model, prompt, 6)
        assert row["token_ids"] == expected
        assert row["continuation"] == tiny_model.tokenizer.decode(expected)
        assert row["noise_norm"] == 0.0
        # one forward per generated token, plus the one that produced a stop token if it stopped early
        assert row["hook_fires"] == len(expected) + (len(expected) < 6)


def test_noise_rows_match_a_hand_hooked_loop(tiny_model):
    prompt, magnitude, seed = PROMPTS[0], 3.0, 7
    rows = noisy_continuations(tiny_model, [prompt], [magnitude], layer=1, n_tokens=5, seed=seed)
    ids = torch.tensor([tiny_model.tokenizer(prompt, add_special_tokens=False)["input_ids"]])
    _, cache = tiny_model.run_with_cache(ids, names_filter=[HOOK])
    mean_norm = cache[HOOK][0].norm(dim=-1).mean()
    draw = torch.rand(tiny_model.cfg.d_model, generator=torch.Generator().manual_seed(seed))
    delta = magnitude * mean_norm * draw / draw.norm()
    assert rows[0]["activation_norm"] == pytest.approx(float(mean_norm), rel=1e-5)
    assert rows[0]["noise_norm"] == pytest.approx(float(delta.norm()), rel=1e-5)
    assert rows[0]["token_ids"] == _naive_greedy(tiny_model, prompt, 5, delta)
    assert active_hook_count(tiny_model) == 0


def test_seed_fixes_the_noise(tiny_model):
    u0, u1 = uniform_direction(32, 0), uniform_direction(32, 1)
    assert torch.equal(u0, uniform_direction(32, 0)) and not torch.equal(u0, u1)
    assert float(u0.norm()) == pytest.approx(1.0) and bool((u0 >= 0).all())
    a = noisy_continuations(tiny_model, PROMPTS, [0.0, 2.0], layer=0, n_tokens=4, seed=5)
    b = noisy_continuations(tiny_model, PROMPTS, [0.0, 2.0], layer=0, n_tokens=4, seed=5)
    assert a == b and [r["magnitude"] for r in a] == [0.0, 0.0, 2.0, 2.0]


def test_bad_requests_fail_clearly(tiny_model):
    with pytest.raises(PoserInputError, match="context"):
        noisy_continuations(tiny_model, PROMPTS, [0.0], layer=0, n_tokens=tiny_model.cfg.n_ctx, seed=0)
    with pytest.raises(PoserInputError, match="n_tokens"):
        noisy_continuations(tiny_model, PROMPTS, [0.0], layer=0, n_tokens=0, seed=0)
    assert active_hook_count(tiny_model) == 0


def test_table1_json_is_written_once_per_config(tiny_zoo, tmp_path, monkeypatch):
    path = write_table1(tmp_path, tiny_zoo, magnitudes=(0.0, 1.0), layer=0, n_tokens=2, seed=0)
    data = json.loads(path.read_text())
    assert path.name == "table1.json" and data["config"]["prompts"] == list(DEFAULT_PROMPTS)
    expected = [(m, p) for m in (0.0, 1.0) for p in DEFAULT_PROMPTS]
    assert [(r["magnitude"], r["prompt"]) for r in data["rows"]] == expected
    calls = []
    monkeypatch.setattr(noisy_text, "noisy_continuations", lambda *a, **k: calls.append(1) or [])
    assert write_table1(tmp_path, tiny_zoo, magnitudes=(0, 1), layer=0, n_tokens=2, seed=0) == path
    assert calls == [] and json.loads(path.read_text()) == data  # same config: reused, ints == floats
    write_table1(tmp_path, tiny_zoo, magnitudes=(0.0, 1.0), layer=0, n_tokens=2, seed=1)
    assert calls == [1] and json.loads(path.read_text())["config"]["seed"] == 1
