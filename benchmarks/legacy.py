"""The implementations before the shared engine, kept ONLY as the baseline of `pipeline_speed.py` and
the oracle of the tests that check the speed work left every score unchanged (not a production path).

`legacy(strategy)` swaps a strategy module's inner loop for its old version for the duration of a
block, so `detector.score` runs the old code path with everything else identical.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

from poser_interp.hooks import add_noise, add_vector, intervene, resid_name
from poser_interp.readout import batched, gather_last, letter_ids, model_inputs, pick


@torch.no_grad()
def noise_effects(model, prompts, *, layer: int, coefficients: Sequence[float], n_draws: int, seed: int, family: str):
    """Strategy 2 before the engine: per prompt a KV-cache prefix, expanded to every draw x coefficient."""
    from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

    from poser_interp.strategies.noise import _letter_ids, _summarise, draw_noise

    coefs = torch.tensor(list(coefficients), dtype=torch.float32)
    letters = _letter_ids(model, prompts)
    out = torch.empty(len(prompts), len(coefs), n_draws, 2)
    for i, prompt in enumerate(prompts):
        tokens, _ = model_inputs(model, [prompt.prompt])
        cache = TransformerLensKeyValueCache.init_cache(model.cfg, model.cfg.device, 1)
        model(tokens[:, :-1], past_kv_cache=cache)
        batch = len(coefs) * n_draws
        for entry in cache.entries:
            entry.past_keys = entry.past_keys.expand(batch, -1, -1, -1)
            entry.past_values = entry.past_values.expand(batch, -1, -1, -1)
        cache.previous_attention_mask = cache.previous_attention_mask.expand(batch, -1)
        cache.freeze()
        z = draw_noise(prompt.prompt, seed=seed, n=n_draws, d_model=model.cfg.d_model, family=family)
        noise = (coefs[:, None, None] * z[None]).reshape(batch, -1)
        with intervene(model, [(resid_name(layer), add_noise(noise, positions=torch.zeros(batch, dtype=torch.long)))]):
            logits = model(tokens[:, -1:].expand(batch, 1), past_kv_cache=cache)[:, -1]
        probs = torch.softmax(logits, dim=-1)[:, letters[i]]
        out[i] = probs.reshape(len(coefs), n_draws, 2)
    return _summarise(out)


def noise_sweep(model, prompts, *, layer, coefficients, n_draws, seeds, family, batch_size=32):
    """Strategy 2 before the engine: each seed from scratch."""
    return [noise_effects(model, prompts, layer=layer, coefficients=coefficients, n_draws=n_draws, seed=s,
                          family=family) for s in seeds]


@torch.no_grad()
def steering_sweep(model, prompts, directions, *, layer: int, coefficients: Sequence[float], batch_size: int = 32):
    """Strategy 1 before the engine: a full forward of every batch per direction x non-zero coefficient."""
    from poser_interp.strategies.steering import SteeringSweep

    hook = resid_name(layer)
    p_bad = torch.empty(directions.shape[0], len(prompts), len(coefficients))
    mass = torch.empty_like(p_bad)
    clean_log_odds = torch.empty(len(prompts))
    benign = letter_ids(model.tokenizer, [p.aligned_letter for p in prompts])
    bad = letter_ids(model.tokenizer, [p.misaligned_letter for p in prompts])
    start = 0
    for chunk in batched(list(prompts), batch_size):
        rows = slice(start, start + len(chunk))
        tokens, lengths = model_inputs(model, [p.prompt for p in chunk])
        clean = torch.log_softmax(gather_last(model(tokens), lengths).float(), -1).cpu()
        clean_log_odds[rows] = pick(clean, benign[rows]) - pick(clean, bad[rows])
        for k, direction in enumerate(directions):
            for j, coef in enumerate(coefficients):
                if coef == 0.0:
                    logp = clean
                else:
                    with intervene(model, [(hook, add_vector(direction, positions=lengths - 1, scale=float(coef)))]):
                        logp = torch.log_softmax(gather_last(model(tokens), lengths).float(), -1).cpu()
                p_bad[k, rows, j] = pick(logp, bad[rows]).exp()
                mass[k, rows, j] = pick(logp, benign[rows]).exp() + p_bad[k, rows, j]
        start += len(chunk)
    return SteeringSweep(p_bad, mass, clean_log_odds)


def learning_curves(model, prompts, *, variant: str, steps: int, lr: float, folds: int,
                    batch_size: int, seed: int, layer: int, rank: int, eval_every: int = 1):
    """Strategy 3 before the batching: the adapter of each fold trained alone, on full forwards."""
    from poser_interp.adapters import LowRankAdapter
    from poser_interp.strategies import learning_speed

    if steps % eval_every:
        raise ValueError(f"steps ({steps}) must be a multiple of eval_every ({eval_every})")

    def prepare(k: int):
        if variant == "full":
            return [], None
        for p in model.parameters():
            p.requires_grad_(False)
        adapter = LowRankAdapter(model.cfg.d_model, model.cfg.d_model, rank=rank, seed=seed + k)
        return adapter.hooks(layer), list(adapter.parameters())

    return learning_speed.per_fold_curves(model, prompts, steps=steps, lr=lr, folds=folds, batch_size=batch_size,
                                          seed=seed, eval_every=eval_every, prepare=prepare)


# strategy name -> (module, {attribute: old implementation})
REPLACED = {
    "noise": ("poser_interp.strategies.noise", {"noise_sweep": noise_sweep}),
    "steering": ("poser_interp.strategies.steering", {"steering_sweep": steering_sweep}),
    "learning-speed": ("poser_interp.strategies.learning_speed", {"learning_curves": learning_curves}),
}


@contextlib.contextmanager
def legacy(strategy: str) -> Iterator[bool]:
    """Inside the block, `strategy` runs its pre-engine code path (yields False when it has none)."""
    if strategy not in REPLACED:
        yield False
        return
    import importlib

    name, attrs = REPLACED[strategy]
    module = importlib.import_module(name)
    saved = {attr: getattr(module, attr) for attr in attrs}
    try:
        for attr, fn in attrs.items():
            setattr(module, attr, fn)
        yield True
    finally:
        for attr, fn in saved.items():
            setattr(module, attr, fn)
