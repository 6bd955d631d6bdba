"""COMET search space: names match the cluster model, ranges fit, constraints, the 1T study."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from costmodels.cluster import ClusterModel
from search_spaces import domain
from search_spaces.comet import EXECUTION, PROVISIONING, space


STUDY = Path(__file__).resolve().parents[2] / "dse" / "studies" / "comet_1t.toml"


def test_names_are_model_inputs_and_values_in_range() -> None:
    s = space()
    model = ClusterModel()
    assert set(s.names) == set(PROVISIONING) | set(EXECUTION)
    for p in s.params:
        vals = p.values()
        assert vals is not None, p.name
        assert model.input(p.name).contains(vals).all(), p.name
        assert model.input(p.name).contains(np.asarray([p.default])).all(), p.name
    assert domain("comet").names == s.names


def test_defaults_are_megatrons_1t_run() -> None:
    s = space()
    batch = s.complete({"tp": np.asarray([8])})
    assert batch["num_nodes"][0] == 384 and batch["pp"][0] == 64
    assert s.feasible(batch).all()


def test_space_constraints_and_conditions() -> None:
    s = space()
    b = s.complete(
        {
            "tp": np.asarray([16, 8, 8]),
            "pp": np.asarray([1, 64, 7 * 8]),
            "exp_mem_topology": np.asarray(["none", "per_node", "none"]),
            "offload_activations": np.asarray([True, True, True]),
        }
    )
    # TP inside a node and tp * pp | accelerators are the model's constraints, defined once.
    assert s.constraints == ()
    model = ClusterModel()
    out = model.evaluate(model.batch(**b))
    assert out["tp_outside_node"][0] > 0 and out["tp_outside_node"][1] <= 0
    assert out["invalid_config"][2] > 0  # 56 stages do not divide 3072 accelerators by tp 8
    # Offload flags are inactive without expansion memory: reset to their default.
    assert b["offload_activations"].tolist() == [False, True, False]


def test_random_points_evaluate_through_the_model() -> None:
    s = space()
    model = ClusterModel()
    pts = s.sample(np.random.default_rng(0), 2000)
    out = model.evaluate(model.batch(**pts))
    assert np.isfinite(out["iter_time_s"]).all()
    feasible = np.ones(2000, dtype=bool)
    for name in model.constraint_names():
        feasible &= out[name] <= 0
    assert 0 < feasible.sum() < 2000


def test_study_file_loads_and_its_space_is_sweepable() -> None:
    from dse._spec import load_spec

    spec = load_spec(STUDY)
    assert spec.mode == "sweep"
    assert [o.metric for o in spec.objectives] == ["comet.time_to_train_days", "comet.capex_usd"]
    narrowed = space().prefixed("comet").narrowed(spec.overrides)
    assert narrowed.is_finite
    assert 1e5 < (narrowed.size or 0) < 5e6
    # A slice of the sweep evaluates and has feasible points under the budget.
    first = next(narrowed.enumerate(chunk_size=50_000))
    model = ClusterModel(workload="megatron_1t")
    local = {k.removeprefix("comet."): v for k, v in first.items()}
    out = model.evaluate(model.batch(**local))
    ok = np.ones(len(out["capex_usd"]), dtype=bool)
    for name in model.constraint_names():
        ok &= out[name] <= 0
    ok &= out["capex_usd"] <= 150e6
    assert ok.any()


def test_a_small_comet_sweep_runs_through_the_engine(tmp_path: Path) -> None:
    import optuna

    from dse import load_spec, run_study

    text = STUDY.read_text()
    text = text.replace('name = "comet_1t"', 'name = "comet_small"')
    text = text.replace('"comet.num_nodes" = [192, 256, 384, 512, 768]', '"comet.num_nodes" = 384')
    text = text.replace(
        '"comet.hbm_capacity_gb" = [40.0, 80.0, 120.0]', '"comet.hbm_capacity_gb" = 80.0'
    )
    text += '\n[storage]\nurl = "' + str(tmp_path / "s.journal") + '"\n'
    for line in (
        '"comet.seq_parallel" = true',
        '"comet.dp_overlap" = true',
        '"comet.offload_optimizer" = false',
        '"comet.exp_mem_bw_gbps" = 64.0',
        '"comet.inter_bw_gbps" = 25.0',
    ):
        key = line.split(" = ")[0]
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(key + " ="))
        text = text.replace("[space.override]\n", f"[space.override]\n{line}\n", 1)
    path = tmp_path / "comet_small.toml"
    path.write_text(text)
    summary = run_study(load_spec(path))
    assert summary.sweep["evaluated"] > 1000
    assert summary.sweep["front"] >= 1
    study = optuna.load_study(
        study_name="comet_small",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.journal"))
        ),
    )
    best = min(study.best_trials, key=lambda t: t.values[0])
    assert best.params["comet.tp"] <= 8
    assert 20 < best.values[0] < 200  # days
