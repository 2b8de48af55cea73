#!/usr/bin/env python3
"""Plots one `vramkit bench --json` report, and optionally the peers' results (tools/peers, JSON lines) from the
same run: time per forward (per CFG step when the run used --cfg) against vram_limit, one series per system and
precision, with the ceilings the vramkit run measured as horizontal lines. Writes a PNG.

    python tools/bench/plot_benchmarks.py bench.json --peers peers.jsonl --gpu "H100 80GB PCIe" --out plot.png

The x axis is the mode's vram_limit in GiB; a mode without a limit (fully resident, or diffusers' group
offloading, which has none) sits at its peak VRAM. A limited mode whose peak VRAM differs from its limit (vramkit's
vram_limit=0 still holds its streaming ring) gets a thin segment from the limit to that peak. The peers must have
run the same workload (width, height, text tokens, CFG, number of blocks) on the same GPU: anything else is an
error, since the plot would compare different things. Needs matplotlib (tools/bench/requirements.txt).
"""
import argparse
import json
import pathlib
import sys

GIB = 1024 ** 3

# (system, legend label, modes, marker, colour). The modes are the names `vramkit bench` and the peer scripts write;
# a mode of a known system that no series names is still plotted, as that system's "other modes". A system keeps
# one hue family (vramkit blue/orange/red, diffusers green, DiffSynth-Studio purple/brown).
SERIES = [
    ("vramkit", "vramkit bf16 (basic, stream-bf16)", ["basic", "stream-bf16"], "o", "tab:blue"),
    ("vramkit", "vramkit fp8 (fp8, stream-fp8)", ["fp8", "stream-fp8"], "s", "tab:orange"),
    ("vramkit", "vramkit dynamic fp8 (dynamic-25/50/75)", ["dynamic-25", "dynamic-50", "dynamic-75"], "D",
     "tab:orange"),
    ("vramkit", "vramkit disk (disk-warm, disk-cold)", ["disk-warm", "disk-cold"], "v", "tab:red"),
    ("diffusers", "diffusers bf16 (basic, group offload)", ["basic", "block-stream", "leaf-stream"], "^", "tab:green"),
    ("diffusers", "diffusers group offload + fp8 casting", ["block-stream-fp8", "leaf-stream-fp8"], ">", "tab:olive"),
    ("diffsynth", "DiffSynth-Studio bf16", ["basic", "cpu-offload", "stream-bf16"], "P", "tab:purple"),
    ("diffsynth", "DiffSynth-Studio fp8 (fp8, dynamic-50, stream-fp8)", ["fp8", "dynamic-50", "stream-fp8"], "X",
     "tab:pink"),
    ("diffsynth", "DiffSynth-Studio disk", ["disk-warm", "disk-cold"], "*", "tab:brown"),
]
OTHER_COLOR = "tab:gray"  # a mode or system no series names
# Per system, the modes joined by a line (in their fp8 colour): those that differ only in vram_limit, so the line is
# a time/limit curve.
CURVES = {"vramkit": (["stream-fp8", "dynamic-25", "dynamic-50", "dynamic-75", "fp8"], "tab:orange"),
          "diffsynth": (["stream-fp8", "dynamic-50", "fp8"], "tab:pink")}


def series_color(system, mode):
    return next((color for s, _, modes, _, color in SERIES if s == system and mode in modes), OTHER_COLOR)


class InputError(Exception):
    """A file that is missing, is not JSON, is JSON of the wrong kind, or does not match the other files."""


def load_vramkit(path):
    """The report of `vramkit bench --json`: a JSON object with `modes` and `ceilings`."""
    text = read_text(path)
    try:
        report = json.loads(text)
    except json.JSONDecodeError as e:
        if looks_like_peer_lines(text):
            raise InputError(f"{path}: JSON lines of the peer scripts (tools/peers), not a `vramkit bench --json` "
                             "report: pass it with --peers")
        raise InputError(f"{path}: not JSON ({e})")
    if isinstance(report, dict) and "system" in report:
        raise InputError(f"{path}: a peer result (tools/peers, system {report['system']!r}), not a `vramkit bench "
                         "--json` report: pass it with --peers")
    if not isinstance(report, dict) or not isinstance(report.get("modes"), list) \
            or not isinstance(report.get("ceilings"), dict):
        raise InputError(f"{path}: not a `vramkit bench --json` report (expected an object with `modes` and "
                         "`ceilings`)")
    for key in ("device", "width", "height", "text_tokens", "cfg", "model"):
        if key not in report:
            raise InputError(f"{path}: `vramkit bench --json` report without `{key}`")
    if not report["modes"]:
        raise InputError(f"{path}: a `vramkit bench --json` report without modes")
    for i, mode in enumerate(report["modes"]):
        for key in ("mode", "seconds_per_forward", "vram_limit_bytes", "peak_device_bytes",
                    "bytes_host_to_device_per_forward", "bytes_disk_to_host_per_forward"):
            if not isinstance(mode, dict) or key not in mode:
                raise InputError(f"{path}: modes[{i}] has no `{key}`")
    return report


def load_peers(path):
    """The peer scripts' JSON lines: one object per mode with `system` and `mode`, and `time_per_forward_ms` or,
    for a mode that could not run, `skipped`."""
    text = read_text(path)
    results = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            result = json.loads(line)
        except json.JSONDecodeError as e:
            if looks_like_vramkit_report(text):
                raise InputError(f"{path}: a `vramkit bench --json` report, not the peers' JSON lines: pass it as "
                                 "the first argument")
            raise InputError(f"{path}:{number}: not a JSON line ({e})")
        if not isinstance(result, dict) or "system" not in result or "mode" not in result:
            raise InputError(f"{path}:{number}: not a peer result (expected an object with `system` and `mode`)")
        if "skipped" not in result:
            for key in ("time_per_forward_ms", "peak_vram_bytes", "vram_limit_bytes", "settings"):
                if key not in result:
                    raise InputError(f"{path}:{number}: peer result {result['system']}/{result['mode']} has no "
                                     f"`{key}` (written by an older tools/peers?)")
        result["_source"] = f"{path}:{number}"
        results.append(result)
    if not results:
        raise InputError(f"{path}: no peer results (empty file)")
    return results


def read_text(path):
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return path.read_text()


def looks_like_peer_lines(text):
    try:
        first = json.loads(next(line for line in text.splitlines() if line.strip()))
    except (StopIteration, json.JSONDecodeError):
        return False
    return isinstance(first, dict) and "system" in first


def looks_like_vramkit_report(text):
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(report, dict) and "modes" in report


def model_blocks(report, given):
    """The number of DiT blocks of the report's model: the report's num_layers, else from its transformer config
    where the folder is on this machine (then `given`, --blocks, must agree), else `given` (None: unknown)."""
    if report.get("num_layers") is not None:  # written by vramkit bench since it has the field
        if given is not None and given != report["num_layers"]:
            raise InputError(f"--blocks {given}: the report's model has num_layers {report['num_layers']}")
        return report["num_layers"]
    model = pathlib.Path(report["model"])
    for config in (model / "transformer" / "config.json", model / "config.json"):
        if config.is_file():
            blocks = json.loads(config.read_text()).get("num_layers")
            if given is not None and given != blocks:
                raise InputError(f"--blocks {given}: the report's model {config} has num_layers {blocks}")
            return blocks
    return given


def check_same_workload(report, blocks, peers):
    """Every peer result must time the report's workload on one GPU. Returns that GPU's name and the DiT's blocks
    (`blocks`, else the peers' num_layers; None where unknown)."""
    expected = dict(width=report["width"], height=report["height"], text_tokens=report["text_tokens"],
                    cfg=report["cfg"] > 1, num_layers=blocks)
    gpus = set()
    for result in peers:
        workload = result.get("settings", {}).get("workload", {})
        if expected["num_layers"] is None:  # the report's model is not here: the first peer's sets it
            expected["num_layers"] = workload.get("num_layers")
        for key, value in expected.items():
            if value is not None and workload.get(key) != value:
                raise InputError(f"{result['_source']}: {result['system']}/{result['mode']} ran {key} = "
                                 f"{workload.get(key)!r}, not {value!r} as the vramkit report (or, for num_layers "
                                 "without the report's model folder here, the first peer): not the same workload")
        if "skipped" not in result:
            gpus.add(result.get("platform", {}).get("gpu"))
    if len(gpus) > 1:
        raise InputError(f"the peer results come from different devices: {sorted(map(str, gpus))}")
    return next(iter(gpus), None), expected["num_layers"]


def point(system, mode, seconds, samples, limit_bytes, peak):
    """A plotted mode: its median and every timed sample in seconds, its limit and peak in GiB (None: none or
    unknown) and its x, the limit or else the peak."""
    limit = None if limit_bytes is None else limit_bytes / GIB
    return dict(system=system, mode=mode, seconds=seconds, samples=samples, limit=limit, peak=peak,
                x=peak if limit is None else limit)


def points(report, peers):
    """One point() per plotted mode, vramkit's first, and the peer modes left out (skipped, or neither a limit nor
    a peak VRAM to place them at) with the reason."""
    out, left_out = [], []
    for m in report["modes"]:
        out.append(point("vramkit", m["mode"], m["seconds_per_forward"], m.get("seconds", []), m["vram_limit_bytes"],
                         m["peak_device_bytes"] / GIB))
    for r in peers:
        if "skipped" in r:
            left_out.append(f"{r['system']}/{r['mode']}: skipped ({r['skipped']})")
            continue
        peak = None if r["peak_vram_bytes"] is None else r["peak_vram_bytes"] / GIB
        if r["vram_limit_bytes"] is None and peak is None:
            left_out.append(f"{r['system']}/{r['mode']}: no vram_limit and no peak VRAM (not run on a GPU)")
            continue
        if any(p["system"] == r["system"] and p["mode"] == r["mode"] for p in out):
            raise InputError(f"{r['_source']}: a second result for {r['system']}/{r['mode']} (the peer scripts "
                             "append to --json: remove the file before a new run)")
        out.append(point(r["system"], r["mode"], r["time_per_forward_ms"] / 1e3,
                         [ms / 1e3 for ms in r.get("times_ms", [])], r["vram_limit_bytes"], peak))
    return out, left_out


def ceilings(report):
    """(label, seconds, line style) of each ceiling the vramkit run measured: resident compute, the bytes of the
    fully streamed modes over the pinned host->device rate, and disk-cold's file bytes over the disk read rate."""
    c = report["ceilings"]
    modes = {m["mode"]: m for m in report["modes"]}
    lines = []
    if c.get("resident_compute_seconds") is not None:
        lines.append((f"resident compute (basic) {1e3 * c['resident_compute_seconds']:.4g} ms",
                      c["resident_compute_seconds"], "-"))
    for name, style in (("stream-bf16", "--"), ("stream-fp8", ":")):
        if name in modes and c.get("pinned_h2d_gbps"):
            gb = modes[name]["bytes_host_to_device_per_forward"] / 1e9
            seconds = gb / c["pinned_h2d_gbps"]
            lines.append((f"{name} bytes / pinned H2D: {gb:.3g} GB / {c['pinned_h2d_gbps']:.3g} GB/s = "
                          f"{1e3 * seconds:.4g} ms", seconds, style))
    if "disk-cold" in modes and c.get("disk_read_gbps"):
        gb = modes["disk-cold"]["bytes_disk_to_host_per_forward"] / 1e9
        seconds = gb / c["disk_read_gbps"]
        lines.append((f"disk-cold bytes / disk read: {gb:.3g} GB / {c['disk_read_gbps']:.3g} GB/s = "
                      f"{1e3 * seconds:.4g} ms", seconds, "-."))
    return lines


def title(report, blocks, gpu):
    model = f"Qwen-Image DiT, {blocks} of 60 blocks" if blocks else f"Qwen-Image DiT of {report['model']}"
    step = ", CFG step (batch 2)" if report["cfg"] > 1 else ""
    return (f"{model}, {report['width']}x{report['height']}, {report['text_tokens']} text tokens{step}\n"
            f"{gpu or 'device ' + report['device']}")


def label_modes(ax, plotted):
    """Writes each point's mode name beside it. Many modes share an x (every vram_limit=0 mode sits at 0) and
    nearly the same time, so a label that would overlap one already placed near the same x moves up by one line."""
    import math
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    line = math.log10(y1 / y0) / 40  # about one 7-point text line of the axes' height, in decades
    near = (x1 - x0) / 12  # labels closer than this in x may collide
    placed = []  # (x, log10 y) of the labels placed so far
    for p in sorted(plotted, key=lambda p: p["seconds"]):
        y = math.log10(1e3 * p["seconds"])
        for px, py in sorted(placed, key=lambda q: q[1]):
            if abs(px - p["x"]) < near and abs(py - y) < line:
                y = py + line
        placed.append((p["x"], y))
        color = series_color(p["system"], p["mode"])
        moved = y != math.log10(1e3 * p["seconds"])
        ax.annotate(p["mode"], (p["x"], 1e3 * p["seconds"]), xytext=(p["x"] + near / 8, 10 ** y), fontsize=7,
                    color=color, va="center",
                    arrowprops=dict(arrowstyle="-", linewidth=0.3, color=color) if moved else None)


def plot(report, peers, gpu, blocks, out_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Checked even when --gpu names the device.
    peers_gpu, blocks = check_same_workload(report, model_blocks(report, blocks), peers)
    gpu = gpu or peers_gpu or report.get("device_name")
    plotted, left_out = points(report, peers)

    fig, ax = plt.subplots(figsize=(13, 6), dpi=100)
    by_system_mode = {(p["system"], p["mode"]): p for p in plotted}
    for system, (modes, color) in CURVES.items():
        curve = sorted((by_system_mode[(system, m)] for m in modes if (system, m) in by_system_mode),
                       key=lambda p: p["x"])
        if len(curve) > 1:
            ax.plot([p["x"] for p in curve], [1e3 * p["seconds"] for p in curve], color=color,
                    linewidth=1, alpha=0.6)
    named = {(system, m) for system, _, modes, _, _ in SERIES for m in modes}
    series = SERIES + [(system, f"{system} other modes", sorted({p["mode"] for p in plotted if p["system"] == system
                                                                  and (system, p["mode"]) not in named}), "h",
                        OTHER_COLOR) for system in sorted({p["system"] for p in plotted})]
    for system, label, modes, marker, color in series:
        group = [by_system_mode[(system, m)] for m in modes if (system, m) in by_system_mode]
        if not group:
            continue
        ax.scatter([p["x"] for p in group], [1e3 * p["seconds"] for p in group], marker=marker, color=color,
                   s=45, label=label, zorder=3)
        for p in group:
            if p["samples"]:  # the spread of the timed samples, fastest to slowest
                ax.plot([p["x"]] * 2, [1e3 * min(p["samples"]), 1e3 * max(p["samples"])], color=color,
                        linewidth=0.8, alpha=0.5, marker="_", markersize=6)
            if p["peak"] is not None and abs(p["peak"] - p["x"]) > 0.01:
                ax.plot([p["x"], p["peak"]], [1e3 * p["seconds"]] * 2, color=color, linewidth=0.6, marker="|",
                        markevery=[1], markersize=8)
    for label, seconds, style in ceilings(report):
        ax.axhline(1e3 * seconds, color="black", linestyle=style, linewidth=1, label=label)

    ax.set_yscale("log")
    widest = max(p["x"] if p["peak"] is None else max(p["x"], p["peak"]) for p in plotted)
    ax.set_xlim(-0.05 * widest, 1.12 * widest)  # room for the labels right of the rightmost points
    label_modes(ax, plotted)
    ax.set_xlabel("vram_limit (GiB); no limit: at its peak VRAM; thin segment: from the limit to the peak VRAM")
    step = "ms per CFG step" if report["cfg"] > 1 else "ms per forward"
    ax.set_ylabel(f"{step} (log): median, bar from fastest to slowest sample")
    ax.set_title(title(report, blocks, gpu), fontsize=10)
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if left_out:
        fig.text(0.01, 0.005, "not plotted: " + "; ".join(left_out), fontsize=6, va="bottom")
    fig.tight_layout()
    fig.savefig(out_path, format="png")
    plt.close(fig)
    return plotted, left_out


def markdown_table(plotted, cfg):
    """The plotted points as a Markdown table (for docs/benchmarks.md): vramkit's modes in the report's order,
    then the peers' in their files' order."""
    unit = "ms/CFG step" if cfg else "ms/fwd"
    rows = [f"| system | mode | vram_limit GiB | peak VRAM GiB | {unit} |", "|---|---|---:|---:|---:|"]
    for p in plotted:
        limit = "none" if p["limit"] is None else f"{p['limit']:.2f}"
        peak = "-" if p["peak"] is None else f"{p['peak']:.2f}"
        rows.append(f"| {p['system']} | {p['mode']} | {limit} | {peak} | {1e3 * p['seconds']:.1f} |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=pathlib.Path, help="the report of `vramkit bench --json FILE`")
    parser.add_argument("--peers", type=pathlib.Path, nargs="*", default=[],
                        help="JSON-lines files of tools/peers/diffusers_offload.py and diffsynth_vram.py (--json), "
                             "from the same GPU and workload")
    parser.add_argument("--gpu", help="the device named in the title (default: the peers' GPU name, else the "
                                      "report's --device)")
    parser.add_argument("--blocks", type=int,
                        help="the DiT's blocks, for the title and the peers' check, where the report's model folder "
                             "is not on this machine (default: its transformer/config.json)")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="the PNG to write")
    args = parser.parse_args()
    if args.out.suffix.lower() != ".png":
        parser.error(f"--out {args.out}: the plot is a PNG; name it *.png")
    try:
        report = load_vramkit(args.bench)
        peers = [result for path in args.peers for result in load_peers(path)]
        plotted, left_out = plot(report, peers, args.gpu, args.blocks, args.out)
    except InputError as e:
        sys.exit(f"plot_benchmarks: {e}")
    for line in left_out:
        print(f"not plotted: {line}", file=sys.stderr)
    print(markdown_table(plotted, report["cfg"] > 1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
