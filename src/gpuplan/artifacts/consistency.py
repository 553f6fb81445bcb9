"""A hand-edited plan must still describe one deployment before it is rendered (issue #16 QA pass).

The renderer launches the candidate's ``engine_args`` and sizes Kubernetes resources from its GPU fields; a plan
edited by hand (``tensor_parallel_size: 3`` beside ``--tensor-parallel-size 4``, ``gpu_count: 7`` for a TP 4
layout, a GPU this gpuplan does not know) would otherwise render a launch that is not the deployment the plan sized,
priced and predicted. Plans the planner writes always pass: the checks compare fields the planner derives from one
object (STYLE §12).
"""

from __future__ import annotations

from gpuplan.errors import InvalidInputError
from gpuplan.planfile import Candidate

#: (flag, candidate field, value when the flag is absent or None to skip) per engine spelling (artifacts.engine_argv,
#: artifacts.ascend, the planner's TensorRT-LLM flags).
_FLAG_FIELDS = {
    "vllm": (("--tensor-parallel-size", "tensor_parallel_size"), ("--pipeline-parallel-size", "pipeline_parallel_size"),
             ("--data-parallel-size", "data_parallel_size"), ("--max-model-len", "max_model_len"),
             ("--max-num-seqs", "max_num_seqs"), ("--gpu-memory-utilization", "gpu_memory_utilization")),
    "sglang": (("--tp-size", "tensor_parallel_size"), ("--pp-size", "pipeline_parallel_size"),
               ("--dp-size", "data_parallel_size"), ("--context-length", "max_model_len"),
               ("--max-running-requests", "max_num_seqs"), ("--mem-fraction-static", "gpu_memory_utilization")),
}
_FLAG_FIELDS["vllm-ascend"] = _FLAG_FIELDS["vllm"]


def check_candidate(cand: Candidate) -> None:
    """One sentence when the candidate's fields and flags describe different deployments."""
    if cand.nodes > 1 and cand.gpu_count != cand.nodes * cand.gpus_per_node:
        raise InvalidInputError("qa.plan_inconsistent", what="gpu_count", given=cand.gpu_count,
                                other=f"nodes × gpus_per_node = {cand.nodes} × {cand.gpus_per_node}",
                                expected=cand.nodes * cand.gpus_per_node)
    if cand.disaggregation is None and cand.engine in _FLAG_FIELDS:
        dp = 1 if cand.enable_dp_attention else cand.data_parallel_size
        used = cand.tensor_parallel_size * cand.pipeline_parallel_size * dp
        if used != cand.gpu_count:
            raise InvalidInputError("qa.plan_inconsistent", what="gpu_count", given=cand.gpu_count,
                                    other=f"TP × PP × DP = {cand.tensor_parallel_size} × "
                                          f"{cand.pipeline_parallel_size} × {dp}", expected=used)
        for flag, field in _FLAG_FIELDS[cand.engine]:
            if flag not in cand.engine_args:
                continue
            want = getattr(cand, field)
            if field == "data_parallel_size" and cand.engine == "sglang":
                want = cand.data_parallel_size  # SGLang's --dp-size is the attention-DP width with DP-attention too
            value = cand.engine_args[flag]
            if want is not None and value != want:
                raise InvalidInputError("qa.plan_inconsistent", what=f"engine_args {flag}", given=value,
                                        other=field, expected=want)
