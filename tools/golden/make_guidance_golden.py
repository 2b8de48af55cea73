#!/usr/bin/env python3
"""Writes inputs and outputs of QwenImagePipeline's true-CFG combination (comb = uncond + s·(cond − uncond),
then comb · ‖cond‖/‖comb‖ over the last dim), computed by PyTorch on bf16 and on float32 tensors exactly as
the pipeline's loop does, to tests/data/guidance/true_cfg.safetensors:
  <dtype>.cond, <dtype>.uncond   [2, 5, 64]
  <dtype>.out_renorm             with the norm rescale (scale 4.0)
  <dtype>.out_plain              without it (DiffSynth-Studio's CFG, scale 4.0)
for dtype in bf16, f32. Needs: pip install torch safetensors.
"""
import pathlib

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "guidance" / "true_cfg.safetensors"
SCALE = 4.0


def main():
    g = torch.Generator().manual_seed(5)
    tensors = {}
    for name, dtype in (("bf16", torch.bfloat16), ("f32", torch.float32)):
        cond = torch.randn(2, 5, 64, generator=g).to(dtype)
        uncond = (0.8 * cond.float() + 0.3 * torch.randn(2, 5, 64, generator=g)).to(dtype)
        comb = uncond + SCALE * (cond - uncond)
        cond_norm = torch.norm(cond, dim=-1, keepdim=True)
        comb_norm = torch.norm(comb, dim=-1, keepdim=True)
        tensors[f"{name}.cond"] = cond
        tensors[f"{name}.uncond"] = uncond
        tensors[f"{name}.out_renorm"] = comb * (cond_norm / comb_norm)
        tensors[f"{name}.out_plain"] = comb
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
