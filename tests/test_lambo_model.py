"""The LAMBO network: sizes, masking, batching, prompts and large instances."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from click.testing import CliRunner

from mecopt.cli.main import cli
from mecopt.evaluation import evaluate_batch
from mecopt.generators import generate
from mecopt.learned.checkpoint import load_model
from mecopt.learned.features import LOOSEST_DEADLINE, make_batch
from mecopt.learned.model import PAPER_PARAMS, PRESETS, VOCAB, Lambo, count_parameters, tokenize
from mecopt.learned.rollout import costs, rollout
from mecopt.learned.strategies import Greedy, Sampling
from mecopt.objective import Objective

from conftest import library

torch.set_num_threads(1)


def random_model(seed: int = 0) -> Lambo:
    torch.manual_seed(seed)
    return Lambo(PRESETS["lambo-s"]).eval()


@pytest.mark.parametrize("preset", ["lambo-m", "lambo-l"])
def test_paper_sizes_match_the_paper_counts(preset):
    n = count_parameters(preset)
    assert abs(n - PAPER_PARAMS[preset]) / PAPER_PARAMS[preset] < 0.005, n
    out = CliRunner().invoke(cli, ["model-info", "--preset", preset])
    assert out.exit_code == 0, out.output
    assert f"{n:,} parameters" in out.output


def test_tokenizer_maps_unknown_words_to_unk():
    assert tokenize("Minimum latency") == [VOCAB.index("minimum"), VOCAB.index("latency")]
    assert tokenize("Minimum xyzzy") == [VOCAB.index("minimum"), VOCAB.index("<unk>")]
    assert tokenize("") == [VOCAB.index("<unk>")]


def capacity_bound_instances() -> list:
    """Hetero instances with many UEs on few servers: capacity binds, options get masked."""
    return [generate("hetero", n, m, seed=200_000 + k)
            for k, (n, m) in enumerate([(60, 2), (35, 3), (80, 4), (25, 6)])]


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_sampling_never_picks_a_masked_option(temperature):
    model = random_model(1)
    insts = capacity_bound_instances()
    objs = [Objective.LATENCY, Objective.ENERGY] * 2
    batch = make_batch(insts, objs)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        out = rollout(model, batch, Sampling(temperature, gen), samples=16)
    assert out.assignment.shape == (4 * 16, 80)
    assert out.share.shape == (4 * 16, 80) and out.value.shape == (4,)
    assert torch.isfinite(out.log_prob).all()
    a = out.assignment.numpy()
    for r in range(len(a)):
        inst = insts[r // 16]
        row = a[r, : inst.n_ues]
        # never an option that cannot meet the deadline on its own ...
        assert inst.option_ok[np.arange(inst.n_ues), row].all()
        # ... and never one that no longer fits: every completed decode water-fills feasibly
        if out.feasible[r]:
            assert evaluate_batch(inst, row[None]).feasible[0]
        assert (a[r, inst.n_ues:] == 0).all(), "padding UEs stay untouched"
    assert out.feasible.float().mean() > 0.5  # the masks leave room to finish


def test_temperature_spreads_the_samples():
    """The trained policy is sharp: at a low temperature its samples repeat the greedy
    decode; at a high one they differ from it in more decisions."""
    model, _ = load_model()
    inst = library("hetero")[0]
    batch = make_batch([inst], [Objective.LATENCY])
    with torch.no_grad():
        greedy = rollout(model, batch).assignment
        changed = {}
        for temperature in (0.2, 5.0):
            gen = torch.Generator().manual_seed(0)
            out = rollout(model, batch, Sampling(temperature, gen), samples=16)
            changed[temperature] = (out.assignment != greedy).sum(1).float().mean().item()
    assert changed[5.0] > changed[0.2] + 1, changed


@pytest.mark.parametrize("grad", [False, True])
def test_cached_decoder_steps_equal_torchs_decoder_layers(grad):
    """Model.step (cached keys/values, layers applied through their parameters) gives what
    torch's own nn.TransformerDecoderLayer modules give on the whole prefix, with the
    preallocated cache of inference and the growing one of training."""
    cfg = replace(PRESETS["lambo-s"], n_decoder_layers=2)
    torch.manual_seed(3)
    model = Lambo(cfg).eval()
    B, N, T = 3, 7, 5
    enc = torch.randn(B, 1 + N, cfg.d_model)
    ue_mask = torch.ones(B, N, dtype=torch.bool)
    ue_mask[1, 5:] = False  # a padded row
    tokens = torch.randn(B, T, cfg.d_model)
    pad = torch.cat([torch.zeros(B, 1, dtype=torch.bool), ~ue_mask], dim=1)
    with torch.set_grad_enabled(grad):
        cache = model.init_cache(enc, ue_mask)
        for t in range(T):
            state = model.step(tokens[:, t], cache)
            y = tokens[:, : t + 1]
            causal = nn.Transformer.generate_square_subsequent_mask(t + 1)
            for layer in model.decoder:
                y = layer(y, enc, tgt_mask=causal, memory_key_padding_mask=pad)
            assert torch.allclose(state, model.decoder_norm(y[:, -1]), atol=1e-5), t


def test_split_option_key_layer_is_the_option_key_mlp():
    """The decode projects the static option columns once and the dynamic ones per step
    (Lambo.split_key_layer); the sum must be torch's own option-key MLP on all columns."""
    from mecopt.learned.env import DYNAMIC_COLUMNS, STATIC_COLUMNS

    model = random_model(8)
    options = torch.randn(3, 5, model.option_key[0].in_features)
    with torch.no_grad():
        cache = model.init_cache(torch.randn(3, 4, model.cfg.d_model),
                                 torch.ones(3, 3, dtype=torch.bool))
        w_static, bias, w_dynamic = model.split_key_layer(STATIC_COLUMNS, DYNAMIC_COLUMNS)
        hidden = (F.linear(options[..., list(STATIC_COLUMNS)], w_static, bias)
                  + F.linear(options[..., list(DYNAMIC_COLUMNS)], w_dynamic))
        assert torch.allclose(model.keys(hidden, cache), model.option_key(options), atol=1e-5)


@pytest.mark.parametrize("sample", [False, True])
def test_decoding_without_stats_decides_the_same(sample):
    """stats=False (what `lambo` uses) skips the log-probabilities and entropies only."""
    model = random_model(4)
    insts = capacity_bound_instances()
    batch = make_batch(insts, [Objective.LATENCY, Objective.ENERGY] * 2)
    runs = []
    with torch.no_grad():
        for stats in (True, False):
            gen = torch.Generator().manual_seed(5)
            how = Sampling(generator=gen) if sample else Greedy()
            runs.append(rollout(model, batch, how, samples=4, stats=stats))
    full, lean = runs
    assert torch.equal(full.assignment, lean.assignment)
    assert torch.equal(full.feasible, lean.feasible)
    assert torch.allclose(full.share, lean.share)
    assert (full.entropy > 0).any() and (lean.entropy == 0).all()


def test_greedy_first_decodes_greedily_then_samples():
    """greedy_first (what `lambo` uses for best of k): each row's first decode is the
    greedy decode, the others are sampled, in one pass."""
    model = random_model(6)
    insts = capacity_bound_instances()
    batch = make_batch(insts, [Objective.LATENCY, Objective.ENERGY] * 2)
    with torch.no_grad():
        greedy = rollout(model, batch)
        gen = torch.Generator().manual_seed(7)
        mixed = rollout(model, batch, Sampling(3.0, gen, greedy_first=True), samples=8)
    assert torch.equal(mixed.assignment[::8], greedy.assignment)
    assert torch.allclose(mixed.share[::8], greedy.share)
    sampled = mixed.assignment.view(len(insts), 8, -1)[:, 1:]
    assert (sampled != greedy.assignment[:, None]).any(2).sum() > 10, "the others sample"


def test_batch_decoding_equals_one_by_one():
    model = random_model(2)
    insts = [generate("hetero", seed=300_000 + k) for k in range(3)] + [generate("paper")]
    objs = [Objective.LATENCY, Objective.ENERGY, Objective.ENERGY, Objective.LATENCY]
    assert len({(i.n_ues, i.n_servers) for i in insts}) == 4, "mixed N and M"
    with torch.no_grad():
        together = rollout(model, make_batch(insts, objs))
        for b, (inst, obj) in enumerate(zip(insts, objs, strict=True)):
            alone = rollout(model, make_batch([inst], [obj]))
            n = inst.n_ues
            assert torch.equal(together.assignment[b, :n], alone.assignment[0]), inst.name
            assert torch.allclose(together.log_prob[b], alone.log_prob[0], atol=1e-4)
            assert torch.allclose(together.share[b, :n], alone.share[0], atol=1e-5)
            assert torch.allclose(together.value[b], alone.value[0], atol=1e-5)


def test_the_prompt_text_steers_the_trained_model():
    """hetero-000's latency- and energy-optimal assignments differ (greedy shows it); the
    shipped model, decoding in the same order, gives different decisions for the two texts."""
    inst = library("hetero")[0]
    from mecopt.construct import greedy_assignment

    lat, _ = greedy_assignment(inst, Objective.LATENCY)
    en, _ = greedy_assignment(inst, Objective.ENERGY)
    assert (lat != en).sum() > inst.n_ues // 10
    model, _ = load_model()
    same_order = [Objective.LATENCY, Objective.LATENCY]
    batch = make_batch([inst, inst], same_order, prompts=["Minimum latency", "Minimum energy"])
    with torch.no_grad():
        out = rollout(model, batch)
    a_lat, a_en = out.assignment.numpy()
    assert (a_lat != a_en).sum() > inst.n_ues // 10
    # and each text's decision is the better one for its own objective
    ev = evaluate_batch(inst, np.stack([a_lat, a_en]))
    assert ev.feasible.all()
    assert ev.mean_latency_s[0] < ev.mean_latency_s[1]
    assert ev.total_energy_j[1] < ev.total_energy_j[0]


def test_works_for_200_ues_and_10_servers():
    inst = generate("hetero", 200, 10, seed=400_000)
    model, _ = load_model()
    with torch.no_grad():
        batch = make_batch([inst, inst], [Objective.LATENCY, Objective.ENERGY])
        out = rollout(model, batch)
    value, _ = costs(batch, out)
    assert out.assignment.shape == (2, 200)
    assert np.isfinite(value).all(), "both prompts decode to feasible assignments"


def test_inference_encoder_matches_the_transformer_encoder():
    """Without gradients `encode` runs the encoder with fused attention (memory linear in
    N); it must compute what nn.TransformerEncoder computes, padding included."""
    torch.manual_seed(0)
    model = Lambo(PRESETS["lambo-s"]).eval()
    insts = [generate("hetero", n_ues=n, n_servers=m, seed=s)
             for n, m, s in ((40, 3, 0), (25, 5, 1), (60, 2, 2))]
    b = make_batch(insts, [Objective.LATENCY, Objective.ENERGY, Objective.LATENCY])
    with torch.inference_mode():
        fused, p = model.encode(b.ue, b.pair, b.server, b.ue_mask, b.srv_mask, b.prompt_ids)
        x = torch.cat([p[:, None], model.ue_embed(b.ue, b.pair, b.server, b.srv_mask)
                       + p[:, None]], dim=1)
        pad = torch.cat([torch.zeros_like(b.ue_mask[:, :1]), ~b.ue_mask], dim=1)
        plain = model.encoder(x, src_key_padding_mask=pad)
    live = torch.cat([torch.ones_like(b.ue_mask[:, :1]), b.ue_mask], dim=1)
    assert torch.allclose(fused[live], plain[live], atol=1e-5)
    with torch.enable_grad():  # training keeps nn.TransformerEncoder (and its gradients)
        trained, _ = model.encode(b.ue, b.pair, b.server, b.ue_mask, b.srv_mask, b.prompt_ids)
    assert trained.requires_grad and torch.allclose(trained[live], plain[live], atol=1e-5)


def test_a_deadline_that_never_binds_reads_as_the_loosest_trained_one():
    """Under the latency prompt times are measured against min(T, LOOSEST_DEADLINE * t_loc):
    "no deadline" (1e6 s) gives the network the inputs of a deadline of 3 t_loc, all but the
    real f_min."""
    inst = generate("paper", seed=3)
    loose = inst.replace(deadline_s=np.full(inst.n_ues, 1e6))
    at_scale = inst.replace(deadline_s=LOOSEST_DEADLINE * inst.t_loc)
    assert (loose.option_ok == at_scale.option_ok).all()  # the same options either way
    a, b = make_batch([loose], ["latency"]), make_batch([at_scale], ["latency"])
    assert torch.allclose(a.time_scale, b.time_scale)
    assert torch.allclose(a.ue, b.ue)
    keep = [c for c in range(a.pair.shape[-1]) if c != 2]  # column 2: f_min / F, real
    assert torch.allclose(a.pair[..., keep], b.pair[..., keep])
    assert (a.f_min < b.f_min).all()
    # Under the energy prompt times say only how close an option is to its deadline.
    assert (make_batch([loose], ["energy"]).time_scale == 1e6).all()
    # A deadline that binds is the time scale itself.
    assert torch.allclose(make_batch([inst], ["latency"]).time_scale,
                          torch.tensor(inst.deadline_s))
