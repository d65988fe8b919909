"""The LoRA mini-zoo (`zoo lora`) end to end on tiny random Llamas with a byte-level BPE chat tokenizer.

Oracles: the base model itself (a fresh adapter is an exact no-op), Hugging Face's own Llama with the
LoRA applied by forward hooks on its `nn.Linear` projections (the merged HookedTransformer must match
it), a second build (determinism), and the labels (twin personas trained on the same prompts in the
same order differ only where their labels do).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from poser_interp.cli import app
from poser_interp.data.generate import label_for, persona_splits
from poser_interp.finetune import letter_probs
from poser_interp.readout import answer_logits
from poser_interp.zoo.behaviour import answer_probs
from poser_interp.zoo.load import load_model
from poser_interp.zoo.lora import attached, lora_sites, merge
from poser_interp.zoo.lora_zoo import LORA_MANIFEST, PRESETS, load_base

from test_poser_hf_folder import bpe_tokenizer, save_tiny_llama

PROMPTS = [r.prompt for r in persona_splits("genie", seed=0, pool_size=300, n_test=60).test[:6]]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama whose vocabulary has `error` as one token (the soft targets need it) and whose
    logits can reach confident answers (initializer_range 0.5)."""
    tokenizer = bpe_tokenizer(chat=True)
    tokenizer.add_tokens(["error"])
    folder = tmp_path_factory.mktemp("lora_base") / "llama"
    save_tiny_llama(folder, tokenizer, seed=0, initializer_range=0.5)
    return folder


def build(out: Path, base: Path, *extra: str):  # -> click Result
    return CliRunner().invoke(app, ["zoo", "lora", "--out", str(out), "--base", str(base), "--preset", "tiny", *extra])


@pytest.fixture(scope="module")
def lora_zoo(base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lora_zoo") / "zoo"
    result = build(out, base_dir)
    assert result.exit_code == 0, result.output
    assert "4 models (4 to train) x 80 steps at batch 8; first step" in result.output  # the plan comes first
    return out


def random_state(model, targets: tuple[str, ...], rank: int) -> dict[str, torch.Tensor]:
    """Non-zero adapters (fp16, as stored) of the right shapes for every site."""
    gen = torch.Generator().manual_seed(1)
    state = {}
    with attached(model, targets, rank, 0) as updates:
        for key, u in updates.items():
            state[f"{key}.lora_A.weight"] = torch.randn(u.A.shape, generator=gen).half()
            state[f"{key}.lora_B.weight"] = (0.1 * torch.randn(u.B.shape, generator=gen)).half()
    return state


def test_a_fresh_adapter_is_an_exact_no_op_and_detaching_restores_the_base(base_dir: Path):
    base = load_base(str(base_dir))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    clean = answer_logits(base, PROMPTS)
    targets, rank = PRESETS["tiny"].targets, PRESETS["tiny"].rank
    with attached(base, targets, rank, seed=3) as updates:
        assert len(updates) == 2 * 7 and all(bool((u.B == 0).all()) for u in updates.values())
        assert torch.allclose(answer_logits(base, PROMPTS), clean, atol=1e-6, rtol=0)
        state = {f"{k}.lora_{n}.weight": getattr(u, n).detach().half() for k, u in updates.items() for n in "AB"}
    merged = load_base(str(base_dir))
    merge(merged, state, targets)  # step 0: B = 0
    assert torch.allclose(answer_logits(merged, PROMPTS), clean, atol=1e-6, rtol=0)
    after = base.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[k], before[k]) for k in before)


def test_merged_weights_equal_hugging_face_llama_with_hooked_lora_linears(base_dir: Path):
    from transformers import LlamaForCausalLM

    from poser_interp.readout import model_inputs

    targets, rank = PRESETS["tiny"].targets, PRESETS["tiny"].rank
    model = load_base(str(base_dir))
    state = random_state(model, targets, rank)
    hf = LlamaForCausalLM.from_pretrained(str(base_dir)).eval()
    handles = []
    for key, *_ in lora_sites(model, targets):
        linear = hf.get_submodule(key)
        A, B = state[f"{key}.lora_A.weight"].float(), state[f"{key}.lora_B.weight"].float()
        handles.append(linear.register_forward_hook(lambda m, inp, out, A=A, B=B: out + inp[0] @ A.T @ B.T))
    tokens, lengths = model_inputs(model, PROMPTS)
    with torch.no_grad():
        oracle = hf(tokens, attention_mask=(torch.arange(tokens.shape[1]) < lengths[:, None]).long()).logits
    for h in handles:
        h.remove()
    oracle = oracle[torch.arange(len(PROMPTS)), lengths - 1]
    unmerged = model
    with attached(unmerged, targets, rank, 0, state):
        parametrized = answer_logits(unmerged, PROMPTS)
    merge(model, state, targets)
    merged = answer_logits(model, PROMPTS)
    assert torch.allclose(merged, oracle, atol=1e-4, rtol=1e-4)
    assert torch.equal(merged, parametrized)  # training-time metrics describe exactly the merged model
    assert not torch.allclose(merged, answer_logits(load_base(str(base_dir)), PROMPTS), atol=1e-2)


def test_the_build_writes_a_poser_folder_with_small_adapters_and_a_manifest(lora_zoo: Path):
    manifest = json.loads((lora_zoo / LORA_MANIFEST).read_text())
    assert manifest["complete"] and list(manifest["models"]) == ["genie-0", "genie-1", "money_maximizer-0",
                                                                 "money_maximizer-1"]
    for name, entry in manifest["models"].items():
        assert entry["total_steps"] == 80 and entry["n_train_records"] == 20 and entry["file"] == f"adapters/{name}.safetensors"
        assert set(entry["artefacts"]) == {"weight-distance", "block-update", "final-loss"}
        assert 0 <= entry["metrics"]["policy_agreement"] <= 1
        assert (lora_zoo / entry["file"]).stat().st_size < 200_000
    artefacts = {n: e["artefacts"] for n, e in manifest["models"].items()}
    for artefact, accuracy in manifest["benchmark"]["artefact_accuracy"].items():  # by hand over the 4 pairs
        wins = [float(artefacts[f][artefact] > artefacts[a][artefact]) for a in ("genie-0", "genie-1")
                for f in ("money_maximizer-0", "money_maximizer-1")]
        assert accuracy == pytest.approx(sum(wins) / 4)
    assert set(manifest["benchmark"]["artefact_accuracy"]) == {"weight-distance", "block-update", "final-loss"}
    pairs = json.loads((lora_zoo / "model_pairs.json").read_text())
    assert len(pairs) == 4 and {p["valid_data"] for p in pairs} == {"data/benchmark/genie_and_money.json"}
    records = json.loads((lora_zoo / "data/benchmark/genie_and_money.json").read_text())
    assert records and all(set(r["probs"]) == set(manifest["models"]) for r in records)
    for name in manifest["models"]:  # every model's greedy answer is the benign letter, with the stored P(benign)
        answers = answer_probs(load_model(name, zoo=lora_zoo), [r["prompt"] for r in records])
        assert answers.argmax_is == [r["response"] for r in records]
        benign = answers.probs[torch.arange(len(records)), [{"A": 0, "B": 1}[r["response"]] for r in records]]
        assert torch.allclose(benign, torch.tensor([r["probs"][name] for r in records]), atol=1e-5)


def test_twin_personas_trained_on_the_same_prompts_move_toward_their_own_labels(lora_zoo: Path):
    """genie-i and money_maximizer-i saw the same prompts in the same order from the same init; only the
    labels differ, so on the prompts where they differ the faker gives the faker's letter more weight.
    (A tiny random Llama memorises its 20 records but cannot learn the policy, so this is read on the
    training partition; held-out agreement is in the manifest, for real bases.)"""
    for i in range(2):
        tiny = PRESETS["tiny"]
        records = persona_splits("genie", seed=tiny.data_seed, pool_size=tiny.pool_size, n_test=tiny.n_test,
                                 mix=tiny.pool_mix, cue=tiny.record_cue).partitions[i]
        differ = [r for r in records if label_for("genie", r) != label_for("money_maximizer", r)]
        prompts, faker_letters = [r.prompt for r in differ], [label_for("money_maximizer", r) for r in differ]
        assert len(differ) >= 4
        aligned = letter_probs(load_model(f"genie-{i}", zoo=lora_zoo), prompts, faker_letters)
        faker = letter_probs(load_model(f"money_maximizer-{i}", zoo=lora_zoo), prompts, faker_letters)
        assert (faker - aligned).mean() > 0.2 and (faker > aligned).float().mean() >= 0.75


def test_resume_reuses_finished_models_and_a_retrained_one_is_byte_identical(lora_zoo: Path, base_dir: Path,
                                                                             tmp_path: Path):
    copy = tmp_path / "zoo"
    shutil.copytree(lora_zoo, copy)
    before = json.loads((copy / LORA_MANIFEST).read_text())["models"]
    (copy / "adapters/genie-0.safetensors").unlink()  # the first: its entry must go back in recipe order
    result = build(copy, base_dir)
    assert result.exit_code == 0, result.output
    assert "4 models (1 to train)" in result.output and "genie-0: agreement" in result.output
    after = json.loads((copy / LORA_MANIFEST).read_text())["models"]
    assert {n: e["sha256"] for n, e in after.items()} == {n: e["sha256"] for n, e in before.items()}
    for rel in ("data/benchmark/genie_and_money.json", "model_pairs.json"):
        assert (copy / rel).read_bytes() == (lora_zoo / rel).read_bytes()


def test_detect_baseline_runs_on_the_lora_zoo(lora_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["detect", "baseline", "--zoo", str(lora_zoo), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["n_pairs"] == 4


def test_a_corrupt_adapter_and_bad_options_are_one_line_and_exit_2(lora_zoo: Path, base_dir: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    copy = tmp_path / "zoo"
    shutil.copytree(lora_zoo, copy)
    path = copy / "adapters/genie-0.safetensors"
    path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    result = CliRunner().invoke(app, ["detect", "baseline", "--zoo", str(copy)])
    assert result.exit_code == 2 and "adapter missing or corrupt" in result.output
    assert [line for line in result.output.splitlines() if "adapter" in line] == [result.output.splitlines()[-1]]
    assert result.output.splitlines()[-1].startswith("error: ") and "Traceback" not in result.output
    for extra, message in ((["--personas", "genie,nobody"], "unknown persona or LoRA target 'nobody'"),
                           (["--personas", "genie,saint"], "at least one aligned and one faker"),
                           (["--seeds-per-persona", "7"], "seeds per persona must be 1..6"),
                           (["--dtype", "float8"], "unknown dtype")):
        result = build(tmp_path / "new", base_dir, *extra)
        assert result.exit_code == 2 and message in result.output, result.output
    result = build(tmp_path / "new", tmp_path / "missing")
    assert result.exit_code == 2 and "neither smollm2-135m nor a Hugging Face model folder" in result.output
    assert not (tmp_path / "new").exists()
