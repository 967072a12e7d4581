"""Kimi-Linear for speed runs with random weights: SGLang's own class plus what ``--load-format dummy`` misses.

1. **Absorbed MLA weights.** SGLang derives ``w_kc``/``w_vc`` of each MLA layer from ``kv_b_proj`` at the end of
   ``load_weights``; the dummy loader never calls that, it calls ``post_load_weights()`` when the class has one.
   SGLang 0.5.16's class has none (its first decode fails with an AttributeError; 0.5.17 adds the method). Here
   ``post_load_weights`` does the derivation, on every version.
2. **Routing that depends on the token.** Dummy init fills every weight with uniform(-1e-3, 1e-3), so router logits
   are ~1e-6 while the router's correction bias is ~1e-3: the bias alone picks the same top-k experts for every
   token. With ``KIMI_COOKBOOK_SPREAD_ROUTER=1`` (set by the cookbook only for dummy loads) each MoE router weight
   is re-drawn from N(0, 1), seeded per layer (identical on every tensor-parallel rank), and the bias zeroed, so
   tokens spread over all experts as in real serving.
3. **Counting experts.** SGLang's expert-distribution recorder needs ``get_model_config_for_expert_location``,
   which 0.5.16's class lacks.
"""

from __future__ import annotations

import os

import torch
from sglang.srt.eplb.expert_location import ModelConfigForExpertLocation
from sglang.srt.models.kimi_linear import KimiLinearForCausalLM as _SGLangKimiLinear

from kimi_cookbook.full_size import SPREAD_ENV
ROUTER_SEED = 20261205


class KimiLinearForCausalLM(_SGLangKimiLinear):
    """SGLang's Kimi-Linear class (same name, so the registry maps the architecture to it)."""

    @classmethod
    def get_model_config_for_expert_location(cls, config):
        return ModelConfigForExpertLocation(num_layers=config.num_hidden_layers,
                                            num_logical_experts=config.num_experts, num_groups=None)

    @torch.no_grad()
    def post_load_weights(self):
        for layer_id in self.config.full_attention_layer_ids:
            attn = self.model.layers[layer_id].self_attn
            w = attn.kv_b_proj.weight.unflatten(0, (-1, attn.qk_nope_head_dim + attn.v_head_dim))
            w_kc, w_vc = w.split([attn.qk_nope_head_dim, attn.v_head_dim], dim=1)
            attn.w_kc = w_kc.transpose(1, 2).contiguous().transpose(1, 2)
            attn.w_vc = w_vc.contiguous().transpose(1, 2)
            if hasattr(attn.kv_b_proj, "weight_scale"):
                attn.w_scale = attn.kv_b_proj.weight_scale
        if os.environ.get(SPREAD_ENV) == "1":
            self.spread_routers()

    @torch.no_grad()
    def spread_routers(self) -> int:
        """Re-draw every MoE router from N(0, 1) and zero its correction bias; returns how many were re-drawn."""
        count = 0
        for index, layer in enumerate(self.model.layers):
            moe = getattr(layer, "block_sparse_moe", None) or getattr(layer, "mlp", None)
            gate = getattr(moe, "gate", None)
            if gate is None or not hasattr(gate, "e_score_correction_bias"):
                continue
            gen = torch.Generator(device=gate.weight.device)
            gen.manual_seed(ROUTER_SEED + index)
            fresh = torch.randn(gate.weight.shape, generator=gen, device=gate.weight.device, dtype=torch.float32)
            gate.weight.copy_(fresh.to(gate.weight.dtype))
            gate.e_score_correction_bias.zero_()
            count += 1
        return count


EntryClass = KimiLinearForCausalLM
