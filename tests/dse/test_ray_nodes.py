"""Ray nodes dying under a running study: one cluster of a head (no CPU) and two one-CPU worker
nodes for the whole module (start-up costs seconds).

A node is killed from inside the study, by the demo model's ``die_node`` option (the worker kills
its raylet, then itself), so the death always lands while a job runs on that node; nothing waits
for a time to pass.
"""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dse import DseError, load_spec, open_storage, run_study


pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def cluster():  # type: ignore[no-untyped-def]
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    # Ray's default health checks: tighter ones declare live nodes dead on a loaded machine.
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        c.add_node(num_cpus=1)
    ray.init(address=c.address, log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()


def _spec(study_file, storage: str, name: str, options: str, n_trials: int):  # type: ignore[no-untyped-def]
    return load_spec(study_file(name=name, n_trials=n_trials, options=options, body="""
        [executor]
        kind = "ray"
        workers = 2
    """)).with_overrides(storage=storage)


def test_a_dead_node_is_noticed_and_its_work_retried_then_no_node_left_fails(
    study_file, tmp_path: Path
) -> None:
    import ray

    storage = str(tmp_path / "s.journal")
    marker = tmp_path / "node-died"
    # The first point kills its node; its job runs again on the other node; the study completes.
    summary = run_study(_spec(study_file, storage, "one-node-dies",
                              f'die_above = 0.0, die_node = true, die_marker = "{marker}"', 6))
    assert marker.exists()
    assert summary.n_complete == 6 and summary.n_failed == 0
    # The GCS declares the node dead after its missed health checks (a bound on a hang here,
    # not a timing assertion).
    t0 = time.monotonic()
    while sum(n["Alive"] for n in ray.nodes() if n["Resources"].get("CPU")) != 1:
        assert time.monotonic() - t0 < 300, "the GCS never declared the killed node dead"
        time.sleep(0.2)

    # Now the last worker node dies too: the in-flight trial fails with the reason, the run
    # stops with one line, and the next run retries the point.
    with pytest.raises(DseError, match="no Ray worker left"):
        run_study(_spec(study_file, storage, "last-node-dies",
                        "die_above = 0.0, die_node = true", 4))
    trials = optuna.load_study(study_name="last-node-dies", storage=open_storage(storage)).trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and all(t.user_attrs["dse.fail_reason"].startswith(
        ("interrupted: no Ray worker left", "Ray worker died")) for t in failed)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
