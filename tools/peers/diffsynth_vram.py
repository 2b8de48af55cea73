#!/usr/bin/env python3
"""Peer benchmark: DiffSynth-Studio's own VRAM management on its Qwen-Image DiT (QwenImageDiT), loaded from the
transformer files of a diffusers-layout folder, on the workload of `vramkit bench` (one DiT forward, random inputs
of the real shapes), in the documented modes for Qwen-Image: basic, CPU offload, FP8, dynamic (vram_limit=0 with
the weights in RAM as bf16 or fp8, and with half the fp8 weights resident) and disk (page cache warm or cold).

    python tools/peers/diffsynth_vram.py --model DIR --width 1328 --height 1328 --text-tokens 128 --repeat 5 \
        --json peers.jsonl

Prints one JSON object per mode (see peer_common.py). --cfg times one CFG step as two batch-1 forwards, as
DiffSynth's QwenImagePipeline runs it (its model_fn_qwen_image takes batch 1 only).

Targets DiffSynth-Studio 2.1.12 (PyPI package `diffsynth`). DiffSynth's own loader (ModelPool) recognises a model
by a hash of its tensor names and shapes, which a DiT cut to fewer blocks does not match, so this script calls the
function the loader calls, diffsynth.core.loader.model.load_model, with the same arguments: QwenImageDiT with
num_layers from the config, the VRAM module map of QwenImageDiT, the eight-key VRAM config and vram_limit (GiB).
The forward is the pipeline's own model_fn_qwen_image, after load_models_to_device's onload of every wrapped layer.
"""
import os

import peer_common

SYSTEM = "diffsynth"

MODES = {
    "basic": "no VRAM management, all weights resident, bf16",
    "cpu-offload": "offload bf16 cpu, onload/preparing bf16 cuda (component-level offload)",
    "fp8": "offload fp8 cpu, onload/preparing fp8 cuda, computation bf16",
    "stream-bf16": "offload/onload bf16 cpu, preparing bf16 cuda, vram_limit=0 (every layer streamed)",
    "stream-fp8": "offload/onload fp8 cpu, preparing fp8 cuda, vram_limit=0 (every layer streamed)",
    "dynamic-50": "offload/onload fp8 cpu, preparing fp8 cuda, vram_limit = VRAM in use + half the fp8 weights",
    "disk-warm": "offload/onload disk, preparing fp8 cuda, vram_limit=0, page cache warm",
    "disk-cold": "disk-warm with the weight files dropped from the page cache before every timed step",
}

REQUIREMENTS = {"torch": "torch", "diffsynth": "diffsynth", "transformers": "transformers",
                "safetensors": "safetensors", "einops": "einops"}

# QwenImageDiT hard-codes the real Qwen-Image widths; only the number of blocks is a constructor argument.
DIFFSYNTH_DIT_CONFIG = dict(patch_size=2, in_channels=64, out_channels=16, attention_head_dim=128,
                            num_attention_heads=24, joint_attention_dim=3584, axes_dims_rope=[16, 56, 56])

GIB = 1024 ** 3

# Modes that set vram_limit (0 streams every layer); the others leave it unset.
LIMIT_ZERO_MODES = ("stream-bf16", "stream-fp8", "disk-warm", "disk-cold")
LIMITED_MODES = LIMIT_ZERO_MODES + ("dynamic-50",)


def check_config(config, model_dir):
    wrong = {k: config.get(k) for k, v in DIFFSYNTH_DIT_CONFIG.items() if list_or_value(config.get(k)) != v}
    if wrong:
        raise SystemExit(f"--model {model_dir}: transformer/config.json has {wrong}; DiffSynth-Studio's QwenImageDiT "
                         f"has the fixed widths {DIFFSYNTH_DIT_CONFIG} and only takes the number of blocks "
                         "(use a model with the real block shapes, e.g. `vramkit make-test-model --arch qwen-image`)")


def list_or_value(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def vram_config(mode, device):
    """The eight keys of DiffSynth's VRAM config per mode (None: basic, no VRAM management)."""
    import torch
    bf16, fp8 = torch.bfloat16, torch.float8_e4m3fn
    cpu, dev = "cpu", str(device)  # dev: the computation device
    states = {  # (offload, onload, preparing) as (dtype, device)
        "basic": None,
        "cpu-offload": ((bf16, cpu), (bf16, dev), (bf16, dev)),
        "fp8": ((fp8, cpu), (fp8, dev), (fp8, dev)),
        "stream-bf16": ((bf16, cpu), (bf16, cpu), (bf16, dev)),
        "stream-fp8": ((fp8, cpu), (fp8, cpu), (fp8, dev)),
        "dynamic-50": ((fp8, cpu), (fp8, cpu), (fp8, dev)),
        "disk-warm": (("disk", "disk"), ("disk", "disk"), (fp8, dev)),
        "disk-cold": (("disk", "disk"), ("disk", "disk"), (fp8, dev)),
    }[mode]
    if states is None:
        return None
    (off_dtype, off_dev), (on_dtype, on_dev), (prep_dtype, prep_dev) = states
    return dict(offload_dtype=off_dtype, offload_device=off_dev, onload_dtype=on_dtype, onload_device=on_dev,
                preparing_dtype=prep_dtype, preparing_device=prep_dev, computation_dtype=bf16, computation_device=dev)


def vram_limit_gib(mode, device, fp8_weight_bytes):
    """vram_limit in GiB: unset, 0, or (dynamic-50) the device's memory in use now plus half the fp8 weights.
    DiffSynth compares it with the device-wide use reported by the driver before promoting each layer, greedily in
    the first forward, so that limit leaves about half the layers resident."""
    if mode in LIMIT_ZERO_MODES:
        return 0
    if mode == "dynamic-50":
        return (peer_common.device_used_bytes(device) + fp8_weight_bytes / 2) / GIB
    return None


def load_dit(files, num_layers, mode, device, vram_limit):
    import torch
    from diffsynth.core.loader.model import load_model
    from diffsynth.models.model_loader import ModelPool
    from diffsynth.models.qwen_image_dit import QwenImageDiT
    config = vram_config(mode, device)
    paths = [str(f) for f in files]
    if config is None:
        return load_model(QwenImageDiT, paths, dict(num_layers=num_layers), torch.bfloat16, str(device),
                          use_disk_map=True)
    module_map = ModelPool().fetch_module_map("diffsynth.models.qwen_image_dit.QwenImageDiT", config)
    model = load_model(QwenImageDiT, paths, dict(num_layers=num_layers), torch.bfloat16, str(device),
                       use_disk_map=True, module_map=module_map, vram_config=config,
                       vram_limit=vram_limit)
    # The pipeline's load_models_to_device(["dit"]) before denoising: every wrapped layer to its onload state.
    for module in model.modules():
        if hasattr(module, "onload"):
            module.onload()
    return model


def make_cold(dit, files):
    """Evicts the weight files from the page cache (clean pages; no root needed), so the next read is cold. The
    disk map's safetensors handles map the files, and pages still mapped are not evicted: they are reopened first
    (DiffSynth's own flush_files, which it calls every 10^9 parameters read), which unmaps what was read."""
    disk_maps = {id(m.disk_map): m.disk_map for m in dit.modules() if getattr(m, "disk_map", None) is not None}
    for disk_map in disk_maps.values():
        disk_map.flush_files()
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def fp8_bytes(files):
    """One byte per weight element: the size of the DiT's weights stored as fp8."""
    from safetensors import safe_open
    total = 0
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                shape = f.get_slice(name).get_shape()
                count = 1
                for d in shape:
                    count *= d
                total += count
    return total


def main():
    args = peer_common.parse_args(__doc__.splitlines()[0], MODES)
    peer_common.ensure_packages(REQUIREMENTS, args.wheels)
    import importlib.metadata
    import torch
    from diffsynth.pipelines.qwen_image import model_fn_qwen_image
    device = torch.device(args.device)
    config, files = peer_common.transformer_files(args.model)
    check_config(config, args.model)
    shape = peer_common.workload(args, config)
    weight_fp8_bytes = fp8_bytes(files)

    gen = torch.Generator().manual_seed(args.seed)
    # DiffSynth takes the unpacked latent [1, 16, H/8, W/8] and packs the 2x2 patches itself.
    latents = torch.randn(1, config["out_channels"], args.height // 8, args.width // 8, generator=gen)
    prompt_emb = torch.randn(1, args.text_tokens, config["joint_attention_dim"], generator=gen)
    inputs = dict(latents=latents.to(device, torch.bfloat16), prompt_emb=prompt_emb.to(device, torch.bfloat16),
                  # All text tokens valid; DiffSynth uses the mask only for the text lengths of the rotary embedding.
                  prompt_emb_mask=torch.ones(1, args.text_tokens, dtype=torch.int64, device=device),
                  # The pipeline passes the scheduler's timestep in [0, 1000]; model_fn divides by 1000.
                  timestep=torch.tensor([500.0], dtype=torch.bfloat16, device=device),
                  height=args.height, width=args.width)
    branches = 2 if args.cfg else 1

    def step(dit):
        for _ in range(branches):
            model_fn_qwen_image(dit=dit, **inputs)

    def limit_now(mode, settings):
        limit = vram_limit_gib(mode, device, weight_fp8_bytes)
        settings["vram_limit_gib"] = limit  # DiffSynth's argument, as passed
        settings["vram_limit_bytes"] = None if limit is None else round(limit * GIB)
        return limit

    for mode in args.modes:
        eight_keys = vram_config(mode, device)
        settings = dict(vram_config=None if eight_keys is None else {k: str(v) for k, v in eight_keys.items()},
                        # Set again when the mode loads: dynamic-50's depends on the device's use then.
                        vram_limit_gib=0 if mode in LIMIT_ZERO_MODES else None,
                        vram_limit_bytes=0 if mode in LIMIT_ZERO_MODES else None,
                        page_cache="dropped before every step" if mode == "disk-cold" else None,
                        workload=shape, model=str(args.model), fp8_weight_bytes=weight_fp8_bytes,
                        cfg_execution="two batch-1 forwards" if args.cfg else None,
                        diffsynth=importlib.metadata.version("diffsynth"), warmup=args.warmup, repeat=args.repeat)
        if device.type != "cuda" and mode in LIMITED_MODES:
            # AutoWrapped layers query torch.<device>.mem_get_info before every promotion; the CPU has none.
            result = peer_common.skipped(SYSTEM, mode, "vram_limit needs a CUDA device (driver memory query)",
                                         settings)
        else:
            result = peer_common.measure(
                SYSTEM, mode, args, device,
                lambda: load_dit(files, config["num_layers"], mode, device, limit_now(mode, settings)), step, settings,
                before_each=(lambda dit: make_cold(dit, files)) if mode == "disk-cold" else None)
        peer_common.emit(result, args.json)


if __name__ == "__main__":
    main()
