#!/usr/bin/env python3
"""Writes a tiny random-weight Qwen-Image pipeline in the real diffusers folder layout and the images diffusers'
QwenImagePipeline generates with it, for the end-to-end parity test of the C++ pipeline
(tests/models/pipeline_parity_test.cpp).

Every component is what QwenImagePipeline.from_pretrained loads, only small; the expected images are generated
from the folder as written (QwenImagePipeline.from_pretrained(OUT, dtype=torch.float32)), on the CPU, in
float32, with the bf16-rounded weights, so the committed bf16 files reproduce them exactly.

Output (tests/data/qwen_image_pipeline_tiny/):
  model_index.json      as save_pretrained of the pipeline writes it (class names of the five components)
  tokenizer/            vocab.json, merges.txt, tokenizer_config.json: the slow-tokenizer layout of the release
                        (no tokenizer.json), read by transformers' Qwen2Tokenizer and by our loader. A SUBSET of
                        the real Qwen2 vocabulary, renumbered: the 256 byte tokens (id = byte value), then exactly
                        the merges that the real tokenizer (../shared/data/qwen_tokenizer/tokenizer.json) applies
                        to the texts below, in the real rank order (ids 256.. in that order), then the added
                        tokens <|endoftext|> <|im_start|> <|im_end|> <|vision_start|> <|vision_end|>
                        <|vision_pad|> <|image_pad|> <|video_pad|>. BPE with a subset of the merges that holds
                        every merge the full table applies to a text gives the same tokens for that text, so
                        the templated prompts tokenize exactly as with the real tokenizer (the script checks it,
                        token by token): the system part of the template is 34 tokens, as the pipeline's fixed
                        drop of 34 positions assumes, and the prompt's non-ASCII characters go through the real
                        multi-byte merges.
  text_encoder/         config.json + model.safetensors (save_pretrained of Qwen2_5_VLForConditionalGeneration,
                        bf16): 2 layers, hidden 64, 4 query / 2 kv heads (head dim 16, mrope_section [2, 3, 3]),
                        SwiGLU 128, rms_norm_eps 1e-6, rope_theta 1e6, vocab_size = the tokenizer's size rounded
                        up to 64 (the release also pads its embedding), the special token ids of the config set to
                        the small vocabulary's; a 1-block vision tower of width 16 (the checkpoint holds one,
                        the pipeline never runs it) and lm_head. Tensor names are the legacy ones of the release
                        (model.layers.*, model.norm, model.embed_tokens, visual.*; the script checks them).
  transformer/          config.json + diffusion_pytorch_model.safetensors (bf16): 2 layers, 2 heads x 32,
                        joint_attention_dim 64 (the text encoder's hidden size), axes_dims_rope (8, 12, 12)
  vae/                  config.json + diffusion_pytorch_model.safetensors (bf16): base_dim 4, z_dim 16,
                        dim_mult [1, 2, 4, 4] (so the pipeline's vae_scale_factor 2^3 = 8), temperal_downsample
                        [false, true, true], 1 res block, the release's latents_mean/std; decoder.conv_out scaled
                        so that few pixels reach the clamp (checked), as a saturated image hides differences
  scheduler/scheduler_config.json   FlowMatchEulerDiscreteScheduler with the release's values
  latents.safetensors   "latents": f32 [1, 12, 64], packed noise for 64x48 (torch.randn, seed 20261127)
  cases.json            per case the call's parameters and the expected image's file
  expected_<case>.png   the pipeline's output_type="np" image as 8-bit RGB: round(x * 255), x in [0, 1]

Cases (both from latents.safetensors, width 64, height 48, max_sequence_length 512 (the default; the prompts
are far shorter), guidance_scale None (the transformer is not guidance-distilled), num_images_per_prompt 1):
  "cfg"     prompt PROMPT, negative_prompt " " (the reference's recommended default), true_cfg_scale 4.0,
            3 steps: both branches, the norm rescale of true CFG.
  "no_cfg"  prompt PROMPT_NO_CFG, no negative prompt (true_cfg_scale 1.0), 2 steps: the conditional branch only.

What the reference does with these (diffusers 0.42, checked by the script where it can be):
  - each prompt is templated and tokenized alone (positive and negative are separate text-encoder calls, no
    padding), hidden_states[-1] of the text encoder, the first 34 positions dropped, prompt_embeds in the
    text encoder's dtype (float32 here); a mask of ones is replaced by None;
  - the transformer gets timestep = sigma * 1000 / 1000 in the latents' dtype (float32), img_shapes
    [(1, H/16, W/16)];
  - true CFG: neg + s (pos - neg), rescaled per token to the norm of pos; the Euler step of the scheduler;
  - unpack, latents / (1 / std) + mean, vae.decode, postprocess "np": (x / 2 + 0.5).clamp(0, 1).

Needs: pip install torch diffusers transformers tokenizers safetensors numpy pillow. Run from anywhere; the output
goes into the repository. --dump DIR also writes the intermediate tensors of each case (prompt embeddings, the
transformer outputs, the latents after each step) to DIR/<case>.safetensors for debugging; they are not committed.
"""
import argparse
import json
import pathlib
import shutil

import numpy as np
import torch
from diffusers import (AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImagePipeline,
                       QwenImageTransformer2DModel)
from PIL import Image
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "qwen_image_pipeline_tiny"
REAL_TOKENIZER = ROOT.parent / "shared" / "data" / "qwen_tokenizer" / "tokenizer.json"

PROMPT = "A red fox in fresh snow, 一只红狐狸在雪地里, watercolor — «soft light»"
PROMPT_NO_CFG = "Café at dusk, 咖啡馆, neon sign"
NEGATIVE_PROMPT = " "
WIDTH, HEIGHT = 64, 48
# QwenImagePipeline.prompt_template_encode (an instance attribute; the script checks it is unchanged)
TEMPLATE = ("<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, "
            "spatial relationships of the objects and background:<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n"
            "<|im_start|>assistant\n")
DROP_TOKENS = 34  # QwenImagePipeline.prompt_template_encode_start_idx
ADDED_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]

TEXT_CONFIG = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, hidden_act="silu", rms_norm_eps=1e-6, max_position_embeddings=128000,
                   use_sliding_window=False, tie_word_embeddings=False,
                   rope_parameters=dict(rope_type="default", rope_theta=1000000.0, mrope_section=[2, 3, 3]))
VISION_CONFIG = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=64,
                     fullatt_block_indexes=[0])
TRANSFORMER_CONFIG = dict(patch_size=2, in_channels=64, out_channels=16, num_layers=2, attention_head_dim=32,
                          num_attention_heads=2, joint_attention_dim=64, guidance_embeds=False,
                          axes_dims_rope=(8, 12, 12))
VAE_CONFIG = dict(base_dim=4, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1, attn_scales=[],
                  temperal_downsample=[False, True, True], dropout=0.0)
SCHEDULER_CONFIG = dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.5,
                        max_shift=0.9, base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02,
                        time_shift_type="exponential", invert_sigmas=False, stochastic_sampling=False,
                        use_beta_sigmas=False, use_exponential_sigmas=False, use_karras_sigmas=False)
CASES = [
    dict(name="cfg", prompt=PROMPT, negative_prompt=NEGATIVE_PROMPT, true_cfg_scale=4.0, steps=3),
    dict(name="no_cfg", prompt=PROMPT_NO_CFG, negative_prompt=None, true_cfg_scale=1.0, steps=2),
]


def bytes_to_unicode():
    """GPT-2's map from bytes to the printable characters that spell them in byte-level vocabularies."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def applied_merges(token, ranks):
    """The merges byte-level BPE applies to build `token` (a vocabulary entry) from its characters: the
    lowest-ranked adjacent pair first, as the tokenizer does; checks that they end in the single token."""
    parts = list(token)
    used = []
    while len(parts) > 1:
        pairs = [(ranks.get((a, b)), i) for i, (a, b) in enumerate(zip(parts, parts[1:])) if (a, b) in ranks]
        if not pairs:
            break
        _, i = min(pairs)
        used.append((parts[i], parts[i + 1]))
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    assert parts == [token], f"BPE does not rebuild {token!r}: {parts}"
    return used


def write_tokenizer(folder, texts):
    """The small tokenizer (see the docstring); returns the real tokens of each text for the check."""
    real = Tokenizer.from_file(str(REAL_TOKENIZER))
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
              for m in json.loads(REAL_TOKENIZER.read_text())["model"]["merges"]]
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    real_tokens = [real.encode(text, add_special_tokens=False).tokens for text in texts]
    needed = set()
    for token in {t for tokens in real_tokens for t in tokens if t not in ADDED_TOKENS}:
        needed.update(applied_merges(token, ranks))
    kept = sorted(needed, key=ranks.get)
    byte_chars = bytes_to_unicode()
    vocab = {byte_chars[b]: b for b in range(256)}
    for a, b in kept:
        vocab.setdefault(a + b, len(vocab))
    added = {len(vocab) + i: token for i, token in enumerate(ADDED_TOKENS)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in kept), encoding="utf-8")
    config = dict(
        add_bos_token=False, add_prefix_space=False,
        added_tokens_decoder={str(i): dict(content=t, lstrip=False, normalized=False, rstrip=False,
                                           single_word=False, special=True) for i, t in added.items()},
        additional_special_tokens=ADDED_TOKENS[1:], bos_token=None, clean_up_tokenization_spaces=False,
        eos_token="<|im_end|>", errors="replace", model_max_length=131072, pad_token="<|endoftext|>",
        split_special_tokens=False, tokenizer_class="Qwen2Tokenizer", unk_token=None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")
    return real_tokens, {t: i for i, t in added.items()}, len(vocab) + len(added)


def randomize(model, generator, scale=None):
    """Every parameter random, rounded to bf16 so that the saved bf16 checkpoint holds exactly the weights the
    float32 reference uses: weights with std 1/sqrt(fan-in) (the embedding with std 1, as nn.Embedding's init),
    biases around 0, norm weights / gammas around 1; `scale` multiplies named parameters."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                v = 0.1 * torch.randn(p.shape, generator=generator)
            elif p.ndim == 1 or name.endswith("gamma"):
                v = 1.0 + 0.2 * torch.randn(p.shape, generator=generator)
            elif "embed_tokens" in name:
                v = torch.randn(p.shape, generator=generator)
            else:
                fan_in = p[0].numel() // (p.shape[2] if p.ndim == 5 else 1)  # one temporal tap of a 3D conv
                v = torch.randn(p.shape, generator=generator) / fan_in ** 0.5
            if scale and name in scale:
                v *= scale[name]
            p.copy_(v.to(torch.bfloat16).to(torch.float32))


def write_text_encoder(folder, vocab_size, special, generator):
    text = dict(TEXT_CONFIG, vocab_size=vocab_size, bos_token_id=special["<|endoftext|>"],
                eos_token_id=special["<|im_end|>"])
    config = Qwen2_5_VLConfig(text_config=text, vision_config=VISION_CONFIG,
                              image_token_id=special["<|image_pad|>"], video_token_id=special["<|video_pad|>"],
                              vision_start_token_id=special["<|vision_start|>"],
                              vision_end_token_id=special["<|vision_end|>"])
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32).eval()
    randomize(model, generator)
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    names = set()
    for f in folder.glob("*.safetensors"):
        names.update(load_file(f))
    assert "model.layers.0.self_attn.q_proj.weight" in names and "model.embed_tokens.weight" in names, \
        "save_pretrained did not write the legacy names of the release"
    assert not any(n.startswith("model.language_model.") or n.startswith("model.visual.") for n in names)


def write_components(out, generator):
    texts = [TEMPLATE.format(c["prompt"]) for c in CASES] + [TEMPLATE.format(NEGATIVE_PROMPT)]
    real_tokens, special, tokenizer_size = write_tokenizer(out / "tokenizer", texts)
    vocab_size = -(-tokenizer_size // 64) * 64
    write_text_encoder(out / "text_encoder", vocab_size, special, generator)

    transformer = QwenImageTransformer2DModel(**TRANSFORMER_CONFIG).to(torch.float32).eval()
    randomize(transformer, generator)
    transformer.to(torch.bfloat16).save_pretrained(out / "transformer", safe_serialization=True)

    vae = AutoencoderKLQwenImage(**VAE_CONFIG).to(torch.float32).eval()
    randomize(vae, generator, scale={"decoder.conv_out.weight": 0.25})
    vae.to(torch.bfloat16).save_pretrained(out / "vae", safe_serialization=True)

    FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG).save_pretrained(out / "scheduler")
    (out / "model_index.json").write_text(json.dumps({
        "_class_name": "QwenImagePipeline",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"],
        "tokenizer": ["transformers", "Qwen2Tokenizer"],
        "transformer": ["diffusers", "QwenImageTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKLQwenImage"]}, indent=2) + "\n")
    return texts, real_tokens


def check_tokenizer(pipe, texts, real_tokens):
    """The small tokenizer gives the real tokenizer's tokens, and the template's system part is 34 tokens."""
    assert isinstance(pipe.tokenizer, Qwen2Tokenizer), type(pipe.tokenizer)
    assert pipe.prompt_template_encode == TEMPLATE and pipe.prompt_template_encode_start_idx == DROP_TOKENS
    for text, expected in zip(texts, real_tokens):
        ids = pipe.tokenizer(text).input_ids
        assert pipe.tokenizer.convert_ids_to_tokens(ids) == expected, f"tokens differ for {text!r}"
        user = expected.index("user")
        assert expected[user + 1] == "Ċ" and user + 2 == DROP_TOKENS, "the system part is not 34 tokens"


def generate(pipe, case, latents, dump=None, **overrides):
    """One pipeline call as the case says (`overrides` replace its parameters) -> uint8 [H, W, 3]. With `dump`,
    also saves the prompt embeddings ("prompt_embeds", "negative_prompt_embeds"), every transformer output
    ("velocity.step<i>.cond" / ".uncond", before CFG) and the latents after each step ("latents.step<i>")."""
    case = dict(case, **overrides)
    seen = {}
    real_encode, real_forward = pipe.encode_prompt, pipe.transformer.forward
    branches = 2 if case["negative_prompt"] is not None and case["true_cfg_scale"] > 1 else 1
    calls = []

    def encode_prompt(**kwargs):  # called for the prompt first, then for the negative prompt
        embeds, mask = real_encode(**kwargs)
        seen["negative_prompt_embeds" if "prompt_embeds" in seen else "prompt_embeds"] = embeds
        return embeds, mask

    def forward(*args, **kwargs):  # the conditional branch first, then the unconditional one
        out = real_forward(*args, **kwargs)
        step, branch = divmod(len(calls), branches)
        calls.append(None)
        seen[f"velocity.step{step}.{'uncond' if branch else 'cond'}"] = out[0]
        return out

    def step_end(_pipe, i, _t, tensors):
        seen[f"latents.step{i}"] = tensors["latents"]
        return {}

    if dump:
        pipe.encode_prompt, pipe.transformer.forward = encode_prompt, forward
    try:
        with torch.no_grad():
            out = pipe(prompt=case["prompt"], negative_prompt=case["negative_prompt"],
                       true_cfg_scale=case["true_cfg_scale"], num_inference_steps=case["steps"], width=WIDTH,
                       height=HEIGHT, latents=latents.clone(), max_sequence_length=512, output_type="np",
                       callback_on_step_end=step_end if dump else None)
    finally:
        pipe.encode_prompt, pipe.transformer.forward = real_encode, real_forward
    if dump:
        save_file({k: v.float().contiguous() for k, v in seen.items()},
                  pathlib.Path(dump) / f"{case['name']}.safetensors")
    image = out.images[0]
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.float32
    clamped = ((image <= 0) | (image >= 1)).mean()
    assert clamped < 0.05, f"{case['name']}: {clamped:.1%} of the values are clamped"
    return np.round(image * 255).astype(np.uint8)


def check_conditioning(pipe, case, latents, pixels):
    """The image depends on the prompt and, with CFG, on the negative prompt: each changed gives another image
    (so the reference really reads them, and the C++ test would see a wrong prompt)."""
    changes = dict(prompt=case["prompt"] + " at night")
    if case["negative_prompt"] is not None:
        changes["negative_prompt"] = "blurry"
    for key, value in changes.items():
        other = generate(pipe, case, latents, **{key: value})
        moved = np.abs(other.astype(int) - pixels).max()
        assert moved > 8, f"{case['name']}: changing the {key} moves no pixel by more than {moved}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dump", help="folder for the intermediate tensors of each case (not committed)")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(20261127)
    latents = torch.randn((1, (HEIGHT // 16) * (WIDTH // 16), 64), generator=generator)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    texts, real_tokens = write_components(OUT, generator)
    save_file({"latents": latents}, OUT / "latents.safetensors")

    pipe = QwenImagePipeline.from_pretrained(OUT, dtype=torch.float32).to("cpu")
    assert pipe.vae_scale_factor == 8
    check_tokenizer(pipe, texts, real_tokens)
    if args.dump:
        pathlib.Path(args.dump).mkdir(parents=True, exist_ok=True)
    cases = []
    for case in CASES:
        pixels = generate(pipe, case, latents, args.dump)
        check_conditioning(pipe, case, latents, pixels)
        Image.fromarray(pixels, "RGB").save(OUT / f"expected_{case['name']}.png")
        cases.append(dict(case, width=WIDTH, height=HEIGHT, max_sequence_length=512, latents="latents.safetensors",
                          expected=f"expected_{case['name']}.png",
                          prompt_tokens=len(pipe.tokenizer(texts[len(cases)]).input_ids) - DROP_TOKENS))
    (OUT / "cases.json").write_text(json.dumps(cases, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"wrote {OUT} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
