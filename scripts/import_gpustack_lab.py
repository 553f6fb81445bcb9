#!/usr/bin/env python
"""Turn GPUStack performance-lab pages into calibration rows (normalized CSV + a sources file with a quote per row).

Usage:
    python scripts/import_gpustack_lab.py GPUSTACK_REPO_DIR COMMIT --out tests/data/calibration/gpustack-normalized.csv

GPUSTACK_REPO_DIR is a git checkout (or bare mirror) of github.com/gpustack/gpustack; pages are read at COMMIT with
``git show``. Each "Serving Benchmark Result" block of `vllm bench serve` becomes one ``output_tokens_per_s`` row. Its
batch is the client's concurrency limit, "Maximum request concurrency" (``--max-concurrency``), when the block states
one, else all its prompts (sent at once without one). "Peak concurrent requests" is not the batch: vLLM's bench counts
requests whose intervals overlap, so a client held to 4 in flight reports 7-11 (e.g. qwen3-30b-a3b/910b.md L322-L329:
"Maximum request concurrency: 4" and "Peak concurrent requests: 7.00"); nor is it what the engine ran, only what the
client had outstanding. The other columns: input/output tokens are the block's
totals divided by its successful requests; the engine, tensor-parallel size and weights come from the last serving
command above the block; the engine version from the page's "Engine Version" list. Blocks that gpuplan's dataset
format cannot express are skipped and counted: expert parallelism, data parallelism, DP-attention, speculative
decoding, non-default attention backends, LMCache, crashes. Rows that repeat an existing dataset row (same model
and value) are skipped. The script is a data fetcher kept outside the package (STYLE.md).
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from pathlib import Path

PAGES = {
    # page: (model id in gpuplan's catalog, GPU id, note)
    "deepseek-r1/h200.md": ("deepseek-ai/DeepSeek-R1-0528", "h200-sxm", ""),
    "deepseek-v3.2/h200.md": ("deepseek-ai/DeepSeek-V3.2", "h200-sxm", ""),
    "qwen3-235b-a22b/h100.md": ("Qwen/Qwen3-235B-A22B", "h100-sxm", "Qwen3-235B-A22B-Instruct-2507: same architecture"),
    "qwen3-235b-a22b/a100.md": ("Qwen/Qwen3-235B-A22B", "a100-80gb-sxm",
                                "Qwen3-235B-A22B-Instruct-2507: same architecture"),
    "gpt-oss-120b/h100.md": ("openai/gpt-oss-120b", "h100-sxm", ""),
    "gpt-oss-120b/a100.md": ("openai/gpt-oss-120b", "a100-80gb-sxm", ""),
    "gpt-oss-20b/h100.md": ("openai/gpt-oss-20b", "h100-sxm", ""),
    "gpt-oss-20b/a100.md": ("openai/gpt-oss-20b", "a100-80gb-sxm", ""),
    "glm-4.x/h200.md": ("zai-org/GLM-4.5", "h200-sxm", "UNSURE: measured on GLM-4.6, whose config.json has GLM-4.5's "
                        "architecture (92 layers, 160 routed experts, hidden 5120); mapped to the GLM-4.5 entry"),
    "glm-4.x/h100.md": ("zai-org/GLM-4.5", "h100-sxm", "UNSURE: GLM-4.6 measured, mapped to GLM-4.5 (same architecture)"),
    "glm-4.x/a100.md": ("zai-org/GLM-4.5", "a100-80gb-sxm",
                        "UNSURE: GLM-4.6 measured, mapped to GLM-4.5 (same architecture)"),
    # Appended later (ids of the rows above stay as they were): Ascend 910B with vLLM-Ascend, the convention of
    # public-2's N076-N081 (engine vllm, engine_version "vllm-ascend X"); MindIE blocks are skipped.
    "qwen3-30b-a3b/910b.md": ("Qwen/Qwen3-30B-A3B", "ascend-910b", ""),
    "qwen3-8b/910b.md": ("Qwen/Qwen3-8B", "ascend-910b",
                         "the page's Model section names Qwen/Qwen3-30B-A3B, but its commands serve Qwen/Qwen3-8B"),
}
ENGINE_NAMES = {"vllm": "vllm", "sglang": "sglang", "tensorrt-llm": "trtllm"}
SKIP_FLAGS = ("--enable-expert-parallel", "--ep-size", " --ep ", "--enable-dp-attention", "--dp-size", "--dp ",
              "--data-parallel-size", "-dp ", "speculative", "lmcache", "LMCache", "kv-transfer", "ATTENTION_BACKEND",
              "--attention-backend", "--enable-eplb", "--moe-a2a-backend", "--deepep", "--enable-two-batch-overlap",
              "--disaggregation", "--ep_size")
FIELDS = ("id,task,model,weight_format,kv_dtype,gpu,gpu_count,engine,tensor_parallel_size,batch,input_tokens,"
          "output_tokens,metric,value,host,engine_version,source_id").split(",")


def git_show(repo: Path, commit: str, path: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "show", f"{commit}:docs/performance-lab/{path}"], check=True,
                          capture_output=True, text=True).stdout


def engine_versions(text: str) -> dict[str, str]:
    out = {}
    sec = re.search(r"### Engine Version\n(.*?)\n###", text, re.S)
    for line in (sec.group(1) if sec else "").splitlines():
        m = re.match(r"\s*-\s*([A-Za-z\-]+):\s*v?([0-9][\w.\-]*)", line)
        if m and m.group(1).lower() in ENGINE_NAMES:
            out[ENGINE_NAMES[m.group(1).lower()]] = m.group(2)
        elif m and m.group(1).lower() == "vllm-ascend":
            out.setdefault("vllm", f"vllm-ascend {m.group(2)}")
    return out


def parse_command(cmd: str) -> dict | None:
    """Engine, TP and weights of a serving command; None when the layout cannot be expressed."""
    if any(f in cmd + " " for f in SKIP_FLAGS):
        return None
    if "sglang" in cmd:
        engine = "sglang"
    elif "trtllm-serve" in cmd:
        engine = "trtllm"
    elif "vllm serve" in cmd:
        engine = "vllm"
    else:
        return None
    tp = 1
    m = re.search(r"(?:-tp|--tp-size|--tp_size|--tp|--tensor-parallel-size)[ =](\d+)", cmd)
    if m:
        tp = int(m.group(1))
    # Pipeline parallelism (vllm serve -pp 2, gpt-oss-120b/h100.md L274) spans tp x pp GPUs.
    m = re.search(r"(?:-pp|--pipeline-parallel-size|--pp-size|--pp_size)[ =](\d+)", cmd)
    pp = int(m.group(1)) if m else 1
    model = (re.search(r"(?:vllm serve|--model-path|--model|trtllm-serve)\s+(\S+)", cmd) or [None, ""])[1]
    if "AWQ" in model.upper():
        fmt = "awq-int4"
    elif "FP8" in model.upper():
        fmt = "fp8-block"
    elif re.search(r"--quantization[ =]fp8", cmd):
        fmt = "fp8"
    else:
        fmt = "native"
    kv = "fp8" if re.search(r"--kv-cache-dtype[ =]fp8", cmd) else ""
    return {"engine": engine, "tp": tp, "pp": pp, "fmt": fmt, "kv": kv, "cmd": cmd.strip()}


def blocks(text: str):
    """(serving command, result block text, line number) in page order."""
    lines = text.splitlines()
    cmd = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if ("vllm serve" in line or "sglang.launch_server" in line or "trtllm-serve" in line
                or "mindie serve" in line) and "bench" not in line:
            full = line
            while full.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                full = full.rstrip()[:-1] + " " + lines[i].strip()
            cmd = full
        if "Serving Benchmark Result" in line:
            j = i + 1
            while j < len(lines) and "=====" not in lines[j]:
                j += 1
            yield cmd, "\n".join(lines[i:j + 1]), i + 1
            i = j
        i += 1


def number(block: str, label: str) -> float | None:
    m = re.search(re.escape(label) + r":\s*([0-9.]+)", block)
    return float(m.group(1)) if m else None


def _admission(block: str) -> str:
    """How the burst went, as the block states it (not a row column): the engine's peak output rate beside the
    average, and the mean time to first token (seconds of queueing when far above a prefill)."""
    parts = [f"'{label}: {v:g}'" for label in ("Benchmark duration (s)", "Peak output token throughput (tok/s)",
                                                "Mean TTFT (ms)", "Median TPOT (ms)")
             if (v := number(block, label)) is not None]
    return f"- Run: {', '.join(parts)}\n" if parts else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo", type=Path)
    ap.add_argument("commit")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--existing", type=Path, nargs="*", default=[])
    args = ap.parse_args(argv)
    seen = set()
    for p in args.existing:
        for r in csv.DictReader(p.open(encoding="utf-8")):
            seen.add((r["model"], f'{float(r["value"]):g}'))
    rows, quotes, skipped = [], [], {}
    n = 0
    for page, (model, gpu, note) in PAGES.items():
        text = git_show(args.repo, args.commit, page)
        versions = engine_versions(text)
        for cmd, block, line in blocks(text):
            parsed = parse_command(cmd or "")
            ok = number(block, "Successful requests")
            out_tps = number(block, "Output token throughput (tok/s)")
            if parsed is None or not ok or not out_tps:
                skipped[page] = skipped.get(page, 0) + 1
                continue
            inp = round(number(block, "Total input tokens") / ok)
            out = round(number(block, "Total generated tokens") / ok)
            limit = number(block, "Maximum request concurrency")
            batch = int(limit or ok)
            value = f"{out_tps:g}"
            if (model, value) in seen:  # any engine name: another file may spell vLLM-Ascend "vllm-ascend"
                skipped[page] = skipped.get(page, 0) + 1
                continue
            seen.add((model, value))
            n += 1
            rid = f"G{n:03d}"
            rows.append({"id": rid, "task": "serving", "model": model, "weight_format": parsed["fmt"],
                         "kv_dtype": parsed["kv"], "gpu": gpu, "gpu_count": parsed["tp"] * parsed["pp"], "engine": parsed["engine"],
                         "tensor_parallel_size": parsed["tp"], "batch": batch, "input_tokens": inp,
                         "output_tokens": out, "metric": "output_tokens_per_s", "value": value, "host": "",
                         "engine_version": versions.get(parsed["engine"], ""), "source_id": rid})
            url = f"https://github.com/gpustack/gpustack/blob/{args.commit}/docs/performance-lab/{page}#L{line}"
            quotes.append(f"### {rid} — {model} · {gpu}×{parsed['tp'] * parsed['pp']} · {parsed['engine']} "
                          f"{versions.get(parsed['engine'], '?')} · batch {batch} · {inp}/{out} · "
                          f"output_tokens_per_s = {value}\n- Source: {url}\n- Command: `{parsed['cmd']}`\n"
                          f"- Quote: 'Successful requests: {ok:g}', 'Output token throughput (tok/s): {value}', "
                          + (f"'Maximum request concurrency: {batch}'\n" if limit else
                             f"'Successful requests: {ok:g}' sent at once (no 'Maximum request concurrency')\n")
                          + _admission(block)
                          + (f"- Note: {note}\n" if note else ""))
    with args.out.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    stem = args.out.name.removesuffix(".csv").removesuffix("-normalized")
    src = args.out.with_name(stem + "-sources.md")
    src.write_text("# GPUStack performance-lab rows (written by scripts/import_gpustack_lab.py)\n\n"
                   "Each row: one `vllm bench serve` result block, with the serving command above it. The batch is "
                   "the block's 'Maximum request concurrency' (the client's --max-concurrency) when it states one, "
                   "else all its prompts, sent at once; that is what the client had in flight, not what the engine "
                   "ran (an engine admits what its KV cache and limits allow and queues the rest). Tokens are the "
                   "block's totals over its successful requests. Accessed 2026-12-05.\n\n" + "\n".join(quotes), encoding="utf-8")
    print(f"{len(rows)} rows; skipped per page: {skipped}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
