#!/usr/bin/env python3
"""Peer benchmark: diffusers' QwenImageTransformer2DModel on the workload of `vramkit bench` (one DiT forward,
random inputs of the real shapes), all resident or with diffusers' group offloading (block or leaf level, next
group prefetched on a side stream from pinned host copies), with or without fp8 layerwise casting.

    python tools/peers/diffusers_offload.py --model DIR --width 1328 --height 1328 --text-tokens 128 \
        --modes basic,block-stream,leaf-stream,leaf-stream-fp8 --repeat 5 --json peers.jsonl

Prints one JSON object per mode (see peer_common.py). --cfg times one CFG step as a batch of 2 (the transformer
takes both branches in one call; diffusers' own QwenImagePipeline calls it twice, once per branch).
Written against diffusers 0.42 (ModelMixin.enable_group_offload / enable_layerwise_casting).
"""
import peer_common

SYSTEM = "diffusers"

MODES = {
    "basic": "all weights resident on the GPU, bf16",
    "block-stream": "group offload, block level (1 block per group), use_stream",
    "leaf-stream": "group offload, leaf level, use_stream",
    "block-stream-fp8": "block-stream with fp8 e4m3fn layerwise casting (storage fp8, compute bf16)",
    "leaf-stream-fp8": "leaf-stream with fp8 e4m3fn layerwise casting (storage fp8, compute bf16)",
}

REQUIREMENTS = {"torch": "torch", "diffusers": "diffusers", "transformers": "transformers",
                "safetensors": "safetensors", "accelerate": "accelerate"}


def mode_settings(mode):
    """What diffusers is asked to do in each mode (also recorded in the output)."""
    offload_type = {"block": "block_level", "leaf": "leaf_level"}.get(mode.split("-")[0])
    return dict(offload_type=offload_type, num_blocks_per_group=1 if offload_type == "block_level" else None,
                use_stream=offload_type is not None, offload_device="cpu" if offload_type else None,
                storage_dtype="float8_e4m3fn" if mode.endswith("-fp8") else "bfloat16", compute_dtype="bfloat16")


def load_transformer(model_dir, mode, device):
    import torch
    from diffusers import QwenImageTransformer2DModel
    settings = mode_settings(mode)
    model = QwenImageTransformer2DModel.from_pretrained(model_dir / "transformer", torch_dtype=torch.bfloat16).eval()
    if settings["storage_dtype"] == "float8_e4m3fn":
        # Before group offloading, so that the pinned host copies (and so the transfers) are fp8.
        model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
    if settings["offload_type"] is None:
        return model.to(device)
    model.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"),
                               offload_type=settings["offload_type"],
                               num_blocks_per_group=settings["num_blocks_per_group"], use_stream=True)
    return model


def make_inputs(shape, device, seed):
    """Random inputs of the real shapes. All text tokens are valid, so the text mask is all ones and is passed as
    None, as diffusers' QwenImagePipeline does (a mask would force the masked, slower attention path)."""
    import torch
    batch = 2 if shape["cfg"] else 1
    gen = torch.Generator().manual_seed(seed)
    rows, cols = shape["latent_grid"]
    return dict(
        hidden_states=torch.randn(batch, shape["image_tokens"], shape["in_channels"], generator=gen),
        encoder_hidden_states=torch.randn(batch, shape["text_tokens"], shape["text_dim"], generator=gen),
        # The pipeline passes timestep / 1000.
        timestep=torch.full((batch,), 0.5),
        img_shapes=[[(1, rows, cols)]] * batch,
        encoder_hidden_states_mask=None,
    )


def main():
    args = peer_common.parse_args(__doc__.splitlines()[0], MODES)
    peer_common.ensure_packages(REQUIREMENTS, args.wheels)
    import torch
    import diffusers
    device = torch.device(args.device)
    config, _ = peer_common.transformer_files(args.model)
    shape = peer_common.workload(args, config)
    inputs = make_inputs(shape, device, args.seed)
    inputs = {k: v.to(device, torch.bfloat16) if torch.is_tensor(v) else v for k, v in inputs.items()}

    def step(model):
        model(**inputs, return_dict=False)

    for mode in args.modes:
        # Group offloading has no VRAM budget: it moves every group, whatever the device has.
        settings = dict(mode_settings(mode), vram_limit_bytes=None, workload=shape, model=str(args.model),
                        cfg_execution="one batch-2 forward" if args.cfg else None,
                        diffusers=diffusers.__version__, warmup=args.warmup, repeat=args.repeat)
        if device.type != "cuda" and settings["use_stream"]:
            # apply_group_offloading refuses use_stream without an accelerator stream, and offloading from the
            # CPU to the CPU would measure nothing.
            result = peer_common.skipped(SYSTEM, mode, "group offloading with streams needs a CUDA device", settings)
        else:
            result = peer_common.measure(SYSTEM, mode, args, device,
                                         lambda: load_transformer(args.model, mode, device), step, settings)
        peer_common.emit(result, args.json)


if __name__ == "__main__":
    main()
