"""The bench client against a real OpenAI-compatible server: llama.cpp's, via llama-cpp-python
(``python -m llama_cpp.server``), serving a tiny random-weight llama GGUF that this test writes with
``gguf.GGUFWriter`` (2 layers, hidden 64, a 300-token SentencePiece-style vocab). Nothing is downloaded.

Skipped when llama-cpp-python (with its ``[server]`` extra) is not installed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] not installed")
gguf = pytest.importorskip("gguf")

from gpuplan.bench.fakeserver import free_port, wait_for_http  # noqa: E402
from gpuplan.bench.models import BenchConfig  # noqa: E402
from gpuplan.bench.runner import BenchRunner  # noqa: E402
from gpuplan.bench.workload import RequestSpec, synthetic_requests  # noqa: E402

N_CTX = 512


def write_tiny_llama(path, n_embd=64, n_layer=2, n_head=4, n_ff=128, seed=0) -> None:
    """A llama-architecture GGUF llama.cpp loads: hparams, an SPM vocab (control, 256 byte tokens, words), F32 weights."""
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("gpuplan-tiny-test")
    w.add_context_length(N_CTX)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    words = ["▁" + c for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz")
    words += ["▁the", "▁of", "▁and", "▁to", "▁in", "▁is", "▁you", "▁that", "▁it", "▁he", "▁was", "▁for"]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + words
    types = ([gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
             + [gguf.TokenType.NORMAL] * len(words))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * 259 + [-float(i) for i in range(len(words))])
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    n_vocab = len(tokens)
    w.add_tensor("token_embd.weight", rand(n_vocab, n_embd))
    w.add_tensor("output_norm.weight", np.ones(n_embd, np.float32))
    w.add_tensor("output.weight", rand(n_vocab, n_embd))
    for i in range(n_layer):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(f"blk.{i}.{name}.weight", rand(n_embd, n_embd))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", rand(n_ff, n_embd))
        w.add_tensor(f"blk.{i}.ffn_up.weight", rand(n_ff, n_embd))
        w.add_tensor(f"blk.{i}.ffn_down.weight", rand(n_embd, n_ff))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    model = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_tiny_llama(model)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", str(N_CTX),
         # default True: a new request cuts the running stream short (our client then reports 'no_tokens')
         "--interrupt_requests", "False"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v1/models", 60, proc)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_bench_llamacpp_server(llama_server, api):
    url, _ = llama_server
    config = BenchConfig(url=url, model="tiny", api=api, concurrency_levels=(1, 2), num_requests=4, input_tokens=16,
                         output_tokens=8)
    report = asyncio.run(BenchRunner(config, synthetic_requests(4, 16, 8, 0)).run())
    for level in report.results:
        assert level.errors == 0 and level.requests_completed == 4
        assert level.ttft_s.p50 is not None and level.ttft_s.p50 > 0
        assert 0 < level.output_tokens_total <= 4 * 8


def test_prompt_longer_than_context_is_classified(llama_server):
    # llama-cpp-python 0.3.36 answers a streamed request whose prompt exceeds n_ctx with 200 and an empty SSE body
    # (the ValueError "Requested tokens ... exceed context window" stays in the server log): a truncated stream.
    url, _ = llama_server
    too_long = RequestSpec(prompt=" the" * (2 * N_CTX), input_tokens=2 * N_CTX, output_tokens=4)
    config = BenchConfig(url=url, model="tiny", concurrency_levels=(1,), num_requests=1, output_tokens=4)
    level = asyncio.run(BenchRunner(config, [too_long]).run()).results[0]
    assert level.requests_completed == 0
    assert level.error_kinds == {"truncated": 1}


def test_server_killed_between_levels(llama_server, tmp_path):
    # last test of the module: the real server dies; later requests count as connect errors, nothing crashes
    url, proc = llama_server
    proc.kill()
    proc.wait()
    config = BenchConfig(url=url, model="tiny", concurrency_levels=(2,), num_requests=2, output_tokens=4)
    level = asyncio.run(BenchRunner(config, synthetic_requests(2, 8, 4, 0)).run()).results[0]
    assert level.error_kinds == {"connect": 2}
