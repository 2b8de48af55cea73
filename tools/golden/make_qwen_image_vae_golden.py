#!/usr/bin/env python3
"""Writes a tiny random-weight Qwen-Image VAE in the real diffusers folder layout, and the float32 outputs of
diffusers' AutoencoderKLQwenImage for it, for the parity tests of the C++ decoder and encoder.

Output (tests/data/qwen_image_vae_tiny/):
  model_index.json                        a model folder holding only the vae component
  vae/config.json                         base_dim 4, z_dim 16, dim_mult [1, 2, 4, 4], num_res_blocks 1,
                                          temperal_downsample [false, true, true], the release's latents_mean/std
  vae/diffusion_pytorch_model.safetensors bf16 weights (save_pretrained), encoder and decoder
  golden.safetensors                      per case "<case>.<name>", all float32, computed with the bf16-rounded
                                          weights so that the file's weights reproduce them exactly:
    decode_single   z [1, 16, 1, 5, 7]   -> output [1, 3, 1, 40, 56]  vae.decode(z) (clamped)
    decode_batch    z [2, 16, 1, 3, 4]   -> output [2, 3, 1, 24, 32]
    decode_tiled    z [1, 16, 1, 10, 14] -> output [1, 3, 1, 80, 112] vae.tiled_decode(z) with 64-pixel tiles
                    every 48 pixels (latent tile 8, stride 6: a 2 x 3 grid with cut border tiles), clamped to
                    [-1, 1] afterwards (tiled_decode itself does not clamp); tile = [8, 6] (latent tile, stride)
    encode_single   image [1, 3, 1, 48, 32] -> mean [1, 16, 1, 6, 4]  vae.encode(image).latent_dist.mean
    encode_batch    image [2, 3, 1, 16, 24] -> mean [2, 16, 1, 2, 3]

The output layer is scaled so that few decoded pixels reach the clamp (the script checks it): a saturated
output would hide differences.

Needs: pip install torch diffusers safetensors numpy. Run from anywhere; the output goes into the repository.
"""
import json
import pathlib

import torch
from diffusers import AutoencoderKLQwenImage
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "qwen_image_vae_tiny"

CONFIG = dict(base_dim=4, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1, attn_scales=[],
              temperal_downsample=[False, True, True], dropout=0.0)


def randomize(model, generator):
    """Every parameter random, then rounded to bf16 so that the saved bf16 checkpoint holds exactly the
    weights the float32 reference uses: convolution weights with std 1/sqrt(fan-in of one temporal tap),
    biases around 0, norm gammas around 1. The decoder's output convolution is scaled down so that the image
    mostly stays inside the clamp range."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                v = 0.1 * torch.randn(p.shape, generator=generator)
            elif name.endswith("gamma"):
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=generator)
            else:
                fan_in = p.shape[1] * p.shape[-1] * p.shape[-2]
                v = torch.randn(p.shape, generator=generator) / fan_in ** 0.5
                if name == "decoder.conv_out.weight":
                    v *= 0.25
            p.copy_(v.to(torch.bfloat16).to(torch.float32))


def main():
    generator = torch.Generator().manual_seed(20261127)
    model = AutoencoderKLQwenImage(**CONFIG).to(torch.float32).eval()
    randomize(model, generator)
    tensors = {}
    with torch.no_grad():
        def decode(name, shape):
            z = torch.randn(shape, generator=generator)
            out = model.decode(z).sample
            clamped = (out.abs() >= 1).float().mean().item()
            assert clamped < 0.05, f"{name}: {clamped:.1%} of the pixels are clamped"
            tensors.update({f"{name}.z": z, f"{name}.output": out})
            return z

        decode("decode_single", (1, 16, 1, 5, 7))
        decode("decode_batch", (2, 16, 1, 3, 4))
        z = torch.randn((1, 16, 1, 10, 14), generator=generator)
        model.enable_tiling(tile_sample_min_height=64, tile_sample_min_width=64, tile_sample_stride_height=48,
                            tile_sample_stride_width=48)
        tiled = model.tiled_decode(z).sample.clamp(-1, 1)
        model.disable_tiling()
        untiled = model.decode(z).sample
        tensors.update({"decode_tiled.z": z, "decode_tiled.output": tiled,
                        "decode_tiled.tile": torch.tensor([8, 6], dtype=torch.int64)})

        def encode(name, shape):
            image = torch.rand(shape, generator=generator) * 2 - 1
            mean = model.encode(image).latent_dist.mean
            tensors.update({f"{name}.image": image, f"{name}.mean": mean})

        encode("encode_single", (1, 3, 1, 48, 32))
        encode("encode_batch", (2, 3, 1, 16, 24))

    folder = OUT / "vae"
    folder.mkdir(parents=True, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    (OUT / "model_index.json").write_text(json.dumps(
        {"_class_name": "QwenImagePipeline", "vae": ["diffusers", "AutoencoderKLQwenImage"]}, indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in tensors.items()}, OUT / "golden.safetensors")
    seam = ((tiled - untiled).norm() / untiled.norm()).item()
    print("wrote", OUT, f"(reference tiled vs untiled relative L2 {seam:.3g})")


if __name__ == "__main__":
    main()
