"""Shared by the peer benchmark scripts (diffusers_offload.py, diffsynth_vram.py): the command line, installing
missing packages from a folder of wheels, the model folder's transformer config and files, the workload's shapes,
and timing one mode (median of the timed forwards after warm-up, peak VRAM as PyTorch and as the driver see it).

Every mode prints one JSON object on one line and appends it to --json (JSON lines), so the output of both scripts
and of `vramkit bench --json` can be put side by side.
"""
import argparse
import gc
import importlib
import importlib.util
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time


def parse_args(description, modes):
    """The arguments both scripts share; `modes` maps each mode name to a one-line description for --help."""
    mode_help = "; ".join(f"{name}: {text}" for name, text in modes.items())
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", required=True, type=pathlib.Path,
                        help="a diffusers-layout folder (its transformer/ is used), e.g. one written by "
                             "`vramkit make-test-model --arch qwen-image --layers 8`, or the real Qwen-Image")
    parser.add_argument("--width", type=int, default=1328, help="image width in pixels, a multiple of 16")
    parser.add_argument("--height", type=int, default=1328, help="image height in pixels, a multiple of 16")
    parser.add_argument("--text-tokens", type=int, default=128, help="text tokens of the prompt embedding")
    parser.add_argument("--cfg", nargs="?", type=float, const=4.0, metavar="SCALE",
                        help="with a scale > 1 (alone: 4.0), time one classifier-free-guidance step (positive and "
                             "negative branch) instead of one batch-1 forward, executed the way the peer runs it; "
                             "the scale only switches CFG on, as in `vramkit bench --cfg S`")
    parser.add_argument("--modes", default=",".join(modes),
                        help=f"comma-separated subset of: {mode_help} (default: all)")
    parser.add_argument("--repeat", type=int, default=5, help="timed forwards per mode (>= 5 for the median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed forwards before the timed ones")
    parser.add_argument("--json", type=pathlib.Path, help="append one JSON object per mode (JSON lines) here")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for a smoke test")
    parser.add_argument("--wheels", type=pathlib.Path,
                        help="folder of wheels to install missing packages from (pip --no-index --find-links)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    args = parser.parse_args()

    args.cfg = args.cfg is not None and args.cfg > 1
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in args.modes if m not in modes]
    if unknown or not args.modes:
        parser.error(f"--modes: unknown mode(s) {unknown or args.modes}; choose from {', '.join(modes)}")
    if args.width <= 0 or args.height <= 0 or args.width % 16 or args.height % 16:
        parser.error(f"--width {args.width} / --height {args.height}: must be positive multiples of 16 "
                     "(8x VAE downsampling, then 2x2 patches)")
    if args.text_tokens <= 0:
        parser.error(f"--text-tokens {args.text_tokens}: must be positive")
    if args.repeat < 1 or args.warmup < 0:
        parser.error(f"--repeat {args.repeat} / --warmup {args.warmup}: need repeat >= 1, warmup >= 0")
    if args.wheels is not None and not args.wheels.is_dir():
        parser.error(f"--wheels {args.wheels}: not a folder")
    return args


def ensure_packages(requirements, wheels):
    """Imports each module of `requirements` ({import name: pip requirement}); the missing ones are installed from
    the folder `wheels` without network (the GPU machines have none), or reported with the command to run."""
    missing = [req for module, req in requirements.items() if importlib.util.find_spec(module) is None]
    if not missing:
        return
    if wheels is None:
        sys.exit(f"missing Python packages {missing}: pip install {' '.join(missing)}, or pass --wheels DIR "
                 f"(a folder made by `pip download -d DIR -r tools/peers/requirements.txt`)")
    command = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), *missing]
    if importlib.util.find_spec("torch") is not None:
        # Keep the machine's own torch (built for its CUDA): a torchvision wheel that wants another torch then
        # fails to resolve instead of silently replacing it.
        from importlib.metadata import version
        constraints = pathlib.Path(tempfile.mkdtemp()) / "constraints.txt"
        constraints.write_text(f"torch=={version('torch')}\n")
        command += ["--constraint", str(constraints)]
    if subprocess.run(command).returncode != 0:
        sys.exit(f"could not install {missing} from --wheels {wheels} (see pip's message above)")
    importlib.invalidate_caches()


def transformer_files(model_dir):
    """The transformer's config (dict) and weight files (sorted .safetensors paths) of a diffusers-layout folder."""
    folder = model_dir / "transformer"
    config_path = folder / "config.json"
    if not config_path.is_file():
        sys.exit(f"--model {model_dir}: no transformer/config.json (expected a diffusers-layout model folder)")
    files = sorted(folder.glob("diffusion_pytorch_model*.safetensors"))
    if not files:
        sys.exit(f"--model {model_dir}: no transformer/diffusion_pytorch_model*.safetensors")
    return json.loads(config_path.read_text()), files


def workload(args, config):
    """The shapes of one DiT forward: image tokens (2x2 patches of the 8x-downsampled latent), text tokens, the
    channel widths from the transformer's config."""
    return dict(width=args.width, height=args.height, latent_grid=[args.height // 16, args.width // 16],
                image_tokens=(args.height // 16) * (args.width // 16), text_tokens=args.text_tokens,
                in_channels=config["in_channels"], text_dim=config["joint_attention_dim"],
                num_layers=config["num_layers"], cfg=args.cfg)


def sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_used_bytes(device):
    """Memory in use on the whole device as the driver reports it (all processes, allocator caches included)."""
    import torch
    free, total = torch.cuda.mem_get_info(device)
    return total - free


def nvidia_smi_process_bytes():
    """This process's GPU memory according to nvidia-smi, or None where nvidia-smi is absent or does not list it
    (inside some containers the process ids differ)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.splitlines():
        pid, _, used = line.partition(",")
        if pid.strip() == str(os.getpid()):
            return int(used.strip()) * 1024 * 1024
    return None


def release_memory(device):
    """Frees what the previous mode left (call after dropping the references), so that each mode starts clean."""
    import torch
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def measure(system, mode, args, device, load, step, settings, before_each=None):
    """Loads a mode's model with `load()` (returns the state `step` needs), then runs `step(state)` warmup + repeat
    times; only the last `repeat` are timed. `before_each(state)` runs untimed before every step (e.g. dropping the
    page cache). `settings["vram_limit_bytes"]` (None: no limit) is read after `load()`, which may set it, and
    becomes the result's `vram_limit_bytes`, the field and unit of `vramkit bench --json`. Returns the mode's
    result object; the model is released before returning."""
    import torch
    release_memory(device)
    used_before = device_used_bytes(device) if device.type == "cuda" else None
    state = load()
    sync(device)
    if device.type == "cuda":
        # Peaks count from here: the resident weights are still allocated, so they are part of the peak.
        torch.cuda.reset_peak_memory_stats(device)
    times_ms = []
    driver_peak = 0
    for i in range(args.warmup + args.repeat):
        if before_each is not None:
            before_each(state)
        sync(device)
        start = time.perf_counter()
        with torch.no_grad():
            step(state)
        sync(device)
        elapsed_ms = (time.perf_counter() - start) * 1e3
        if i >= args.warmup:
            times_ms.append(round(elapsed_ms, 3))
        if device.type == "cuda":
            driver_peak = max(driver_peak, device_used_bytes(device))
    result = dict(system=system, mode=mode, time_per_forward_ms=round(statistics.median(times_ms), 3),
                  times_ms=times_ms, vram_limit_bytes=settings["vram_limit_bytes"], peak_vram_bytes=None,
                  peak_vram_reserved_bytes=None, peak_vram_driver_bytes=None, nvidia_smi_process_bytes=None,
                  settings=settings, device=str(device), platform=platform_info(device))
    if device.type == "cuda":
        result.update(peak_vram_bytes=torch.cuda.max_memory_allocated(device),
                      peak_vram_reserved_bytes=torch.cuda.max_memory_reserved(device),
                      # Sampled after each forward: device-wide use minus what was in use before this mode loaded.
                      peak_vram_driver_bytes=driver_peak - used_before,
                      nvidia_smi_process_bytes=nvidia_smi_process_bytes())
    del state
    release_memory(device)
    return result


def platform_info(device):
    import torch
    info = dict(python=platform.python_version(), torch=torch.__version__)
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def emit(result, json_path):
    """Prints the mode's result as one JSON line and appends it to json_path."""
    line = json.dumps(result)
    print(line, flush=True)
    if json_path is not None:
        with open(json_path, "a") as out:
            out.write(line + "\n")


def skipped(system, mode, reason, settings):
    """The result of a mode that cannot run here (e.g. it needs CUDA), so that the output still lists it."""
    return dict(system=system, mode=mode, skipped=reason, settings=settings)
