#!/usr/bin/env python3
"""Golden vectors for the dtype conversions (tests/unit/convert_test.cpp).

Regenerate (needs numpy and ml_dtypes):  python3 tools/golden/make_convert_vectors.py
It rewrites tests/data/convert/; the output is deterministic (fixed seed), so a rerun with the same library
versions leaves the files unchanged.

Reference: ml_dtypes for bfloat16, float8_e4m3fn and float8_e5m2, numpy for float16. Their casts are plain
(non-saturating) round-to-nearest-even casts; the C++ test derives the saturating fp8 expectation itself.

Files (all little-endian, no header; N = number of sweep inputs):
  decode_bf16.u32, decode_f16.u32           f32 bits of every 16-bit code, in code order (65536 each)
  decode_f8_e4m3fn.u32, decode_f8_e5m2.u32  f32 bits of every 8-bit code, in code order (256 each)
  encode_input.u32                          N f32 inputs (bits)
  encode_bf16.u16, encode_f16.u16           N expected codes
  encode_f8_e4m3fn.u8, encode_f8_e5m2.u8    N expected codes
"""
import pathlib

import ml_dtypes
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "convert"
RNG = np.random.default_rng(20240611)

# name -> (numpy dtype, unsigned storage dtype)
FORMATS = {
    "bf16": (ml_dtypes.bfloat16, np.uint16),
    "f16": (np.float16, np.uint16),
    "f8_e4m3fn": (ml_dtypes.float8_e4m3fn, np.uint8),
    "f8_e5m2": (ml_dtypes.float8_e5m2, np.uint8),
}


def decode_table(name):
    dtype, storage = FORMATS[name]
    codes = np.arange(1 << (8 * np.dtype(storage).itemsize), dtype=np.int64).astype(storage)
    return codes.view(dtype).astype(np.float32).view(np.uint32)


def f32(values):
    return np.asarray(values, dtype=np.float64).astype(np.float32)


def f32_bits(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def with_ulp_neighbours(x):
    """x, and the f32 values one ulp below and above each (toward 0 and away from it)."""
    x = f32(x)
    return np.concatenate([x, np.nextafter(x, np.float32(0)), np.nextafter(x, np.float32(np.inf))])


def ties(name, sampled_codes):
    """Midpoints between neighbouring positive finite codes of a format (and the midpoint between the largest
    finite value and the next power-of-two step above it), for the given lower codes."""
    values = decode_table(name).view(np.float32).astype(np.float64)
    finite = np.isfinite(values[: len(values) // 2])
    top = int(np.flatnonzero(finite).max())
    codes = np.unique(np.asarray(sampled_codes, dtype=np.int64))
    codes = codes[(codes >= 0) & (codes <= top)]
    lower = values[codes]
    upper = np.where(codes < top, values[np.minimum(codes + 1, top)], 0.0)
    # One step above the largest finite value: the gap of its binade (the same as the gap below it).
    upper[codes == top] = values[top] + (values[top] - values[top - 1])
    return (lower + upper) / 2.0  # exact: one extra mantissa bit fits in f32 for every format here


def sweep_inputs():
    parts = []
    # A dense stride through all 2^32 bit patterns (the stride is odd and not a power of two, so every low-bit
    # pattern of the mantissa is visited).
    parts.append(f32_bits(np.arange(0, 1 << 32, 196613, dtype=np.uint64)))

    # Ties and their one-ulp neighbours: every code of the small formats; for the 16-bit ones all subnormals,
    # the two lowest normal binades, the top binade, and a random sample in between.
    parts.append(with_ulp_neighbours(ties("f8_e4m3fn", range(128))))
    parts.append(with_ulp_neighbours(ties("f8_e5m2", range(128))))
    for name, subnormal_and_low, top_binade, sample in (
        ("f16", range(0x0000, 0x0800), range(0x7800, 0x7c00), 3000),
        ("bf16", range(0x0000, 0x0180), range(0x7f00, 0x7f80), 4000),
    ):
        codes = np.concatenate([
            np.fromiter(subnormal_and_low, dtype=np.int64),
            np.fromiter(top_binade, dtype=np.int64),
            RNG.integers(0, top_binade.start, sample),
        ])
        parts.append(with_ulp_neighbours(ties(name, codes)))

    # Overflow boundaries of each format, with neighbours.
    parts.append(with_ulp_neighbours([448, 464, 480, 496, 512, 57344, 61440, 65504, 65520, 65536, 131072,
                                      float(np.finfo(np.float32).max)]))
    parts.append(f32_bits([0x7f7f7fff, 0x7f7f8000, 0x7f7f8001, 0x7f7fffff]))  # bf16 rounding into Inf

    # Random values in each format's range (uniform in magnitude bits), and random f32 subnormals.
    for lo, hi in ((0x3a000000, 0x44000000), (0x33000000, 0x47800000), (0x37000000, 0x47800000)):
        parts.append(f32_bits(RNG.integers(lo, hi, 3000, dtype=np.uint32)))
    parts.append(f32_bits(np.concatenate([[1, 2, 3, 0x400000, 0x7fffff], RNG.integers(1, 0x800000, 1000)])))

    # Zeros, infinities, quiet and signalling NaNs with payloads.
    parts.append(f32_bits([0x00000000, 0x7f800000, 0x7fc00000, 0x7f800001, 0x7fa00000, 0x7fffffff,
                           0x7fc00001, 0x7f802000]))

    positive = np.abs(np.concatenate(parts).astype(np.float32))
    bits = np.unique(positive.view(np.uint32))
    return np.concatenate([bits, bits | np.uint32(0x80000000)])


def main():
    np.seterr(invalid="ignore", over="ignore")  # NaN codes and overflowing casts are expected here
    OUT.mkdir(parents=True, exist_ok=True)
    for name in FORMATS:
        decode_table(name).astype("<u4").tofile(OUT / f"decode_{name}.u32")

    inputs = sweep_inputs()
    inputs.astype("<u4").tofile(OUT / "encode_input.u32")
    x = inputs.view(np.float32)
    for name, (dtype, storage) in FORMATS.items():
        little_endian = np.dtype(storage).newbyteorder("<")
        suffix = f"u{8 * little_endian.itemsize}"
        x.astype(dtype).view(storage).astype(little_endian).tofile(OUT / f"encode_{name}.{suffix}")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(inputs)} sweep inputs, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
