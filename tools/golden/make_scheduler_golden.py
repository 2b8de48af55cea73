#!/usr/bin/env python3
"""Writes the sigmas of diffusers' FlowMatchEulerDiscreteScheduler, configured and called as QwenImagePipeline
does (Qwen-Image's scheduler_config.json values, sigmas = linspace(1, 1/N, N), mu from calculate_shift with
the config's base/max sequence lengths), for several (steps, width, height), to
tests/data/scheduler/qwen_image_sigmas.json. Each value is the float32 sigma printed exactly (as a double).

Needs: pip install torch diffusers numpy. Run from anywhere.
"""
import json
import pathlib

import numpy as np
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.qwenimage.pipeline_qwenimage import calculate_shift

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "scheduler" / "qwen_image_sigmas.json"

CONFIG = dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
              base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02, time_shift_type="exponential")
CASES = [(50, 1328, 1328), (30, 1328, 1328), (20, 1024, 1024), (8, 1664, 928), (4, 512, 512), (2, 256, 256),
         (30, 2048, 2048), (13, 64, 96)]


def main():
    scheduler = FlowMatchEulerDiscreteScheduler(**CONFIG)
    cases = []
    for steps, width, height in CASES:
        seq_len = (height // 16) * (width // 16)
        mu = calculate_shift(seq_len, CONFIG["base_image_seq_len"], CONFIG["max_image_seq_len"],
                             CONFIG["base_shift"], CONFIG["max_shift"])
        scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
        cases.append(dict(steps=steps, width=width, height=height, image_seq_len=seq_len, mu=mu,
                          sigmas=[float(s) for s in scheduler.sigmas.numpy().astype(np.float32)]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(dict(config=CONFIG, cases=cases), indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
