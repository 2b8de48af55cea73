#!/usr/bin/env python3
"""Writes a tiny random-weight Qwen-Image text encoder (transformers' Qwen2_5_VLForConditionalGeneration) in
the real folder layout, and the float32 last hidden states transformers computes for real token ids, for the
parity tests of the C++ text encoder.

The model keeps the real vocabulary size (152,064 embedding rows) so that real token ids, special tokens of the
prompt template included (<|im_start|> 151644, <|im_end|> 151645), stay valid. A full embedding table is far too
big to commit at any useful hidden size (152,064 x 64 bf16 = 19.5 MB, and lm_head as much again), so the
checkpoint is stored sparsely and made whole by the test:

  - every row of model.embed_tokens.weight that the golden ids use is stored (ids and rows); all other rows are
    random in the reference model too, but no input reads them, so the C++ test writes them as zeros when it
    rebuilds the full-shape [152064, 64] table in a temporary checkpoint. The output depends only on the rows
    the ids select, so the reference output is exactly that of the rebuilt checkpoint;
  - lm_head.weight is left out (the text encoder never loads it); the test writes a zero tensor of its shape,
    so that the rebuilt checkpoint has the real key set and the test proves the loader skips it;
  - the vision tower (visual.*, tiny: one block of width 16) is stored whole, as the real checkpoint holds one.

Output (tests/data/qwen_image_text_encoder_tiny/):
  text_encoder/config.json      what save_pretrained writes with the installed transformers (5.x: the nested
                                form, text_config + rope_parameters): 2 layers, hidden 64, 4 query / 2 kv heads
                                (head dim 16, mrope_section [2, 3, 3]), SwiGLU 128, rms_norm_eps 1e-6,
                                rope_theta 1e6, vocab 152064
  text_encoder/sparse_weights.safetensors   bf16, legacy names as the diffusers Qwen-Image checkpoint
                                (model.layers.*, model.norm, visual.*: what save_pretrained of transformers 5.24
                                writes; the model.language_model.* / model.visual.* names that some 4.5x
                                versions wrote are converted to these), without
                                model.embed_tokens.weight and lm_head.weight, plus
                                model.embed_tokens.row_ids (i64 [R]) and model.embed_tokens.rows (bf16 [R, 64])
  golden.safetensors            per case "<case>.input_ids" (i64 [B, L]), "<case>.attention_mask" (i64, padded
                                case only) and "<case>.hidden_states" (f32 [B, L, 64]): hidden_states[-1] of the
                                forward with output_hidden_states=True, i.e. after the final norm, in float32
                                with the bf16-rounded weights, so the stored weights reproduce it exactly.

Cases ("ids from the real tokenizer": ../shared/data/qwen_tokenizer/tokenizer.json, the Qwen2 vocabulary):
  "template"  B=1: the Qwen-Image prompt template around an English prompt, no mask.
  "padded"    B=2: the template around a Chinese prompt and around a short English one, right-padded with
              <|endoftext|> (151643) to the longer, with the attention mask.

Positions: with a mask the reference pipeline of Qwen-Image (transformers 4.x) built the rotary positions with
get_rope_index: cumsum(mask) - 1, and 1 on padded slots, equal on the three M-RoPE sections. transformers 5.x
uses 0..L-1 for text-only input instead; the two agree on every real token with right padding, but not on the
padded slots, so the padded case passes the 4.x positions explicitly (position_ids [3, B, L]). The script checks
that the real rows do not depend on that choice, that the padded prompt's real rows equal its unpadded run, and
that hidden_states[-1] equals the language model's post-norm last_hidden_state.

Needs: pip install torch transformers tokenizers safetensors numpy. Run from anywhere; the output goes into the
repository.
"""
import json
import pathlib
import tempfile

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "qwen_image_text_encoder_tiny"
TOKENIZER = ROOT.parent / "shared" / "data" / "qwen_tokenizer" / "tokenizer.json"

TEMPLATE = ("<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, "
            "spatial relationships of the objects and background:<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n"
            "<|im_start|>assistant\n")
PAD_ID = 151643  # <|endoftext|>

TEXT_CONFIG = dict(vocab_size=152064, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, hidden_act="silu", rms_norm_eps=1e-6,
                   max_position_embeddings=128000, use_sliding_window=False, tie_word_embeddings=False,
                   rope_parameters=dict(rope_type="default", rope_theta=1000000.0, mrope_section=[2, 3, 3]))
VISION_CONFIG = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=64,
                     fullatt_block_indexes=[0])


def randomize(model, generator):
    """Every parameter random (norms around one), rounded to bf16 so that the saved bf16 checkpoint holds
    exactly the weights the float32 reference uses. Linear weights with std 1/sqrt(fan_in); the embedding with
    std 1 (as nn.Embedding's init), which the first RMSNorm rescales anyway."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                v = 0.1 * torch.randn(p.shape, generator=generator)
            elif p.ndim == 1:
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=generator)
            elif "embed_tokens" in name:
                v = torch.randn(p.shape, generator=generator)
            else:
                v = torch.randn(p.shape, generator=generator) / p.shape[-1] ** 0.5
            p.copy_(v.to(torch.bfloat16).to(torch.float32))


def legacy_name(name):
    """transformers >= 4.52 names -> the names of the diffusers Qwen-Image checkpoint (Qwen2.5-VL as released)."""
    if name.startswith("model.language_model."):
        return "model." + name[len("model.language_model."):]
    if name.startswith("model.visual."):
        return name[len("model."):]
    return name


def positions_4x(mask):
    """transformers 4.x get_rope_index for text-only input: cumsum(mask) - 1, padded slots 1, on 3 sections."""
    pos = mask.long().cumsum(-1) - 1
    pos = pos.masked_fill(mask == 0, 1)
    return pos.unsqueeze(0).expand(3, -1, -1)


def last_hidden(model, ids, mask=None, position_ids=None):
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids, output_hidden_states=True)
        inner = model.model.language_model(input_ids=ids, attention_mask=mask, position_ids=position_ids)
    last = out.hidden_states[-1]
    assert torch.equal(last, inner.last_hidden_state), "hidden_states[-1] is not the post-norm last hidden state"
    return last


def main():
    tokenizer = Tokenizer.from_file(str(TOKENIZER))

    def encode(prompt):
        return tokenizer.encode(TEMPLATE.format(prompt), add_special_tokens=False).ids

    generator = torch.Generator().manual_seed(20260827)
    config = Qwen2_5_VLConfig(text_config=TEXT_CONFIG, vision_config=VISION_CONFIG)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32).eval()
    model.config._attn_implementation = "eager"
    randomize(model, generator)
    golden = {}

    ids = torch.tensor([encode("A cat sitting on a windowsill, watercolor style.")], dtype=torch.int64)
    golden["template.input_ids"] = ids
    golden["template.hidden_states"] = last_hidden(model, ids)

    rows = [encode("一只橘猫坐在窗台上，水彩画风格，柔和的晨光。"), encode("Red fox, snow.")]
    length = max(len(r) for r in rows)
    ids = torch.tensor([r + [PAD_ID] * (length - len(r)) for r in rows], dtype=torch.int64)
    mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows], dtype=torch.int64)
    assert mask[1].sum() < length, "the second prompt must be padded"
    out = last_hidden(model, ids, mask, positions_4x(mask))
    golden.update({"padded.input_ids": ids, "padded.attention_mask": mask, "padded.hidden_states": out})
    n = len(rows[1])
    default_positions = last_hidden(model, ids, mask)
    err = (default_positions - out)[mask.bool()].abs().max().item()
    assert err == 0, f"the real rows depend on the padded slots' positions (max difference {err})"
    alone = last_hidden(model, ids[1:, :n])
    err = (alone[0] - out[1, :n]).abs().max().item()
    assert err < 1e-5, f"the reference ignores the attention mask (max difference {err})"

    # save_pretrained, then the names of the diffusers checkpoint and the sparse embedding.
    (OUT / "text_encoder").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model.to(torch.bfloat16).save_pretrained(tmp, safe_serialization=True)
        saved = {}
        for f in sorted(pathlib.Path(tmp).glob("*.safetensors")):
            saved.update(load_file(f))
        (OUT / "text_encoder" / "config.json").write_text((pathlib.Path(tmp) / "config.json").read_text())
    names = sorted(saved)
    weights = {legacy_name(n): t for n, t in saved.items()}
    assert "model.layers.0.self_attn.q_proj.bias" in weights and any(n.startswith("visual.") for n in weights)
    table = weights.pop("model.embed_tokens.weight")
    weights.pop("lm_head.weight")
    used = torch.unique(torch.cat([golden["template.input_ids"].flatten(), golden["padded.input_ids"].flatten()]))
    weights["model.embed_tokens.row_ids"] = used.to(torch.int64)
    weights["model.embed_tokens.rows"] = table[used].clone()
    save_file({k: v.contiguous() for k, v in weights.items()}, OUT / "text_encoder" / "sparse_weights.safetensors",
              metadata={"format": "pt"})
    save_file({k: v.contiguous() for k, v in golden.items()}, OUT / "golden.safetensors")
    (OUT / "model_index.json").write_text(json.dumps(
        {"_class_name": "QwenImagePipeline", "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"]},
        indent=2) + "\n")
    print("wrote", OUT, "saved names e.g.", [n for n in names if "layers.0.self_attn.q" in n or "blocks.0.attn.qkv.w" in n],
          "rows", len(used), "max id", int(used.max()))


if __name__ == "__main__":
    main()
