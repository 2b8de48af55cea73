#!/usr/bin/env python3
"""Writes a tiny random-weight Qwen-Image transformer in the real diffusers folder layout, and the float32
outputs of diffusers' QwenImageTransformer2DModel for it, for the parity tests of the C++ forward.

Output (tests/data/qwen_image_dit_tiny/):
  model_index.json                  a model folder holding only the transformer component
  transformer/config.json           2 layers, 2 heads x 32, joint_attention_dim 48, axes_dims_rope (8, 12, 12)
  transformer/diffusion_pytorch_model.safetensors   bf16 weights (save_pretrained)
  golden.safetensors                per case "<case>.<name>": hidden_states, encoder_hidden_states, timestep
                                    (f32), grid (i64 [3]: frames, height, width in patches), encoder_mask
                                    (i64 [B, L], case "masked" only) and output (f32), computed in float32 with
                                    the bf16-rounded weights, so the file's weights reproduce them exactly.

Cases: "square_free" B=1, grid 1x3x5 (non-square), text length 7, no mask; "masked" B=2, grid 1x4x2, text
length 6 with the second prompt padded from 4 tokens (the script checks that the reference honours the mask by
comparing against that prompt run alone, unpadded). The timesteps are exact in bf16: the reference rounds the
timestep to the activation dtype before its sinusoid (arguments up to 1000 rad), so a timestep that bf16 cannot
hold would measure that rounding rather than the bf16 arithmetic of the blocks.

Needs: pip install torch diffusers safetensors numpy. Run from anywhere; the output goes into the repository.
"""
import json
import pathlib

import torch
from diffusers import QwenImageTransformer2DModel
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "qwen_image_dit_tiny"

CONFIG = dict(patch_size=2, in_channels=64, out_channels=16, num_layers=2, attention_head_dim=32,
              num_attention_heads=2, joint_attention_dim=48, guidance_embeds=False, axes_dims_rope=(8, 12, 12))


def randomize(model, generator):
    """Every parameter random (the default init zeroes nothing, but norms start at one): Linear weights with
    std 1/sqrt(fan_in), biases and norm weights around 0 and 1, then rounded to bf16 so that the saved bf16
    checkpoint holds exactly the weights the float32 reference uses."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                v = 0.1 * torch.randn(p.shape, generator=generator)
            elif p.ndim == 1:
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=generator)
            else:
                v = torch.randn(p.shape, generator=generator) / p.shape[1] ** 0.5
            p.copy_(v.to(torch.bfloat16).to(torch.float32))


def run(model, hidden, text, timestep, grid, mask=None):
    b = hidden.shape[0]
    kwargs = dict(hidden_states=hidden, encoder_hidden_states=text, timestep=timestep,
                  img_shapes=[[tuple(grid)]] * b, return_dict=False)
    if mask is not None:
        kwargs["encoder_hidden_states_mask"] = mask
    with torch.no_grad():
        return model(**kwargs)[0]


def main():
    generator = torch.Generator().manual_seed(20260827)
    model = QwenImageTransformer2DModel(**CONFIG).to(torch.float32).eval()
    randomize(model, generator)
    tensors = {}

    def case(name, batch, grid, text_len, timestep, mask=None):
        n = grid[0] * grid[1] * grid[2]
        hidden = torch.randn(batch, n, CONFIG["in_channels"], generator=generator)
        text = torch.randn(batch, text_len, CONFIG["joint_attention_dim"], generator=generator)
        out = run(model, hidden, text, timestep, grid, mask)
        tensors.update({f"{name}.hidden_states": hidden, f"{name}.encoder_hidden_states": text,
                        f"{name}.timestep": timestep, f"{name}.grid": torch.tensor(grid, dtype=torch.int64),
                        f"{name}.output": out.float()})
        if mask is not None:
            tensors[f"{name}.encoder_mask"] = mask.to(torch.int64)
        return hidden, text, out

    case("square_free", 1, (1, 3, 5), 7, torch.tensor([0.75]))
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2], dtype=torch.int64)
    hidden, text, out = case("masked", 2, (1, 4, 2), 6, torch.tensor([0.25, 0.875]), mask)
    alone = run(model, hidden[1:], text[1:, :4], torch.tensor([0.875]), (1, 4, 2))
    err = (alone - out[1:]).abs().max().item()
    assert err < 1e-5, f"the reference ignores encoder_hidden_states_mask (max difference {err})"

    folder = OUT / "transformer"
    folder.mkdir(parents=True, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    (OUT / "model_index.json").write_text(json.dumps(
        {"_class_name": "QwenImagePipeline", "transformer": ["diffusers", "QwenImageTransformer2DModel"]},
        indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in tensors.items()}, OUT / "golden.safetensors")
    print("wrote", OUT, "masked-vs-alone max difference", err)


if __name__ == "__main__":
    main()
