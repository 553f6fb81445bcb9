"""Targets ``engine``, ``docker`` and ``compose``: launch scripts, Ollama Modelfile, Dockerfile, docker-compose."""

from __future__ import annotations

from gpuplan.artifacts.common import (
    BINARY_ENV,
    CONTAINER_BINARIES,
    MODEL_CACHE_PATH,
    RenderContext,
    RenderedFile,
    hash_header,
    load_time_s,
    shm_bytes,
    yaml_dump,
)
from gpuplan.artifacts.engines import Rendezvous, gguf_path, launch, ollama_setup, shell_join, vllm_dp_local
from gpuplan.i18n import t
from gpuplan.units import GIB


def _notes_block(notes: tuple[str, ...]) -> str:
    return "".join(f"# {t('render.note_prefix')}: {n}\n" for n in notes)


def engine_files(ctx: RenderContext) -> list[RenderedFile]:
    """engine/serve.sh (or serve-node.sh for multi-node), plus Ollama files for GGUF plans."""
    out: list[RenderedFile] = []
    if ctx.multi_node:
        rdv = Rendezvous(nnodes=ctx.cand.nodes, node_rank="$NODE_RANK", leader_addr="$LEADER_ADDR",
                         dp_start_rank=f"$((NODE_RANK * {vllm_dp_local(ctx)}))")
        la = launch(ctx, rdv)
        body = shell_join(la.argv, keep_vars=True)
        headless = ""
        if ctx.engine == "vllm":
            headless = 'if [ "$NODE_RANK" -gt 0 ]; then set -- --headless "$@"; fi\n'
        text = (
            "#!/usr/bin/env bash\n" + hash_header(ctx, t("render.what_engine_multinode"))
            + _notes_block(la.notes)
            + f"# {t('render.usage_multinode', nodes=ctx.cand.nodes)}\n"
            + "set -euo pipefail\n"
            + ': "${NODE_RANK:?NODE_RANK (0 on the leader, 1..N-1 on the others)}"\n'
            + ': "${LEADER_ADDR:?LEADER_ADDR (IP or DNS name of the rank-0 node)}"\n'
            + f"export HF_HOME=\"${{HF_HOME:-{MODEL_CACHE_PATH}}}\"\n"
            + headless
            + f"exec {body} \\\n  \"$@\"\n"
        )
        out.append(RenderedFile("engine/serve-node.sh", text, "shell"))
    elif ctx.engine == "ollama":
        out.append(RenderedFile("engine/serve.sh", _ollama_script(ctx), "shell"))
    else:
        la = launch(ctx)
        argv = la.argv
        if ctx.engine in BINARY_ENV:  # e.g. ${LLAMA_SERVER:-llama-server}: the Dockerfile points it at the image's binary
            argv = (f"${{{BINARY_ENV[ctx.engine]}:-{argv[0]}}}", *argv[1:])
        text = (
            "#!/usr/bin/env bash\n" + hash_header(ctx, t("render.what_engine"))
            + _notes_block(la.notes)
            + "set -euo pipefail\n"
            + f"export HF_HOME=\"${{HF_HOME:-{MODEL_CACHE_PATH}}}\"\n"
            + f"exec {shell_join(argv, keep_vars=True)} \\\n  \"$@\"\n"
        )
        out.append(RenderedFile("engine/serve.sh", text, "shell"))
        for name, content in la.config_files.items():
            out.append(RenderedFile(f"engine/{name}", hash_header(ctx, name) + content, "yaml"))
    if ctx.engine in ("llama.cpp", "ollama"):
        out += ollama_files(ctx)
    return out


def ollama_inline(ctx: RenderContext) -> str:
    """The Ollama start script with its Modelfile inlined (a heredoc), for containers that only get a command."""
    modelfile = ollama_files(ctx)[0].content
    script = _ollama_script(ctx).replace('"$here/ollama/Modelfile"', "/tmp/Modelfile")
    body = script.split("set -euo pipefail\n", 1)[1].replace('here="$(cd "$(dirname "$0")" && pwd)"\n', "")
    return "set -euo pipefail\ncat > /tmp/Modelfile <<'MODELFILE'\n" + modelfile + "MODELFILE\n" + body


def _ollama_script(ctx: RenderContext) -> str:
    """Start the Ollama server, create the model from engine/ollama/Modelfile, keep serving."""
    o = ollama_setup(ctx)
    env = []
    if o.num_parallel is not None:
        env.append(f"export OLLAMA_NUM_PARALLEL={o.num_parallel}\n")
    if o.kv_cache_type is not None:
        env.append(f"export OLLAMA_KV_CACHE_TYPE={o.kv_cache_type}\n")
        env.append("export OLLAMA_FLASH_ATTENTION=1  # quantized KV cache needs flash attention (docs/faq.mdx)\n")
    name = ctx.name
    return (
        "#!/usr/bin/env bash\n" + hash_header(ctx, t("render.what_ollama")) + "set -euo pipefail\n"
        + 'here="$(cd "$(dirname "$0")" && pwd)"\n'
        + "".join(env)
        + "export OLLAMA_HOST=\"${OLLAMA_HOST:-0.0.0.0:11434}\"\n"
        + "ollama serve &\n"
        + "server_pid=$!\n"
        + "until ollama list >/dev/null 2>&1; do sleep 1; done\n"
        + f'ollama create {name} -f "$here/ollama/Modelfile"\n'
        + f"echo \"ready: ollama run {name}\"\n"
        + 'wait "$server_pid"\n'
    )


def ollama_files(ctx: RenderContext) -> list[RenderedFile]:
    """Ollama Modelfile + commands carrying the same context, layers, slots and KV type as the llama.cpp plan."""
    o = ollama_setup(ctx)
    lines = [hash_header(ctx, t("render.what_modelfile")), f"FROM {gguf_path(ctx)}\n"]
    if o.num_ctx is not None:
        lines.append(f"PARAMETER num_ctx {o.num_ctx}\n")
    if o.num_gpu is not None:
        lines.append(f"PARAMETER num_gpu {o.num_gpu}\n")
    modelfile = "".join(lines)
    files = [RenderedFile("engine/ollama/Modelfile", modelfile, "modelfile")]
    if ctx.engine != "ollama":  # for an Ollama plan the same script is engine/serve.sh
        script = _ollama_script(ctx).replace('"$here/ollama/Modelfile"', '"$here/Modelfile"')
        files.append(RenderedFile("engine/ollama/run.sh", script, "shell"))
    return files


def dockerfile(ctx: RenderContext) -> list[RenderedFile]:
    """FROM the engine image; the launch script baked in as the entrypoint (serve.sh or serve-node.sh)."""
    script = "serve-node.sh" if ctx.multi_node else "serve.sh"
    shell = "SHELL [\"/bin/bash\", \"-c\"]\n"
    binary_env = ""
    if ctx.engine in BINARY_ENV:
        binary_env = f"ENV {BINARY_ENV[ctx.engine]}={CONTAINER_BINARIES[ctx.engine]}\n"
    text = (
        hash_header(ctx, t("render.what_dockerfile"))
        + f"FROM {ctx.image}\n"
        + shell
        + f"ENV HF_HOME={MODEL_CACHE_PATH}\n"
        + binary_env
        + "COPY engine/ /opt/gpuplan/engine/\n"
        + f"RUN chmod +x /opt/gpuplan/engine/{script}\n"
        + f"EXPOSE {ctx.port}\n"
        + f"VOLUME [\"{MODEL_CACHE_PATH}\"]\n"
        + f"ENTRYPOINT [\"/opt/gpuplan/engine/{script}\"]\n"
    )
    return [RenderedFile("docker/Dockerfile", text, "dockerfile")]


def _compose_gpus(ctx: RenderContext) -> dict:
    """How a compose service gets the plan's accelerators.

    NVIDIA: a device reservation with driver nvidia and capabilities [gpu] (docs.docker.com compose GPU support).
    AMD ROCm: /dev/kfd and /dev/dri passed through, group video, seccomp unconfined (vLLM docs, ROCm install).
    Ascend: /dev/davinciN plus /dev/davinci_manager, /dev/devmm_svm, /dev/hisi_hdc (Ascend docker runtime).
    """
    n = ctx.gpus_per_node
    if ctx.vendor == "amd":
        return {"devices": ["/dev/kfd", "/dev/dri"], "group_add": ["video"],
                "security_opt": ["seccomp=unconfined"]}
    if ctx.vendor == "huawei":
        return {"devices": [f"/dev/davinci{i}" for i in range(n)]
                + ["/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc"]}
    return {"deploy": {"resources": {"reservations": {"devices": [
        {"driver": "nvidia", "count": n, "capabilities": ["gpu"]}]}}}}


def _health_test(ctx: RenderContext) -> list[str]:
    """A health command that exists in the engine image: python3 in the vLLM/SGLang/TRT-LLM images, curl in
    llama.cpp's server image (its Dockerfile's own HEALTHCHECK uses curl), the ollama CLI in Ollama's."""
    if ctx.engine == "ollama":
        return ["CMD", "ollama", "list"]
    url = f"http://localhost:{ctx.port}/health"
    if ctx.engine == "llama.cpp":
        return ["CMD", "curl", "-fsS", url]
    return ["CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen('{url}', timeout=4)"]


def compose(ctx: RenderContext) -> list[RenderedFile]:
    """docker-compose.yml for single-node plans (multi-node plans use Kubernetes LWS or one compose per node)."""
    c = ctx.cand
    health_s = int(load_time_s(ctx))
    service: dict = {
        "build": {"context": "..", "dockerfile": "docker/Dockerfile"},
        "image": f"gpuplan/{ctx.name}:{c.engine.replace('.', '')}",
        "ports": [f"{ctx.port}:{ctx.port}"],
        "ipc": "host",
        "shm_size": f"{shm_bytes(ctx) // GIB}gb",
        "ulimits": {"memlock": -1, "stack": 67108864},
        "volumes": [f"model-cache:{MODEL_CACHE_PATH}"],
        "environment": {"HF_TOKEN": "${HF_TOKEN:-}"},
        **_compose_gpus(ctx),
        "healthcheck": {
            "test": _health_test(ctx),
            "interval": "30s", "timeout": "5s", "retries": 3, "start_period": f"{health_s}s"},
        "restart": "unless-stopped",
    }
    if ctx.vendor == "huawei":
        from gpuplan.artifacts.ascend import ASCEND_DRIVER_MOUNTS

        service["volumes"] += list(ASCEND_DRIVER_MOUNTS)
    if ctx.multi_node:
        service["environment"].update({"NODE_RANK": "${NODE_RANK:?set NODE_RANK}",
                                       "LEADER_ADDR": "${LEADER_ADDR:?set LEADER_ADDR}"})
        service["network_mode"] = "host"
        del service["ports"]
    doc = {"services": {"engine": service}, "volumes": {"model-cache": {}}}
    text = hash_header(ctx, t("render.what_compose")) + yaml_dump(doc)
    return [RenderedFile("docker/docker-compose.yml", text, "yaml")]
