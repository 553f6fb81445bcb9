"""Print transformers' own parameter counts for every catalog model, as JSON.

Each model is instantiated from its catalog ``config`` on the meta device (no weights, no remote code):
``quantization_config`` and ``auto_map`` are removed, ``AutoConfig.for_model(model_type, **config)`` builds the
config (``kimi_k2`` is built as ``deepseek_v3``: Kimi's remote code subclasses ``DeepseekV3Config``), and
``AutoModelForCausalLM.from_config`` builds the model. Counting rules (shared/reference/configs/CONFIGS.md,
"How the counts were made"):

- total = ``sum(p.numel() for p in model.parameters())`` (parameters() yields a tied tensor once);
- routed experts = parameters whose name contains ``.experts.`` (fused ``[E, ...]`` tensors), also per layer;
- active = total - routed + sum over MoE layers of routed_layer * k / E;
- router bias = the ``e_score_correction_bias`` buffers (stored in checkpoints, not parameters in transformers);
- MTP / next-n layers are never built by transformers. For deepseek_v3 / deepseek_v32 / glm4_moe the size of one
  next-n layer is measured as (model with L+1 layers) - (model with L layers) + ``eh_proj`` (2 H^2) + 3 norms
  (enorm, hnorm, shared_head.norm); for deepseek_v4 as (L+1) - (L) with the extra layer's attention kind taken
  from the last ``compress_ratios`` entry, + ``e_proj`` and ``h_proj`` (2 H^2) + 3 norms (enorm, hnorm, norm) +
  the MTP's own hyper-connection head (hc_mult * hc_mult * H + hc_mult + 1). The router bias of the MTP layer
  is reported apart. Duplicated embedding / head copies stored inside some MTP checkpoints are not counted.

Usage: ``python scripts/transformers_param_counts.py [--out tests/data/transformers_param_counts.json] [ID ...]``
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "gpuplan" / "catalog" / "data" / "models"
BUILD_AS = {"kimi_k2": "deepseek_v3"}
MTP_V3_STYLE = {"deepseek_v3", "deepseek_v32", "glm4_moe"}
_LAYER_RE = re.compile(r"\.layers\.(\d+)\.")


def catalog_entries() -> list[dict]:
    """Every model entry of every family file, in file order."""
    entries = []
    for path in sorted(MODELS_DIR.glob("*.json")):
        entries.extend(json.loads(path.read_text())["models"])
    return entries


def build_model_type(config: dict) -> str:
    """The transformers model_type used to build a catalog config."""
    return BUILD_AS.get(config["model_type"], config["model_type"])


def can_build(config: dict) -> bool:
    """True when the installed transformers has a config class for the model type."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return build_model_type(config) in CONFIG_MAPPING_NAMES


def hf_config(config: dict, **overrides):
    """A transformers config object from a catalog config (quantization_config and auto_map dropped)."""
    from transformers import AutoConfig

    cfg = {k: v for k, v in config.items() if k not in ("quantization_config", "auto_map", "model_type")}
    cfg.update(overrides)
    return AutoConfig.for_model(build_model_type(config), **cfg)


def build_meta(config: dict, **overrides):
    """Instantiate the causal-LM model on the meta device (no memory, no weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    hc = hf_config(config, **overrides)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hc)
    return hc, model


def num_experts(hc) -> int:
    """E, the routed experts per MoE layer, whatever the config calls it."""
    for name in ("n_routed_experts", "num_local_experts", "num_experts"):
        value = getattr(hc, name, None)
        if value:
            return int(value)
    return 0


def experts_per_token(hc) -> int:
    """k, the routed experts each token uses."""
    for name in ("num_experts_per_tok", "experts_per_token"):
        value = getattr(hc, name, None)
        if value:
            return int(value)
    return 0


def count_model(hc, model) -> dict:
    """Counts for one built model: total, routed (and per layer), shared, embed, lm_head, router bias, active."""
    total = routed = shared = 0
    routed_by_layer: dict[int, int] = {}
    for name, p in model.named_parameters():
        n = p.numel()
        total += n
        if ".experts." in name:
            routed += n
            m = _LAYER_RE.search(name)
            layer = int(m.group(1)) if m else -1
            routed_by_layer[layer] = routed_by_layer.get(layer, 0) + n
        elif "shared_expert" in name:
            shared += n
    router_bias = sum(
        b.numel() for name, b in model.named_buffers() if name.endswith("e_score_correction_bias")
    )
    embed = model.get_input_embeddings().weight.numel()
    out = model.get_output_embeddings()
    lm_head = out.weight.numel() if out is not None else 0
    tied = out is not None and out.weight is model.get_input_embeddings().weight
    e, k = num_experts(hc), experts_per_token(hc)
    active = total - routed + (sum(v * k // e for v in routed_by_layer.values()) if e else 0)
    return {
        "params_total": total,
        "params_routed_experts": routed,
        "params_routed_per_layer": {str(i): v for i, v in sorted(routed_by_layer.items())},
        "params_shared_experts": shared,
        "params_embed": embed,
        "params_lm_head": lm_head,
        "tied_embeddings": tied,
        "params_active": active,
        "buffers_router_bias": router_bias,
        "num_experts": e,
        "experts_per_token": k,
        "num_moe_layers": len(routed_by_layer),
    }


def mtp_layer_params(config: dict, total_l: int) -> dict | None:
    """Size of one MTP / next-n layer (see the module docstring), or None for models without one."""
    n_mtp = int(config.get("num_nextn_predict_layers") or 0)
    mt = config["model_type"]
    if n_mtp == 0 or mt not in MTP_V3_STYLE | {"deepseek_v4"}:
        return None
    layers = int(config["num_hidden_layers"])
    hidden = int(config["hidden_size"])
    overrides = {"num_hidden_layers": layers + 1}
    if mt == "deepseek_v4":
        ratios = list(config["compress_ratios"])
        overrides["compress_ratios"] = ratios[: layers + 1]
    hc, bigger = build_meta(config, **overrides)
    layer = sum(p.numel() for p in bigger.parameters()) - total_l
    bias = sum(b.numel() for name, b in bigger.named_buffers() if name.endswith("e_score_correction_bias"))
    del bigger
    gc.collect()
    extra = 2 * hidden * hidden + 3 * hidden
    if mt == "deepseek_v4":
        mult = int(config["hc_mult"])
        extra += mult * mult * hidden + mult + 1
    return {
        "params_mtp_per_layer": layer + extra,
        "num_mtp_layers": n_mtp,
        "params_mtp_decoder_layer": layer,
        "params_mtp_extra": extra,
        "_bias_with_mtp": bias,
    }


def counts_for(entry: dict, with_mtp: bool = True) -> dict:
    """Build one catalog entry on meta and return its counts (or a skip reason)."""
    import transformers

    config = entry["config"]
    if not can_build(config):
        return {
            "skipped": f"transformers {transformers.__version__} has no model type {config['model_type']!r}"
        }
    hc, model = build_meta(config)
    result = {"model_type_built": build_model_type(config), **count_model(hc, model)}
    del model
    gc.collect()
    if with_mtp:
        mtp = mtp_layer_params(config, result["params_total"])
        if mtp is not None:
            mtp["buffers_router_bias_mtp"] = mtp.pop("_bias_with_mtp") - result["buffers_router_bias"]
            mtp["params_mtp_per_layer_with_router_bias"] = (
                mtp["params_mtp_per_layer"] + mtp["buffers_router_bias_mtp"]
            )
            result.update(mtp)
    return result


def main(argv: list[str] | None = None) -> int:
    import torch
    import transformers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="catalog ids (default: all)")
    parser.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    args = parser.parse_args(argv)
    wanted = set(args.ids)
    models = {}
    for entry in catalog_entries():
        if wanted and entry["id"] not in wanted:
            continue
        models[entry["id"]] = counts_for(entry)
        print(
            entry["id"],
            models[entry["id"]].get("params_total", models[entry["id"]].get("skipped")),
            file=sys.stderr,
        )
    doc = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "method": "scripts/transformers_param_counts.py: meta-device build, see its docstring",
        "models": models,
    }
    text = json.dumps(doc, indent=1) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
