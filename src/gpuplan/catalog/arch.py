"""ModelArch: a normalized transformer architecture built from a Hugging Face ``config.json`` (DESIGN §4).

Field names are upstream's. The one source of truth is :meth:`ModelArch.tensors`, the list of every weight tensor with
its shape, named as llama.cpp names GGUF tensors (``blk.{i}.attn_q``, ``blk.{i}.ffn_down_exps`` …) and tagged with a
component. Parameter counts by component, totals and active-per-token counts are sums over that list, so the sizes the
memory model computes and the counts ``inspect`` shows can never disagree.

Counting conventions (tested against transformers' own count of the same config on the meta device):

* ``params_total`` — every parameter of the model transformers builds: tied embeddings once; MTP / next-n layers
  *excluded* (transformers does not build them; they are reported as ``params_mtp``). Router correction biases
  (``e_score_correction_bias``) are buffers in transformers; they are listed as ``router_bias`` tensors but kept out of
  ``params_total`` so the count equals transformers'.
* ``params_active`` — total − routed experts + Σ over MoE layers of routed_layer · k / E: every non-routed weight
  (embedding and head included) plus k of the E experts in each MoE layer. The convention of DeepSeek's "37B" and of the
  gpt-oss model card (see shared/reference/configs/CONFIGS.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from math import prod
from typing import Any

from gpuplan.errors import MalformedFileError, UnsupportedError

SUPPORTED_MODEL_TYPES = (
    "llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "mixtral", "deepseek", "deepseek_v2", "deepseek_v3",
    "deepseek_v32", "deepseek_v4", "kimi_k2", "gpt_oss", "glm4_moe", "gptj",
)

COMPONENTS = (
    "embed", "lm_head", "attention", "indexer", "mlp", "routed_experts", "shared_experts", "router", "norm", "mtp",
)

# Components that are buffers in transformers (not parameters) but are stored in checkpoints.
_BUFFER_COMPONENTS = ("router_bias",)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One weight tensor: llama.cpp-style name, logical shape, block index, component."""

    name: str
    shape: tuple[int, ...]
    layer: int | None
    component: str

    @property
    def num_elements(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True, slots=True)
class AttentionSpec:
    """Attention of one layer.

    ``kind``: ``gqa`` (MHA/GQA/MQA: n_kv heads of ``head_dim``), ``mla`` (DeepSeek multi-head latent attention),
    ``dsv4`` (DeepSeek-V4 shared-KV MQA with compressed sparse / heavily compressed caches).
    ``sliding_window``: tokens kept for a sliding-window layer, else None.
    ``compress_ratio``: V4 only: 0 (sliding only), 4 (CSA) or 128 (HCA).
    """

    kind: str
    num_heads: int
    num_kv_heads: int
    head_dim: int
    sliding_window: int | None = None
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    indexer_heads: int | None = None
    indexer_head_dim: int | None = None
    indexer_topk: int | None = None
    compress_ratio: int | None = None


@dataclass(frozen=True, slots=True)
class MlpSpec:
    """MLP of one layer: dense (``num_experts`` 0) or MoE.

    ``gated``: True for a gated MLP (SwiGLU: gate, up and down matrices, ``down(act(gate(x)) * up(x))``); False for
    the two-matrix MLP of GPT-2/GPT-J (``fc_out(gelu(fc_in(x)))``: up ``I×H`` and down ``H×I``). ``bias``: the dense
    MLP's matrices carry biases (GPT-J ``fc_in``/``fc_out``, transformers ``GPTJMLP``). ``intermediate_size`` is the
    width of one up projection in both cases (GPT-J: ``n_inner``, default 4·``n_embd``), so a gated MLP holds
    3·H·I weights and an ungated one 2·H·I.
    """

    intermediate_size: int
    num_experts: int = 0
    top_k: int = 0
    expert_intermediate_size: int = 0
    num_shared_experts: int = 0
    shared_intermediate_size: int = 0
    gated: bool = True
    bias: bool = False

    def __post_init__(self) -> None:
        # top-k routed experts out of num_experts: more than all of them would make active > total parameters.
        if self.num_experts and not 1 <= self.top_k <= self.num_experts:
            raise MalformedFileError("catalog.config_field_bad", field="num_experts_per_tok", value=repr(self.top_k),
                                     low=1, high=self.num_experts)

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0


def _cfg_int(cfg: Mapping[str, Any], key: str, *, default: int | None = None, low: int = 1,
             high: int = 10**8, required: bool = True) -> int | None:
    """An integer field of config.json, checked for type and range (one clear sentence when it is not)."""
    value = cfg.get(key, default)
    if value is None:
        if required:
            raise MalformedFileError("catalog.config_field_missing", field=key)
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise MalformedFileError("catalog.config_field_bad", field=key, value=repr(value), low=low, high=high)
    if not low <= int(value) <= high:
        raise MalformedFileError("catalog.config_field_bad", field=key, value=repr(value), low=low, high=high)
    return int(value)


@dataclass(frozen=True)
class ModelArch:
    """A normalized architecture. Build with :meth:`from_config`."""

    model_type: str
    hidden_size: int
    num_layers: int
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int | None
    attention: tuple[AttentionSpec, ...]
    mlp: tuple[MlpSpec, ...]
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: bool = False
    num_mtp_layers: int = 0
    extras: Mapping[str, Any] = field(default_factory=dict)
    # LayerNorm with a bias (GPT-J ``ln_1``/``ln_f``) instead of RMSNorm: every norm gets a ``.bias`` tensor.
    norm_bias: bool = False
    # GPT-J's parallel block: one norm per layer feeds attention and MLP side by side (``x + attn(ln_1(x)) +
    # mlp(ln_1(x))``), so there is no ``ffn_norm``.
    parallel_attn_mlp: bool = False
    # The output head has a bias (GPT-J ``lm_head``).
    lm_head_bias: bool = False

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ModelArch:
        """Normalize a Hugging Face config.json (field names as upstream) into a ModelArch."""
        if not isinstance(config, Mapping):
            raise MalformedFileError("catalog.config_not_object")
        model_type = config.get("model_type")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise UnsupportedError(
                "catalog.model_type_unsupported", given=str(model_type), allowed=", ".join(SUPPORTED_MODEL_TYPES)
            )
        builder = _BUILDERS[model_type]
        return builder(config)

    # ------------------------------------------------------------------ tensors
    def tensors(self, include_mtp: bool = False) -> tuple[TensorSpec, ...]:
        """Every weight tensor (and stored router bias) of the model; MTP layers only when asked."""
        out = list(self._main_tensors)
        if include_mtp:
            out.extend(self._mtp_tensors)
        return tuple(out)

    @cached_property
    def _main_tensors(self) -> tuple[TensorSpec, ...]:
        H, V = self.hidden_size, self.vocab_size
        out: list[TensorSpec] = [TensorSpec("token_embd", (V, H), None, "embed")]
        for i in range(self.num_layers):
            out.extend(self._layer_tensors(i, f"blk.{i}", "main"))
        out.extend(self._final_tensors())
        return tuple(out)

    def _final_tensors(self) -> list[TensorSpec]:
        H, V = self.hidden_size, self.vocab_size
        out = [TensorSpec("output_norm", (H,), None, "norm")]
        if self.norm_bias:
            out.append(TensorSpec("output_norm.bias", (H,), None, "norm"))
        if self.model_type == "deepseek_v4":
            hc = int(self.extras["hc_mult"])
            out += [
                TensorSpec("hc_head_fn", (hc, hc * H), None, "norm"),
                TensorSpec("hc_head_base", (hc,), None, "norm"),
                TensorSpec("hc_head_scale", (1,), None, "norm"),
            ]
        if not self.tie_word_embeddings:
            out.append(TensorSpec("output", (V, H), None, "lm_head"))
        if self.lm_head_bias:
            out.append(TensorSpec("output.bias", (V,), None, "lm_head"))
        return out

    @cached_property
    def _mtp_tensors(self) -> tuple[TensorSpec, ...]:
        """MTP / next-n layers: a full decoder layer (MoE like the last layer) + eh_proj (2H→H) + norms.

        DeepSeek-V3 README_WEIGHTS: each MTP module holds an embedding and head shared with the main model (the
        checkpoint stores copies: ``nextn.embed_tokens`` / ``nextn.shared_head.head``, reported separately as
        ``mtp_copies``), enorm/hnorm, eh_proj and one transformer block. GLM-4.5 next-n layers follow the same layout.
        """
        H = self.hidden_size
        out: list[TensorSpec] = []
        for j in range(self.num_mtp_layers):
            idx = self.num_layers + j
            base = f"blk.{idx}"
            if self.model_type == "deepseek_v4":
                out.extend(self._dsv4_mtp_tensors(base, j))
                continue
            for t in self._layer_tensors(self.num_layers - 1, base, "mtp"):
                out.append(TensorSpec(t.name, t.shape, idx, "mtp"))
            out += [
                TensorSpec(f"{base}.nextn.eh_proj", (H, 2 * H), idx, "mtp"),
                TensorSpec(f"{base}.nextn.enorm", (H,), idx, "mtp"),
                TensorSpec(f"{base}.nextn.hnorm", (H,), idx, "mtp"),
                TensorSpec(f"{base}.nextn.shared_head_norm", (H,), idx, "mtp"),
            ]
        return tuple(out)

    def _dsv4_mtp_tensors(self, base: str, j: int) -> list[TensorSpec]:
        """V4 MTP block: a decoder layer (sliding attention, top-k MoE) + e/h projections, norms, an HC head.

        Layout from the V4 checkpoint reports summarized in shared/reference/configs/CONFIGS.md (25.84B MTP for
        V4-Pro); counted analytically like the main layers.
        """
        H = self.hidden_size
        idx = self.num_layers + j
        hc = int(self.extras["hc_mult"])
        out = [TensorSpec(t.name, t.shape, idx, "mtp") for t in self._layer_tensors(self.num_layers - 1, base, "mtp",
                                                                                       force_compress=0)]
        out += [
            TensorSpec(f"{base}.nextn.e_proj", (H, H), idx, "mtp"),
            TensorSpec(f"{base}.nextn.h_proj", (H, H), idx, "mtp"),
            TensorSpec(f"{base}.nextn.enorm", (H,), idx, "mtp"),
            TensorSpec(f"{base}.nextn.hnorm", (H,), idx, "mtp"),
            TensorSpec(f"{base}.nextn.norm", (H,), idx, "mtp"),
            TensorSpec(f"{base}.nextn.hc_head_fn", (hc, hc * H), idx, "mtp"),
            TensorSpec(f"{base}.nextn.hc_head_base", (hc,), idx, "mtp"),
            TensorSpec(f"{base}.nextn.hc_head_scale", (1,), idx, "mtp"),
        ]
        return out

    def _layer_tensors(self, i: int, base: str, role: str, force_compress: int | None = None) -> list[TensorSpec]:
        att, mlp = self.attention[i], self.mlp[i]
        H = self.hidden_size
        out: list[TensorSpec] = [TensorSpec(f"{base}.attn_norm", (H,), i, "norm")]
        if self.norm_bias:
            out.append(TensorSpec(f"{base}.attn_norm.bias", (H,), i, "norm"))
        out += self._attention_tensors(i, base, att, force_compress)
        if not self.parallel_attn_mlp:
            out.append(TensorSpec(f"{base}.ffn_norm", (H,), i, "norm"))
            if self.norm_bias:
                out.append(TensorSpec(f"{base}.ffn_norm.bias", (H,), i, "norm"))
        out += self._mlp_tensors(i, base, mlp, role)
        if self.model_type == "deepseek_v4":
            hc = int(self.extras["hc_mult"])
            n = (2 + hc) * hc
            for which in ("attn_hc", "ffn_hc"):
                out += [
                    TensorSpec(f"{base}.{which}_fn", (n, hc * H), i, "norm"),
                    TensorSpec(f"{base}.{which}_base", (n,), i, "norm"),
                    TensorSpec(f"{base}.{which}_scale", (3,), i, "norm"),
                ]
        return out

    def _attention_tensors(self, i: int, base: str, att: AttentionSpec, force_compress: int | None) -> list[TensorSpec]:
        H = self.hidden_size
        out: list[TensorSpec] = []
        add = out.append
        if att.kind == "gqa":
            q_out, kv_out = att.num_heads * att.head_dim, att.num_kv_heads * att.head_dim
            add(TensorSpec(f"{base}.attn_q", (q_out, H), i, "attention"))
            add(TensorSpec(f"{base}.attn_k", (kv_out, H), i, "attention"))
            add(TensorSpec(f"{base}.attn_v", (kv_out, H), i, "attention"))
            add(TensorSpec(f"{base}.attn_output", (H, q_out), i, "attention"))
            if self.qkv_bias:
                add(TensorSpec(f"{base}.attn_q.bias", (q_out,), i, "attention"))
                add(TensorSpec(f"{base}.attn_k.bias", (kv_out,), i, "attention"))
                add(TensorSpec(f"{base}.attn_v.bias", (kv_out,), i, "attention"))
            if self.o_bias:
                add(TensorSpec(f"{base}.attn_output.bias", (H,), i, "attention"))
            if self.qk_norm:
                add(TensorSpec(f"{base}.attn_q_norm", (att.head_dim,), i, "norm"))
                add(TensorSpec(f"{base}.attn_k_norm", (att.head_dim,), i, "norm"))
            if self.model_type == "gpt_oss":
                add(TensorSpec(f"{base}.attn_sinks", (att.num_heads,), i, "attention"))
            return out
        if att.kind == "mla":
            nope, rope, vdim = att.qk_nope_head_dim, att.qk_rope_head_dim, att.v_head_dim
            assert nope is not None and rope is not None and vdim is not None and att.kv_lora_rank is not None
            q_head = nope + rope
            if att.q_lora_rank:
                add(TensorSpec(f"{base}.attn_q_a", (att.q_lora_rank, H), i, "attention"))
                add(TensorSpec(f"{base}.attn_q_a_norm", (att.q_lora_rank,), i, "norm"))
                add(TensorSpec(f"{base}.attn_q_b", (att.num_heads * q_head, att.q_lora_rank), i, "attention"))
            else:
                add(TensorSpec(f"{base}.attn_q", (att.num_heads * q_head, H), i, "attention"))
            add(TensorSpec(f"{base}.attn_kv_a_mqa", (att.kv_lora_rank + rope, H), i, "attention"))
            add(TensorSpec(f"{base}.attn_kv_a_norm", (att.kv_lora_rank,), i, "norm"))
            add(TensorSpec(f"{base}.attn_kv_b", (att.num_heads * (nope + vdim), att.kv_lora_rank), i, "attention"))
            add(TensorSpec(f"{base}.attn_output", (H, att.num_heads * vdim), i, "attention"))
            if att.indexer_heads:
                # DeepSeek-V3.2 lightning indexer (transformers DeepseekV32Indexer): wq_b, wk, k_norm (LayerNorm with
                # bias), weights_proj.
                ih, idim = att.indexer_heads, att.indexer_head_dim or 0
                add(TensorSpec(f"{base}.indexer.attn_q_b", (ih * idim, att.q_lora_rank or H), i, "indexer"))
                add(TensorSpec(f"{base}.indexer.attn_k", (idim, H), i, "indexer"))
                add(TensorSpec(f"{base}.indexer.k_norm", (idim,), i, "indexer"))
                add(TensorSpec(f"{base}.indexer.k_norm.bias", (idim,), i, "indexer"))
                add(TensorSpec(f"{base}.indexer.proj", (ih, H), i, "indexer"))
            return out
        if att.kind == "dsv4":
            return self._dsv4_attention_tensors(i, base, att, force_compress)
        raise UnsupportedError("catalog.model_type_unsupported", given=att.kind, allowed="gqa, mla, dsv4")

    def _dsv4_attention_tensors(self, i: int, base: str, att: AttentionSpec,
                                force_compress: int | None) -> list[TensorSpec]:
        """DeepSeek-V4 attention (transformers ``DeepseekV4Attention`` and its compressors)."""
        H, hd = self.hidden_size, att.head_dim
        ql = att.q_lora_rank or 0
        groups, o_rank = int(self.extras["o_groups"]), int(self.extras["o_lora_rank"])
        out = [
            TensorSpec(f"{base}.attn_q_a", (ql, H), i, "attention"),
            TensorSpec(f"{base}.attn_q_a_norm", (ql,), i, "norm"),
            TensorSpec(f"{base}.attn_q_b", (att.num_heads * hd, ql), i, "attention"),
            TensorSpec(f"{base}.attn_kv", (hd, H), i, "attention"),
            TensorSpec(f"{base}.attn_kv_norm", (hd,), i, "norm"),
            TensorSpec(f"{base}.attn_output_a", (groups * o_rank, att.num_heads * hd // groups), i, "attention"),
            TensorSpec(f"{base}.attn_output_b", (H, groups * o_rank), i, "attention"),
            TensorSpec(f"{base}.attn_sinks", (att.num_heads,), i, "attention"),
        ]
        ratio = att.compress_ratio if force_compress is None else force_compress
        if ratio:
            width = hd if ratio >= 128 else 2 * hd  # CSA keeps two overlapping series (Ca, Cb)
            out += [
                TensorSpec(f"{base}.compressor.kv", (width, H), i, "attention"),
                TensorSpec(f"{base}.compressor.gate", (width, H), i, "attention"),
                TensorSpec(f"{base}.compressor.position_bias", (ratio, width), i, "attention"),
                TensorSpec(f"{base}.compressor.kv_norm", (hd,), i, "norm"),
            ]
            if ratio < 128:
                ih, idim = att.indexer_heads or 0, att.indexer_head_dim or 0
                out += [
                    TensorSpec(f"{base}.indexer.kv", (2 * idim, H), i, "indexer"),
                    TensorSpec(f"{base}.indexer.gate", (2 * idim, H), i, "indexer"),
                    TensorSpec(f"{base}.indexer.position_bias", (ratio, 2 * idim), i, "indexer"),
                    TensorSpec(f"{base}.indexer.kv_norm", (idim,), i, "indexer"),
                    TensorSpec(f"{base}.indexer.attn_q_b", (ih * idim, ql), i, "indexer"),
                    TensorSpec(f"{base}.indexer.proj", (ih, H), i, "indexer"),
                ]
        return out

    def _mlp_tensors(self, i: int, base: str, mlp: MlpSpec, role: str) -> list[TensorSpec]:
        H = self.hidden_size
        out: list[TensorSpec] = []
        add = out.append
        if not mlp.is_moe:
            I = mlp.intermediate_size  # noqa: E741
            if mlp.gated:
                add(TensorSpec(f"{base}.ffn_gate", (I, H), i, "mlp"))
                if mlp.bias:
                    add(TensorSpec(f"{base}.ffn_gate.bias", (I,), i, "mlp"))
            add(TensorSpec(f"{base}.ffn_up", (I, H), i, "mlp"))
            if mlp.bias:
                add(TensorSpec(f"{base}.ffn_up.bias", (I,), i, "mlp"))
            add(TensorSpec(f"{base}.ffn_down", (H, I), i, "mlp"))
            if mlp.bias:
                add(TensorSpec(f"{base}.ffn_down.bias", (H,), i, "mlp"))
            return out
        E, Ie = mlp.num_experts, mlp.expert_intermediate_size
        add(TensorSpec(f"{base}.ffn_gate_inp", (E, H), i, "router"))
        if self.model_type == "gpt_oss":
            add(TensorSpec(f"{base}.ffn_gate_inp.bias", (E,), i, "router"))
        if self.model_type in ("deepseek_v3", "deepseek_v32", "kimi_k2", "glm4_moe") or (
            self.model_type == "deepseek_v4" and i >= int(self.extras.get("num_hash_layers", 0))
        ):
            add(TensorSpec(f"{base}.exp_probs_b", (E,), i, "router_bias"))
        add(TensorSpec(f"{base}.ffn_gate_exps", (E, Ie, H), i, "routed_experts"))
        add(TensorSpec(f"{base}.ffn_up_exps", (E, Ie, H), i, "routed_experts"))
        add(TensorSpec(f"{base}.ffn_down_exps", (E, H, Ie), i, "routed_experts"))
        if self.model_type == "gpt_oss":
            add(TensorSpec(f"{base}.ffn_gate_up_exps.bias", (E, 2 * Ie), i, "routed_experts"))
            add(TensorSpec(f"{base}.ffn_down_exps.bias", (E, H), i, "routed_experts"))
        if mlp.num_shared_experts:
            Is = mlp.shared_intermediate_size
            add(TensorSpec(f"{base}.ffn_gate_shexp", (Is, H), i, "shared_experts"))
            add(TensorSpec(f"{base}.ffn_up_shexp", (Is, H), i, "shared_experts"))
            add(TensorSpec(f"{base}.ffn_down_shexp", (H, Is), i, "shared_experts"))
        return out

    # ------------------------------------------------------------------ counts
    @cached_property
    def params_by_component(self) -> dict[str, int]:
        """Parameters of the main model by component (MTP excluded; router bias buffers excluded)."""
        counts = dict.fromkeys(COMPONENTS, 0)
        for t in self._main_tensors:
            if t.component in _BUFFER_COMPONENTS:
                continue
            counts[t.component] += t.num_elements
        counts["mtp"] = self.params_mtp
        return counts

    @cached_property
    def params_total(self) -> int:
        """All parameters of the main model as transformers counts them (tied once, no MTP, no buffers)."""
        return sum(t.num_elements for t in self._main_tensors if t.component not in _BUFFER_COMPONENTS)

    @cached_property
    def params_mtp(self) -> int:
        return sum(t.num_elements for t in self._mtp_tensors if t.component not in _BUFFER_COMPONENTS)

    @cached_property
    def params_router_bias(self) -> int:
        """Router correction-bias values stored in checkpoints (buffers in transformers)."""
        return sum(t.num_elements for t in self._main_tensors if t.component in _BUFFER_COMPONENTS)

    @cached_property
    def params_routed_experts(self) -> int:
        return sum(t.num_elements for t in self._main_tensors if t.component == "routed_experts")

    @cached_property
    def params_active(self) -> int:
        """Parameters touched per token: total − routed + Σ_moe_layers routed_layer · k / E (rounded once)."""
        active_routed = 0.0
        per_layer: dict[int, int] = {}
        for t in self._main_tensors:
            if t.component == "routed_experts" and t.layer is not None:
                per_layer[t.layer] = per_layer.get(t.layer, 0) + t.num_elements
        for layer, n in per_layer.items():
            m = self.mlp[layer]
            active_routed += n * m.top_k / m.num_experts
        return self.params_total - self.params_routed_experts + round(active_routed)

    @cached_property
    def params_embedding_copies_in_mtp(self) -> int:
        """DeepSeek-V3-style checkpoints store the embedding and head again inside each MTP layer (CONFIGS.md)."""
        if not self.num_mtp_layers or self.model_type not in ("deepseek_v3", "deepseek_v32", "kimi_k2"):
            return 0
        return self.num_mtp_layers * 2 * self.vocab_size * self.hidden_size

    # ------------------------------------------------------------------ derived facts
    @cached_property
    def widest_mlp_intermediate(self) -> int:
        """Widest per-token MLP intermediate: dense width, or top_k × expert width + shared width (MoE).

        The width of one up projection: a gated (SwiGLU) MLP produces two tensors of this width (gate and up), an
        ungated GELU MLP (GPT-J) one — see :attr:`MlpSpec.gated` and :attr:`mlp_is_gated`.
        """
        return max((m.intermediate_size if not m.is_moe else
                    m.top_k * m.expert_intermediate_size + m.shared_intermediate_size) for m in self.mlp)

    @property
    def is_moe(self) -> bool:
        return any(m.is_moe for m in self.mlp)

    @property
    def mlp_is_gated(self) -> bool:
        """True when every MLP is gated (SwiGLU: gate + up + down); False for GPT-J's two-matrix GELU MLP."""
        return all(m.gated for m in self.mlp)

    @property
    def attention_kind(self) -> str:
        return self.attention[0].kind

    @property
    def num_attention_heads(self) -> int:
        return self.attention[0].num_heads

    @property
    def num_kv_heads(self) -> int:
        return self.attention[0].num_kv_heads

    @property
    def moe_layers(self) -> tuple[int, ...]:
        return tuple(i for i, m in enumerate(self.mlp) if m.is_moe)

    @property
    def num_experts(self) -> int:
        return max((m.num_experts for m in self.mlp), default=0)

    @property
    def experts_per_token(self) -> int:
        return max((m.top_k for m in self.mlp), default=0)


# ---------------------------------------------------------------------- builders


def _common(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "hidden_size": _cfg_int(cfg, "hidden_size", high=10**6),
        "num_layers": _cfg_int(cfg, "num_hidden_layers", high=1000),
        "vocab_size": _cfg_int(cfg, "vocab_size", high=10**7),
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "max_position_embeddings": _cfg_int(cfg, "max_position_embeddings", required=False, high=10**9),
    }


def _gqa_heads(cfg: Mapping[str, Any], H: int) -> tuple[int, int, int]:
    heads = _cfg_int(cfg, "num_attention_heads", high=10**5)
    assert heads is not None
    kv = _cfg_int(cfg, "num_key_value_heads", default=heads, high=10**5)
    assert kv is not None
    head_dim = cfg.get("head_dim")
    hd = _cfg_int(cfg, "head_dim", high=10**5) if head_dim is not None else H // heads
    assert hd is not None
    if heads % kv:
        raise MalformedFileError("catalog.config_heads_kv", heads=heads, kv=kv)
    return heads, kv, hd


def _sliding(cfg: Mapping[str, Any], i: int) -> int | None:
    """Sliding window of layer i, from ``layer_types`` when present (gpt-oss alternates), else the global flag."""
    window = cfg.get("sliding_window")
    layer_types = cfg.get("layer_types")
    if isinstance(layer_types, list) and i < len(layer_types):
        return int(window) if layer_types[i] == "sliding_attention" and window else None
    if cfg.get("model_type") in ("qwen2", "qwen3", "qwen3_moe") and not cfg.get("use_sliding_window", False):
        return None
    if cfg.get("model_type") == "mistral" or cfg.get("model_type") == "mixtral":
        return int(window) if window else None
    return None


def _build_dense_gqa(cfg: Mapping[str, Any]) -> ModelArch:
    common = _common(cfg)
    H, L = common["hidden_size"], common["num_layers"]
    heads, kv, hd = _gqa_heads(cfg, H)
    inter = _cfg_int(cfg, "intermediate_size", high=10**7)
    assert inter is not None
    mt = cfg["model_type"]
    return ModelArch(
        model_type=mt,
        attention=tuple(AttentionSpec("gqa", heads, kv, hd, sliding_window=_sliding(cfg, i)) for i in range(L)),
        mlp=tuple(MlpSpec(inter) for _ in range(L)),
        qkv_bias=mt == "qwen2" or bool(cfg.get("attention_bias", False)),
        o_bias=mt in ("llama", "mistral") and bool(cfg.get("attention_bias", False)),
        qk_norm=mt == "qwen3",
        **common,
    )


def _build_qwen3_moe(cfg: Mapping[str, Any]) -> ModelArch:
    common = _common(cfg)
    H, L = common["hidden_size"], common["num_layers"]
    heads, kv, hd = _gqa_heads(cfg, H)
    inter = _cfg_int(cfg, "intermediate_size", high=10**7)
    E = _cfg_int(cfg, "num_experts", high=10**5)
    k = _cfg_int(cfg, "num_experts_per_tok", high=10**4)
    Ie = _cfg_int(cfg, "moe_intermediate_size", high=10**7)
    step = _cfg_int(cfg, "decoder_sparse_step", default=1, high=1000)
    dense_only = set(cfg.get("mlp_only_layers") or [])
    assert inter and E and k and Ie and step
    mlps = tuple(
        MlpSpec(inter) if (i in dense_only or (i + 1) % step) else MlpSpec(inter, E, k, Ie)
        for i in range(L)
    )
    return ModelArch(
        model_type="qwen3_moe",
        attention=tuple(AttentionSpec("gqa", heads, kv, hd, sliding_window=_sliding(cfg, i)) for i in range(L)),
        mlp=mlps, qk_norm=True, qkv_bias=bool(cfg.get("attention_bias", False)), **common,
    )


def _build_mixtral(cfg: Mapping[str, Any]) -> ModelArch:
    common = _common(cfg)
    H, L = common["hidden_size"], common["num_layers"]
    heads, kv, hd = _gqa_heads(cfg, H)
    inter = _cfg_int(cfg, "intermediate_size", high=10**7)
    E = _cfg_int(cfg, "num_local_experts", high=10**5)
    k = _cfg_int(cfg, "num_experts_per_tok", high=10**4)
    assert inter and E and k
    return ModelArch(
        model_type="mixtral",
        attention=tuple(AttentionSpec("gqa", heads, kv, hd, sliding_window=_sliding(cfg, i)) for i in range(L)),
        mlp=tuple(MlpSpec(inter, E, k, inter) for _ in range(L)),
        **common,
    )


def _build_gpt_oss(cfg: Mapping[str, Any]) -> ModelArch:
    common = _common(cfg)
    H, L = common["hidden_size"], common["num_layers"]
    heads, kv, hd = _gqa_heads(cfg, H)
    inter = _cfg_int(cfg, "intermediate_size", high=10**7)
    E = _cfg_int(cfg, "num_local_experts", high=10**5)
    k = _cfg_int(cfg, "num_experts_per_tok", default=cfg.get("experts_per_token"), high=10**4)
    assert inter and E and k
    return ModelArch(
        model_type="gpt_oss",
        attention=tuple(AttentionSpec("gqa", heads, kv, hd, sliding_window=_sliding(cfg, i)) for i in range(L)),
        mlp=tuple(MlpSpec(inter, E, k, inter) for _ in range(L)),
        qkv_bias=True, o_bias=True, **common,
    )


def _is_moe_layer(cfg: Mapping[str, Any], i: int) -> bool:
    first_dense = int(cfg.get("first_k_dense_replace") or 0)
    freq = int(cfg.get("moe_layer_freq") or 1)
    return i >= first_dense and i % freq == 0


def _deepseek_moe_mlp(cfg: Mapping[str, Any], i: int, inter: int) -> MlpSpec:
    E = int(cfg.get("n_routed_experts") or 0)
    if not E or not _is_moe_layer(cfg, i):
        return MlpSpec(inter)
    k = _cfg_int(cfg, "num_experts_per_tok", high=10**4)
    Ie = _cfg_int(cfg, "moe_intermediate_size", high=10**7)
    shared = int(cfg.get("n_shared_experts") or 0)
    assert k and Ie
    return MlpSpec(inter, E, k, Ie, num_shared_experts=shared, shared_intermediate_size=Ie * shared)


def _build_deepseek_v1(cfg: Mapping[str, Any]) -> ModelArch:
    """deepseek-moe-16b (``DeepseekForCausalLM``, remote code): llama attention + fine-grained MoE with shared experts."""
    common = _common(cfg)
    H, L = common["hidden_size"], common["num_layers"]
    heads, kv, hd = _gqa_heads(cfg, H)
    inter = _cfg_int(cfg, "intermediate_size", high=10**7)
    assert inter
    return ModelArch(
        model_type="deepseek",
        attention=tuple(AttentionSpec("gqa", heads, kv, hd) for _ in range(L)),
        mlp=tuple(_deepseek_moe_mlp(cfg, i, inter) for i in range(L)),
        **common,
    )


def _build_mla(cfg: Mapping[str, Any]) -> ModelArch:
    """DeepSeek-V2/V2.5/V3/V3.1/R1/V3.2 and Kimi-K2: MLA attention + DeepSeekMoE."""
    common = _common(cfg)
    L = common["num_layers"]
    heads = _cfg_int(cfg, "num_attention_heads", high=10**5)
    inter = _cfg_int(cfg, "intermediate_size", high=10**7)
    assert heads and inter
    q_lora = cfg.get("q_lora_rank") or None
    kv_lora = _cfg_int(cfg, "kv_lora_rank", high=10**6)
    nope = _cfg_int(cfg, "qk_nope_head_dim", high=10**5)
    rope = _cfg_int(cfg, "qk_rope_head_dim", high=10**5)
    vdim = _cfg_int(cfg, "v_head_dim", high=10**5)
    mt = cfg["model_type"]
    indexer = mt == "deepseek_v32"
    att = AttentionSpec(
        "mla", heads, heads, (nope or 0) + (rope or 0),
        q_lora_rank=int(q_lora) if q_lora else None, kv_lora_rank=kv_lora, qk_nope_head_dim=nope,
        qk_rope_head_dim=rope, v_head_dim=vdim,
        indexer_heads=_cfg_int(cfg, "index_n_heads", high=10**4) if indexer else None,
        indexer_head_dim=_cfg_int(cfg, "index_head_dim", high=10**5) if indexer else None,
        indexer_topk=_cfg_int(cfg, "index_topk", high=10**7) if indexer else None,
    )
    return ModelArch(
        model_type=mt,
        attention=tuple(att for _ in range(L)),
        mlp=tuple(_deepseek_moe_mlp(cfg, i, inter) for i in range(L)),
        num_mtp_layers=int(cfg.get("num_nextn_predict_layers") or 0),
        **common,
    )


def _build_glm4_moe(cfg: Mapping[str, Any]) -> ModelArch:
    common = _common(cfg)
    H, L = common["hidden_size"], common["num_layers"]
    heads, kv, hd = _gqa_heads(cfg, H)
    inter = _cfg_int(cfg, "intermediate_size", high=10**7)
    assert inter
    return ModelArch(
        model_type="glm4_moe",
        attention=tuple(AttentionSpec("gqa", heads, kv, hd) for _ in range(L)),
        mlp=tuple(_deepseek_moe_mlp(cfg, i, inter) for i in range(L)),
        qkv_bias=bool(cfg.get("attention_bias", False)),
        qk_norm=bool(cfg.get("use_qk_norm", False)),
        num_mtp_layers=int(cfg.get("num_nextn_predict_layers") or 0),
        **common,
    )


# transformers GPTJConfig.attribute_map: the generic names a config rebuilt elsewhere (e.g. from GGUF metadata) may use.
_GPTJ_ATTRIBUTE_MAP = {"n_embd": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
                       "n_positions": "max_position_embeddings"}


def _gptj_fields(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    """The config with GPT-J's own field names filled from their generic aliases when only those are present."""
    missing = {own: cfg[alias] for own, alias in _GPTJ_ATTRIBUTE_MAP.items() if own not in cfg and alias in cfg}
    return {**cfg, **missing} if missing else cfg


def _build_gptj(cfg: Mapping[str, Any]) -> ModelArch:
    """GPT-J (transformers ``GPTJForCausalLM``, models/gptj/modeling_gptj.py): GPT-2 field names (``n_embd``,
    ``n_layer``, ``n_head``, ``n_positions``, ``n_inner``; transformers' GPTJConfig.attribute_map); per layer one
    LayerNorm ``ln_1`` (weight + bias) feeding attention and MLP in parallel; MHA with q/k/v/out_proj without bias
    and ``head_dim = n_embd / n_head`` (GPTJAttention: ``embed_dim // num_attention_heads``, which must divide;
    the config has no head_dim field); MLP ``fc_in`` (n_inner×H + bias) → gelu_new → ``fc_out`` (H×n_inner + bias),
    ``n_inner`` null → 4·n_embd (GPTJMLP); final ``ln_f`` (weight + bias); ``lm_head`` with bias; untied by default.
    """
    cfg = _gptj_fields(cfg)
    H = _cfg_int(cfg, "n_embd", high=10**6)
    L = _cfg_int(cfg, "n_layer", high=1000)
    heads = _cfg_int(cfg, "n_head", high=10**5)
    V = _cfg_int(cfg, "vocab_size", high=10**7)
    assert H and L and heads and V
    if H % heads:
        raise MalformedFileError("catalog.config_heads_hidden", hidden=H, heads=heads)
    inner = _cfg_int(cfg, "n_inner", required=False, high=10**7) or 4 * H
    rotary = _cfg_int(cfg, "rotary_dim", required=False, high=10**5)
    return ModelArch(
        model_type="gptj",
        hidden_size=H,
        num_layers=L,
        vocab_size=V,
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        max_position_embeddings=_cfg_int(cfg, "n_positions", required=False, high=10**9),
        attention=tuple(AttentionSpec("gqa", heads, heads, H // heads) for _ in range(L)),
        mlp=tuple(MlpSpec(inner, gated=False, bias=True) for _ in range(L)),
        norm_bias=True,
        parallel_attn_mlp=True,
        lm_head_bias=True,
        extras={"rotary_dim": rotary},
    )


_V4_RATIO_OF_TYPE = {"sliding_attention": 0, "compressed_sparse_attention": 4, "heavily_compressed_attention": 128}


def _build_deepseek_v4(cfg: Mapping[str, Any]) -> ModelArch:
    """DeepSeek-V4 (transformers ``deepseek_v4``): shared-KV MQA with CSA/HCA compressed caches, hash-routed first
    layers, manifold-constrained hyper-connections, grouped low-rank output projection."""
    common = _common(cfg)
    L = common["num_layers"]
    heads = _cfg_int(cfg, "num_attention_heads", high=10**5)
    hd = _cfg_int(cfg, "head_dim", high=10**5)
    E = _cfg_int(cfg, "n_routed_experts", high=10**5)
    k = _cfg_int(cfg, "num_experts_per_tok", high=10**4)
    Ie = _cfg_int(cfg, "moe_intermediate_size", high=10**7)
    shared = int(cfg.get("n_shared_experts") or 1)
    assert heads and hd and E and k and Ie
    ratios = cfg.get("compress_ratios")
    if isinstance(cfg.get("layer_types"), list):
        ratios = [_V4_RATIO_OF_TYPE.get(x, 0) for x in cfg["layer_types"]]
    if not isinstance(ratios, list) or len(ratios) < L:
        raise MalformedFileError("catalog.config_field_missing", field="compress_ratios")
    atts = tuple(
        AttentionSpec(
            "dsv4", heads, 1, hd, sliding_window=int(cfg.get("sliding_window") or 128),
            q_lora_rank=_cfg_int(cfg, "q_lora_rank", high=10**6), qk_rope_head_dim=_cfg_int(cfg, "qk_rope_head_dim"),
            indexer_heads=_cfg_int(cfg, "index_n_heads", high=10**4),
            indexer_head_dim=_cfg_int(cfg, "index_head_dim", high=10**5),
            indexer_topk=_cfg_int(cfg, "index_topk", high=10**7),
            compress_ratio=int(ratios[i]),
        )
        for i in range(L)
    )
    mlp = MlpSpec(Ie * shared, E, k, Ie, num_shared_experts=shared, shared_intermediate_size=Ie * shared)
    extras = {
        "hc_mult": _cfg_int(cfg, "hc_mult", high=64),
        "o_groups": _cfg_int(cfg, "o_groups", high=10**4),
        "o_lora_rank": _cfg_int(cfg, "o_lora_rank", high=10**6),
        "num_hash_layers": int(cfg.get("num_hash_layers", 3) or 0),
    }
    return ModelArch(
        model_type="deepseek_v4", attention=atts, mlp=tuple(mlp for _ in range(L)),
        num_mtp_layers=int(cfg.get("num_nextn_predict_layers") or 0), extras=extras, **common,
    )


_BUILDERS = {
    "llama": _build_dense_gqa,
    "mistral": _build_dense_gqa,
    "qwen2": _build_dense_gqa,
    "qwen3": _build_dense_gqa,
    "qwen3_moe": _build_qwen3_moe,
    "mixtral": _build_mixtral,
    "gpt_oss": _build_gpt_oss,
    "deepseek": _build_deepseek_v1,
    "deepseek_v2": _build_mla,
    "deepseek_v3": _build_mla,
    "deepseek_v32": _build_mla,
    "kimi_k2": _build_mla,
    "glm4_moe": _build_glm4_moe,
    "deepseek_v4": _build_deepseek_v4,
    "gptj": _build_gptj,
}
