"""LoRA's trainable parameters, against PEFT's own count.

PEFT ``get_peft_model(...).print_trainable_parameters()`` for meta-llama/Llama-2-7b-hf with
``LoraConfig(r=8, target_modules=["q_proj", "v_proj"])`` prints
"trainable params: 4,194,304 || all params: 6,742,609,920 || trainable%: 0.0622" (the PEFT quick-start figure,
reproduced in many public notebooks): r·(d_in + d_out) = 8·(4096 + 4096) per matrix, two matrices in each of 32
layers; the base model is 6,742,609,920 − 4,194,304 = 6,738,415,616 parameters. Exact counts: no tolerance.
"""

from __future__ import annotations

from gpuplan.catalog import get_model
from gpuplan.memory.training import lora_trainable_params


def test_llama2_7b_rank8_q_v_matches_peft():
    model = get_model("llama-2-7b")
    assert lora_trainable_params(model, 8, ("q", "v")) == 4_194_304
    assert model.arch.params_total == 6_742_609_920 - 4_194_304


def test_rank_and_targets_scale_the_count_and_repeat_calls_agree():
    model = get_model("llama-2-7b")
    # MHA Llama-2-7B: q, k, v, o are 4096×4096; gate/up/down 4096↔11008: r·(d_in + d_out) each, 32 layers
    expected = 16 * 32 * (4 * (4096 + 4096) + 3 * (4096 + 11008))
    assert lora_trainable_params(model, 16, ("q", "k", "v", "o", "gate", "up", "down")) == expected
    assert lora_trainable_params(model, 16, ("q", "k", "v", "o", "gate", "up", "down")) == expected  # memo
    assert lora_trainable_params(model, 8, ("q", "q", "v")) == 4_194_304  # a target named twice counts once
    assert lora_trainable_params(model, 8, ()) == 0
