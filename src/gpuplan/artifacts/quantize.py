"""``engine/quantize.sh``: the quantization step a plan needs when the user allowed self-quantized formats.

Written only for candidates whose checkpoint is ``provided_by = "quantize-step"`` (catalog.checkpoints): the output
path is the checkpoint's own (the launch command loads exactly what this script writes).

* AWQ W4A16 with llm-compressor: ``oneshot`` with ``AWQModifier(scheme="W4A16_ASYM", targets=["Linear"],
  ignore=["lm_head"])`` on 256 ultrachat samples of 2048 tokens, saved compressed (compressed-tensors, which vLLM and
  SGLang detect from the config) — the recipe of the llm-compressor AWQ examples (docs.vllm.ai/projects/llm-compressor).
  MoE router gates stay unquantized (``re:.*mlp.gate$``), as in the llm-compressor MoE examples.
* GGUF with llama.cpp: ``convert_hf_to_gguf.py --outtype bf16``, then ``llama-quantize <in> <out> <TYPE>``
  (tools/quantize/README.md).

Memory: the 16-bit model (params × 2 bytes) is loaded (GPUs first, then host RAM, ``device_map="auto"``); GGUF needs
the same on disk for the intermediate BF16 file. Time is not published for these models: stated as unknown.
"""

from __future__ import annotations

import shlex

from gpuplan.artifacts.common import MODEL_CACHE_PATH, RenderContext, RenderedFile, hash_header
from gpuplan.i18n import t
from gpuplan.units import GIB

CALIBRATION_DATASET = "HuggingFaceH4/ultrachat_200k"
CALIBRATION_SAMPLES = 256
CALIBRATION_SEQ_TOKENS = 2048


def quantize_files(ctx: RenderContext) -> list[RenderedFile]:
    ref = ctx.cand.checkpoint
    if ref is None or ref.provided_by != "quantize-step":
        return []
    bf16_gib = f"{ctx.plan.model.params_total * 2 / GIB:,.1f}"
    head = "#!/usr/bin/env bash\n" + hash_header(ctx, t("checkpoint.qs_what", fmt=ctx.cand.weight_format))
    if ref.weight_format.startswith("gguf-"):
        body = _gguf(ctx, ref.file or "", bf16_gib)
    else:
        body = _awq(ctx, ref.repo, bf16_gib)
    return [RenderedFile("engine/quantize.sh", head + body, "shell")]


def _awq(ctx: RenderContext, out_dir: str, bf16_gib: str) -> str:
    ignore = ["lm_head"] + (["re:.*mlp.gate$"] if ctx.plan.model.params_active < ctx.plan.model.params_total else [])
    return (
        f"# {t('checkpoint.qs_memory_awq', gib=bf16_gib)}\n"
        f"# {t('checkpoint.qs_time_unknown')}\n"
        "# pip install llmcompressor datasets\n"
        "set -euo pipefail\n"
        f"export HF_HOME=\"${{HF_HOME:-{MODEL_CACHE_PATH}}}\"\n"
        f"python3 - {shlex.quote(ctx.model_id)} {shlex.quote(out_dir)} <<'PY'\n"
        "import sys\n"
        "from datasets import load_dataset\n"
        "from llmcompressor import oneshot\n"
        "from llmcompressor.modifiers.awq import AWQModifier\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "\n"
        "model_id, out_dir = sys.argv[1], sys.argv[2]\n"
        "model = AutoModelForCausalLM.from_pretrained(model_id, dtype=\"auto\", device_map=\"auto\")\n"
        "tokenizer = AutoTokenizer.from_pretrained(model_id)\n"
        f"ds = load_dataset({CALIBRATION_DATASET!r}, split=\"train_sft[:{CALIBRATION_SAMPLES}]\").shuffle(seed=42)\n"
        "ds = ds.map(lambda ex: {\"text\": tokenizer.apply_chat_template(ex[\"messages\"], tokenize=False)})\n"
        f"recipe = [AWQModifier(ignore={ignore!r}, scheme=\"W4A16_ASYM\", targets=[\"Linear\"])]\n"
        f"oneshot(model=model, dataset=ds, recipe=recipe, max_seq_length={CALIBRATION_SEQ_TOKENS},\n"
        f"        num_calibration_samples={CALIBRATION_SAMPLES})\n"
        "model.save_pretrained(out_dir, save_compressed=True)\n"
        "tokenizer.save_pretrained(out_dir)\n"
        "PY\n"
    )


def _gguf(ctx: RenderContext, out_file: str, bf16_gib: str) -> str:
    ftype = out_file.rsplit("-", 1)[-1].removesuffix(".gguf")
    bf16_file = out_file.rsplit("-", 1)[0] + "-BF16.gguf"
    return (
        f"# {t('checkpoint.qs_memory_gguf', gib=bf16_gib)}\n"
        f"# {t('checkpoint.qs_time_unknown')}\n"
        "# LLAMA_CPP: a llama.cpp checkout (convert_hf_to_gguf.py, pip install -r requirements.txt);\n"
        "# LLAMA_QUANTIZE: its llama-quantize binary.\n"
        "set -euo pipefail\n"
        f"export HF_HOME=\"${{HF_HOME:-{MODEL_CACHE_PATH}}}\"\n"
        ": \"${LLAMA_CPP:?LLAMA_CPP (path of a llama.cpp checkout)}\"\n"
        "hf_dir=\"$(python3 -c 'import sys; from huggingface_hub import snapshot_download; "
        f"print(snapshot_download(sys.argv[1]))' {shlex.quote(ctx.model_id)})\"\n"
        f"python3 \"$LLAMA_CPP/convert_hf_to_gguf.py\" \"$hf_dir\" --outtype bf16 --outfile {shlex.quote(bf16_file)}\n"
        f"\"${{LLAMA_QUANTIZE:-llama-quantize}}\" {shlex.quote(bf16_file)} {shlex.quote(out_file)} "
        f"{shlex.quote(ftype)}\n"
    )
