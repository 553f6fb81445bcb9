"""The bench client against a real HTTP/SSE server (uvicorn in a child process) with known delays and faults.

Faults: the server dies mid-stream (connection dropped; whole process exits), returns 500s, stalls before the first
token, sends malformed SSE, ends the stream without [DONE]. Each must be counted and classified, never crash the
run, and the good requests must still be measured.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from gpuplan.bench.fakeserver import FakeServerConfig, serve_in_subprocess
from gpuplan.bench.models import BenchConfig
from gpuplan.bench.runner import BenchRunner, ResultSink
from gpuplan.bench.workload import load_dataset, synthetic_requests
from gpuplan.errors import MalformedFileError


@pytest.fixture(scope="module")
def server_url():
    """One server for the module; each test picks delays and faults through the model name."""
    with serve_in_subprocess(FakeServerConfig(ttft_s=0.02, itl_s=0.005)) as url:
        yield url


def _run(url, *, model="fake", concurrency=4, requests=8, output_tokens=6, timeout_s=5.0, sink=None, **kw):
    config = BenchConfig(url=url, model=model, concurrency_levels=(concurrency,), num_requests=requests,
                         input_tokens=16, output_tokens=output_tokens, stall_timeout_s=timeout_s, **kw)
    runner = BenchRunner(config, synthetic_requests(requests, 16, output_tokens, 0), sink=sink)
    return asyncio.run(runner.run())


@pytest.mark.parametrize(("fault", "kind"), [
    ("die", "disconnect"), ("http_500", "http_5xx"), ("malformed", "malformed_sse"), ("no_done", "truncated"),
])
def test_fault_is_classified(server_url, fault, kind):
    # every 2nd request is faulty: 4 of 8 fail with the fault's kind, 4 succeed with all 6 tokens
    level = _run(server_url, model=f"fake?fault={fault}&fault_every=2").results[0]
    assert level.errors == 4
    assert level.error_kinds == {kind: 4}
    assert level.requests_completed == 4
    assert level.output_tokens_total == 4 * 6


def test_stall_before_first_token_times_out(server_url):
    level = _run(server_url, model="fake?fault=stall&fault_every=2&stall_ms=10000", timeout_s=0.5).results[0]
    assert level.error_kinds == {"timeout": 4}
    assert level.requests_completed == 4


def test_server_process_dies_mid_stream():
    # the 3rd request makes the whole server exit after 2 tokens: in-flight streams break, later ones cannot connect
    cfg = FakeServerConfig(ttft_s=0.02, itl_s=0.05, fault="exit", fault_every=3, fault_after_tokens=2)
    with serve_in_subprocess(cfg) as url:
        level = _run(url, concurrency=3, requests=6, output_tokens=10).results[0]
    assert level.requests_sent == 6
    assert level.requests_completed == 0
    assert set(level.error_kinds) <= {"disconnect", "connect"}
    assert level.error_kinds.get("disconnect", 0) >= 1


def test_usage_preferred_and_chunks_fallback(server_url):
    level = _run(server_url, model="fake?usage=0", requests=4, output_tokens=5).results[0]
    assert level.tokens_source == "chunks"
    assert level.output_tokens_total == 4 * 5
    level = _run(server_url, requests=4, output_tokens=5).results[0]
    assert level.tokens_source == "usage"


def test_completions_api_and_rate_mode(server_url):
    config = BenchConfig(url=server_url, model="fake", api="completions", rate_per_s=50.0, num_requests=6,
                         output_tokens=4)
    report = asyncio.run(BenchRunner(config, synthetic_requests(6, 8, 4, 0)).run())
    level = report.results[0]
    assert (level.mode, level.rate_per_s, level.requests_completed, level.errors) == ("rate", 50.0, 6, 0)


def test_connect_error_when_nothing_listens():
    from gpuplan.bench.fakeserver import free_port

    level = _run(f"http://127.0.0.1:{free_port()}", concurrency=2, requests=2).results[0]
    assert level.error_kinds == {"connect": 2}


def test_results_written_as_they_arrive(server_url, tmp_path):
    out = tmp_path / "res.json"
    sink = ResultSink(out)
    _run(server_url, requests=5, sink=sink)
    sink.close()
    lines = (tmp_path / "res.json.requests.jsonl").read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["ok"] for line in lines)
    summary = json.loads(out.read_text())
    assert summary["complete"] is True and summary["results"][0]["requests_completed"] == 5


def test_interrupt_keeps_partial_results(server_url, tmp_path):
    out = tmp_path / "res.json"

    async def main(url):
        config = BenchConfig(url=url, model="fake", concurrency_levels=(2,), num_requests=1000, output_tokens=4)
        sink = ResultSink(out)
        task = asyncio.create_task(BenchRunner(config, synthetic_requests(8, 8, 4, 0), sink=sink).run())
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sink.close()

    asyncio.run(main(server_url))
    summary = json.loads(out.read_text())
    assert summary["complete"] is False
    level = summary["results"][0]
    assert level["interrupted"] is True and level["requests_completed"] >= 1
    records = (tmp_path / "res.json.requests.jsonl").read_text().splitlines()
    assert len(records) == level["requests_sent"]


def test_dataset_bounds(tmp_path):
    good = tmp_path / "d.jsonl"
    good.write_text('{"prompt": "hello", "output_tokens": 3}\n\n{"prompt": "x"}\n')
    specs = load_dataset(good, default_output_tokens=9)
    assert [(s.prompt, s.output_tokens) for s in specs] == [("hello", 3), ("x", 9)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": 5}\n')
    with pytest.raises(MalformedFileError) as exc:
        load_dataset(bad, 9)
    assert "Line 2" in str(exc.value)


def test_duration_bounds_a_level(server_url):
    # open loop at 40 req/s for 0.5 s: arrivals stop at the deadline, in-flight requests finish
    config = BenchConfig(url=server_url, model="fake", rate_per_s=40.0, duration_s=0.5, output_tokens=3, seed=1)
    level = asyncio.run(BenchRunner(config, synthetic_requests(4, 8, 3, 0)).run()).results[0]
    assert 1 <= level.requests_sent <= 60 and level.errors == 0
