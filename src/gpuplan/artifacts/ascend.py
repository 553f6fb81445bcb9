"""Ascend serving engines (vLLM-Ascend): the engine flags a plan assumes and the launch command built from them.

Kept apart from :mod:`gpuplan.artifacts.engines` so it can move into the single argv module as one piece. Every
default comes from ``catalog/data/engines.toml`` ``[vllm_ascend]`` with its source; the device-plugin resource name
and the container image are the facts a Kubernetes or Compose target needs.
"""

from __future__ import annotations

from typing import Any

from gpuplan.catalog.checkpoints import DTYPE_FLAG
from gpuplan.catalog.datafiles import shipped_toml

# Huawei Ascend device plugin (github.com/Ascend/ascend-device-plugin): 910-class NPUs are requested as this resource.
ASCEND_RESOURCE = "huawei.com/Ascend910"
# Formats whose checkpoints come from msModelSlim and need ``--quantization ascend`` (vllm-ascend quantization guide).
MODELSLIM_FORMATS = ("int8", "w4a8")


def vllm_ascend_image(architecture: str | None = None) -> str:
    """The vLLM-Ascend container image (built FROM the CANN toolkit image; engines.toml gives both); the Atlas 300I
    (Ascend 310P) has an image of its own."""
    facts = shipped_toml("engines.toml")["vllm_ascend"]
    return str(facts["image_310p"] if architecture == "davinci-310p" else facts["image"])


def ascend_resource(architecture: str | None) -> str:
    """The device plugin's resource for one NPU: huawei.com/Ascend310P for the 310P (Ascend/ascend-for-volcano
    internal/vnpu/vnpuutil/type.go: NPU310PCardName = "huawei.com/Ascend310P"), else huawei.com/Ascend910."""
    return "huawei.com/Ascend310P" if architecture == "davinci-310p" else ASCEND_RESOURCE


def vllm_ascend_args(dep: Any, mem: Any, max_seqs: int) -> dict[str, Any]:
    """The flags of ``vllm serve`` on Ascend that the memory model assumed, keyed as vLLM spells them.

    Same EngineArgs as vLLM; the KV block size is written explicitly because vLLM-Ascend defaults it to 128 tokens
    (vllm_ascend/utils.py refresh_block_size), not vLLM's 16.
    """
    args: dict[str, Any] = {
        "--tensor-parallel-size": dep.tensor_parallel_size,
        "--pipeline-parallel-size": dep.pipeline_parallel_size,
        "--max-model-len": mem.context_tokens,
        "--gpu-memory-utilization": mem.engine_args["gpu_memory_utilization"],
        "--max-num-seqs": max_seqs,
        "--max-num-batched-tokens": mem.engine_args["max_num_batched_tokens"],
        "--block-size": mem.engine_args["block_size"],
    }
    if dep.data_parallel_size > 1:
        args["--data-parallel-size"] = dep.data_parallel_size
    if dep.weight_format in MODELSLIM_FORMATS:
        args["--quantization"] = "ascend"
    if dep.weight_format == "fp16":
        # An Ascend 310P has no BF16: a BF16 release is planned as fp16 and cast at load (engines.toml
        # [vllm_ascend].fp16_only_architectures); vLLM's own default ('auto') would keep the release's bf16.
        args["--dtype"] = DTYPE_FLAG["fp16"]
    return args


# Host driver files an Ascend container needs, read-only (vllm-ascend docs/source/installation.md, the `docker run`
# of the A2/A3 image: /usr/local/dcmi, npu-smi, the driver's lib64 and version.info, /etc/ascend_install.info).
ASCEND_DRIVER_MOUNTS = (
    "/usr/local/dcmi:/usr/local/dcmi:ro",
    "/usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro",
    "/usr/local/Ascend/driver/lib64/:/usr/local/Ascend/driver/lib64/:ro",
    "/usr/local/Ascend/driver/version.info:/usr/local/Ascend/driver/version.info:ro",
    "/etc/ascend_install.info:/etc/ascend_install.info:ro",
)
