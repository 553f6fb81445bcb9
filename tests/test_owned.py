"""Planning on owned hardware (``--have``, issue 15): zero capex, owned counts as limits, mixed fleets."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gpuplan.catalog import get_gpu
from gpuplan.cli.main import build_app
from gpuplan.errors import InvalidInputError, UnknownNameError
from gpuplan.i18n import set_language
from gpuplan.plan.owned import parse_have, split_users
from gpuplan.plan.search import PlanRequest, search


def test_parse_have_sums_and_validates() -> None:
    owned = parse_have(("2xrtx-4090,1xrtx-3090", "1xrtx-4090"))
    assert [(o.gpu.id, o.count) for o in owned] == [("rtx-4090", 3), ("rtx-3090", 1)]
    assert parse_have(("t4",))[0].count == 1
    with pytest.raises(InvalidInputError):
        parse_have(("two x t4",))
    with pytest.raises(UnknownNameError):
        parse_have(("2xnot-a-gpu",))


def test_users_split_by_aggregate_bandwidth() -> None:
    """1 × A100 80GB (2.039 TB/s) + 2 × T4 (0.32 TB/s each): 30 users split 2.039 : 0.64."""
    owned = parse_have(("1xa100-80gb,2xt4",))
    a100, t4 = get_gpu("a100-80gb").memory_bandwidth_bytes_per_s, get_gpu("t4").memory_bandwidth_bytes_per_s
    shares = split_users(owned, 30)
    assert sum(shares) == 30
    assert shares[0] == round(30 * a100 / (a100 + 2 * t4))


def test_owned_plan_has_zero_capex_and_respects_counts() -> None:
    plan = search(PlanRequest(model="deepseek-r1-distill-qwen-32b", users=20, have=("2xrtx-4090", "1xrtx-3090")))
    assert plan.candidates
    for c in plan.candidates:
        assert c.cost.capex_usd == 0.0
        assert (c.gpu, c.gpu_count) in {("rtx-4090", 1), ("rtx-4090", 2), ("rtx-3090", 1)}
    assert plan.owned is not None
    assert plan.owned["router"]["parts"][0]["gpu"] == "rtx-4090"
    split = plan.owned["llama_cpp_split"]
    assert split["tensor_split"] == "24,24,24"  # one proportion per card, GiB
    # decode bound = 1 / Σ share_i · W / bw_i, shares ∝ memory (about 2/3 on the 4090s, 1/3 on the 3090)
    w = split["weights_bytes"]
    g4090, g3090 = get_gpu("rtx-4090"), get_gpu("rtx-3090")
    total = 2 * g4090.memory_bytes + g3090.memory_bytes
    expected = 1 / (w * 2 * g4090.memory_bytes / total / g4090.memory_bandwidth_bytes_per_s
                    + w * g3090.memory_bytes / total / g3090.memory_bandwidth_bytes_per_s)
    assert split["decode_tokens_per_s_bound"] == pytest.approx(expected)


def test_cli_and_api_take_have() -> None:
    set_language("en")
    res = CliRunner().invoke(build_app(), ["plan", "qwen/qwen3-32b", "--users", "30", "--have", "1xa100-80gb,2xt4",
                                           "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {c["gpu"] for c in data["candidates"]} <= {"a100-80gb-sxm", "t4"}
    assert data["owned"]["owned"] == [{"gpu": "a100-80gb-sxm", "count": 1}, {"gpu": "t4", "count": 2}]

    from fastapi.testclient import TestClient

    from gpuplan.api.app import create_app

    r = TestClient(create_app()).post("/api/v1/plan", json={"model": "qwen/qwen3-32b", "users": 30,
                                                            "have": ["1xa100-80gb", "2xt4"]})
    assert r.status_code == 200, r.text
    assert all(c["cost"]["capex_usd"] == 0.0 for c in r.json()["candidates"])


def test_owned_plan_file_round_trips_and_renders(tmp_path) -> None:
    """The owned-fleet facts survive plan.yaml (the reader's bounds accept them) and render still works."""
    from gpuplan.planfile import PlanFile

    set_language("en")
    plan_file = tmp_path / "plan.yaml"
    runner = CliRunner()
    res = runner.invoke(build_app(), ["plan", "qwen/qwen3-32b", "--users", "30", "--have", "1xa100-80gb,2xt4",
                                      "-o", str(plan_file)])
    assert res.exit_code == 0, res.output
    loaded = PlanFile.load(plan_file)
    assert loaded.owned and loaded.owned["router"]["feasible"] in (True, False)
    res = runner.invoke(build_app(), ["render", str(plan_file), "--target", "engine", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
