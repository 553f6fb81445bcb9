"""Percentiles, TPOT, goodput and SSE parsing of the bench client, checked against their published definitions."""

from __future__ import annotations

import numpy as np
import pytest

from gpuplan.bench.client import _absorb, _StreamFault, _StreamState, normalize_base_url
from gpuplan.bench.models import RequestRecord, SloTarget
from gpuplan.bench.stats import level_result, percentile, summarize, tpot_s
from gpuplan.errors import InvalidInputError


@pytest.mark.parametrize("q", [50, 90, 99])
def test_percentile_matches_numpy_linear(q):
    # numpy.percentile default method 'linear' (numpy docs, numpy.org/doc/stable/reference/generated/numpy.percentile)
    # is the definition vLLM's benchmark_serving uses (np.percentile); exact up to float rounding.
    values = sorted(np.random.default_rng(7).exponential(0.1, size=101).tolist())
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12)


def test_summarize_empty_is_unknown():
    s = summarize([])
    assert (s.p50, s.p90, s.p99, s.mean, s.count) == (None, None, None, None, 0)


def test_tpot_definition():
    # vLLM benchmarks/serve.py: tpot = (latency - ttft) / (output_len - 1); 1 token has no TPOT.
    assert tpot_s(e2e_s=1.1, ttft_s=0.1, output_tokens=11) == pytest.approx(0.1)
    assert tpot_s(e2e_s=0.2, ttft_s=0.2, output_tokens=1) is None


def _rec(i, ok=True, ttft=0.1, tpot=0.01, out=10, kind=None):
    return RequestRecord(level_index=0, request_index=i, start_s=0.0, ok=ok, error_kind=kind,
                         ttft_s=ttft if ok else None, e2e_s=(ttft + tpot * (out - 1)) if ok else None,
                         tpot_s=tpot if ok else None, itl_s=(tpot,) * (out - 1) if ok else (),
                         input_tokens=5 if ok else None, output_tokens=out if ok else 0)


def test_level_result_goodput_and_errors():
    records = [_rec(0), _rec(1, ttft=0.5), _rec(2, ok=False, kind="http_5xx"), _rec(3, ok=False, kind="timeout")]
    level = level_result(records, mode="concurrency", duration_s=2.0, slo=SloTarget(ttft_s=0.2), concurrency=2)
    assert (level.requests_completed, level.errors) == (2, 2)
    assert level.error_kinds == {"http_5xx": 1, "timeout": 1}
    assert level.output_tokens_per_s == pytest.approx(20 / 2.0)  # 2 good requests x 10 tokens over 2 s
    assert level.goodput_requests_per_s == pytest.approx(1 / 2.0)  # only request 0 meets TTFT <= 0.2 s
    assert level.goodput_fraction == pytest.approx(1 / 4)


def test_sse_payloads():
    state = _StreamState()
    _absorb(state, '{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}', 1.0)
    _absorb(state, '{"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}', 1.5)
    _absorb(state, '{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}', 2.0)
    _absorb(state, '{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}', 2.1)
    _absorb(state, "[DONE]", 2.2)
    assert state.token_times_s == [1.0, 1.5]
    assert (state.usage_input_tokens, state.usage_output_tokens, state.finished, state.done) == (7, 3, True, True)
    with pytest.raises(_StreamFault) as bad:
        _absorb(_StreamState(), "{not json", 0.0)
    assert bad.value.kind == "malformed_sse"
    with pytest.raises(_StreamFault) as err:
        _absorb(_StreamState(), '{"error":{"message":"boom"}}', 0.0)
    assert err.value.kind == "stream_error"


@pytest.mark.parametrize(("given", "expected"), [
    ("http://h:8000", "http://h:8000/v1"), ("http://h:8000/", "http://h:8000/v1"),
    ("http://h:8000/v1/", "http://h:8000/v1"), ("https://x.y/proxy/v1/chat/completions", "https://x.y/proxy/v1"),
])
def test_normalize_base_url(given, expected):
    assert normalize_base_url(given) == expected


def test_bad_url_sentence():
    with pytest.raises(InvalidInputError) as exc:
        normalize_base_url("localhost:8000")
    assert "localhost:8000" in str(exc.value) and "http://" in str(exc.value)
