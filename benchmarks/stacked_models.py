"""Several zoo models in one batched computation, measured before deciding (issue 12, item 3).

Usage: python benchmarks/stacked_models.py [--models 6] [--prompts 32] [--threads 2]

The same prompts through N models of the zoo (the first N by name): one model after another on
TransformerLens's forward, one model after another on the fused forward (`poser_interp.fused`), and
all N at once with `torch.func.stack_module_state` + `functional_call` + `vmap`. Prints the wall
time of each and the largest difference of the logits from the one-by-one TransformerLens oracle.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.func import functional_call, stack_module_state, vmap

from poser_interp.data.poser import load_benchmark
from poser_interp.fused import unfused
from poser_interp.readout import last_logits, model_inputs
from poser_interp.zoo.load import load_model
from poser_interp.zoo.manifest import DEFAULT_ZOO, ZooManifest


def best_of(fn, repeats: int = 3) -> tuple[torch.Tensor, float]:
    out, times = None, []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    manifest = ZooManifest.load(DEFAULT_ZOO)
    models = [load_model(name, DEFAULT_ZOO) for name in sorted(manifest.model_names)[: args.models]]
    bench = sorted((DEFAULT_ZOO / "data" / "benchmark").glob("*.json"))[0]
    texts = [p.prompt for p in load_benchmark(bench)][: args.prompts]
    tokens, lengths = model_inputs(models[0], texts)
    params, buffers = stack_module_state(models)
    template = models[0]

    def one(p, b):
        final = functional_call(template, (p, b), (tokens,), {"stop_at_layer": template.cfg.n_layers})
        return final[torch.arange(tokens.shape[0]), lengths - 1]

    with torch.no_grad():
        with unfused():
            oracle, t_tl = best_of(lambda: torch.stack([last_logits(m, tokens, lengths) for m in models]))
        fused_out, t_fused = best_of(lambda: torch.stack([last_logits(m, tokens, lengths) for m in models]))
        with unfused():
            resid, t_vmap = best_of(lambda: vmap(one)(params, buffers))
        stacked = torch.stack([m.unembed(m.ln_final(r[:, None]))[:, 0] for m, r in zip(models, resid, strict=True)])
    print(f"{args.models} models x {len(texts)} prompts ({tuple(tokens.shape)} tokens), {args.threads} thread(s)")
    print(f"  one by one, TransformerLens forward: {t_tl:.3f} s")
    print(f"  one by one, fused forward:           {t_fused:.3f} s ({t_tl / t_fused:.2f}x), "
          f"max |diff| {(fused_out - oracle).abs().max():.1e}")
    print(f"  all at once, vmap(functional_call):   {t_vmap:.3f} s ({t_tl / t_vmap:.2f}x), "
          f"max |diff| {(stacked - oracle).abs().max():.1e}")


if __name__ == "__main__":
    main()
