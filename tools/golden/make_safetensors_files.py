#!/usr/bin/env python3
"""Writes small safetensors files with the reference Python `safetensors` package, for the reader's tests.

Output (tests/data/safetensors/):
  all_dtypes.safetensors  one tensor of every dtype vramkit reads (F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32
                          I16 I8 U8 BOOL), a rank-0 scalar, a zero-element tensor and string metadata.
  all_dtypes.json         the expected content: per tensor its dtype, shape, little-endian bytes (hex) and
                          values (as float64, exact for every value here), and the metadata.
  no_tensors.safetensors  a file with no tensors at all, as the package writes it.

and the fuzzer's seed corpus (tests/fuzz/corpus/safetensors/): small files named valid-* (written by the
package; the parser must accept them) and invalid-* (hand-made damage; the parser must refuse them).

Needs: pip install safetensors numpy ml_dtypes. The tensors are given to the package as raw little-endian bytes
(safetensors.serialize_file with TensorSpec) so that bf16 and fp8 need no framework; ml_dtypes makes those bytes.
"""
import json
import pathlib
import struct

import ml_dtypes
import numpy as np
from safetensors import TensorSpec, serialize, serialize_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "safetensors"
CORPUS = ROOT / "tests" / "fuzz" / "corpus" / "safetensors"

# name -> (numpy dtype, safetensors package dtype name, file dtype string, shape, values)
TENSORS = {
    "f64": (np.float64, "float64", "F64", [3], [0.1, -2.5, 1e300]),
    "f32.matrix": (np.float32, "float32", "F32", [2, 3], [-1.5, 0.0, 0.25, 3.0, 1e-3, 65504.5]),
    "f16": (np.float16, "float16", "F16", [4], [1.0, -0.333, 65504.0, 6e-8]),
    "bf16": (ml_dtypes.bfloat16, "bfloat16", "BF16", [2, 2], [1.0, -3.140625, 1e38, -7.5e-39]),
    "f8_e4m3": (ml_dtypes.float8_e4m3fn, "float8_e4m3fn", "F8_E4M3", [4], [0.5, -448.0, 0.001953125, 3.5]),
    "f8_e5m2": (ml_dtypes.float8_e5m2, "float8_e5m2", "F8_E5M2", [4], [57344.0, -0.25, 1.52587890625e-05, 3.0]),
    "i64": (np.int64, "int64", "I64", [4], [-9007199254740992, 1, 0, 123456789012]),
    "i32": (np.int32, "int32", "I32", [3], [-2147483648, 2147483647, 7]),
    "i16": (np.int16, "int16", "I16", [3], [-32768, 32767, -1]),
    "i8": (np.int8, "int8", "I8", [3], [-128, 127, 0]),
    "u8": (np.uint8, "uint8", "U8", [1, 3], [0, 255, 17]),
    "bool": (np.bool_, "bool", "BOOL", [3], [True, False, True]),
    "scalar": (np.float32, "float32", "F32", [], [42.0]),
    "empty": (np.float32, "float32", "F32", [0, 3], []),
}
METADATA = {"format": "pt", "note": "vramkit golden \u00e9"}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.array(values, dtype=np_dtype).reshape(shape)
              for name, (np_dtype, _, _, shape, values) in TENSORS.items()}
    specs = {name: TensorSpec(dtype=TENSORS[name][1], shape=list(a.shape), data_ptr=a.ctypes.data,
                              data_len=a.nbytes)
             for name, a in arrays.items()}
    serialize_file(specs, str(OUT / "all_dtypes.safetensors"), metadata=METADATA)

    expected = {
        "metadata": METADATA,
        "tensors": {name: {"dtype": TENSORS[name][2], "shape": list(a.shape), "hex": a.tobytes().hex(),
                           "values": [float(v) for v in a.astype(np.float64).reshape(-1)]}
                    for name, a in arrays.items()},
    }
    (OUT / "all_dtypes.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    (OUT / "no_tensors.safetensors").write_bytes(bytes(serialize({})))
    write_fuzz_seeds((OUT / "all_dtypes.safetensors").read_bytes())


def raw(header, data: bytes = b"", length: int = -1) -> bytes:
    """A file from header text (str or raw bytes) and data, with a header length that may lie."""
    text = header if isinstance(header, bytes) else header.encode()
    return struct.pack("<Q", len(text) if length < 0 else length) + text + data


def write_fuzz_seeds(all_dtypes: bytes) -> None:
    CORPUS.mkdir(parents=True, exist_ok=True)
    a = np.arange(6, dtype=np.float32)
    b = np.zeros(0, dtype=np.int16)
    small = serialize({"w": TensorSpec(dtype="float32", shape=[2, 3], data_ptr=a.ctypes.data, data_len=a.nbytes),
                       "e": TensorSpec(dtype="int16", shape=[0], data_ptr=b.ctypes.data, data_len=0)},
                      metadata={"format": "pt"})
    t = '"t":{"dtype":"U8","shape":[4],"data_offsets":[%s]}'
    seeds = {
        "valid-all-dtypes": all_dtypes,
        "valid-small": bytes(small),
        "valid-no-tensors": bytes(serialize({})),
        "valid-metadata-only": bytes(serialize({}, metadata={"k": "v"})),
        "invalid-truncated": bytes(small)[:-3],
        "invalid-header-length": raw("{}", length=1 << 40),
        "invalid-overlap": raw("{%s,%s}" % (t % "0,4", t.replace('"t"', '"u"') % "2,6"), bytes(6)),
        "invalid-gap": raw("{%s}" % (t % "2,6"), bytes(6)),
        "invalid-bad-utf8": raw(b'{"\xff":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', bytes(1)),
        "invalid-unknown-dtype": raw('{"t":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', bytes(16)),
        "invalid-wrong-length": raw('{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', bytes(8)),
        "invalid-metadata": raw('{"__metadata__":{"k":1}}'),
        "invalid-json": raw('{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},}', bytes(1)),
    }
    for name, content in seeds.items():
        (CORPUS / (name + ".safetensors")).write_bytes(content)


if __name__ == "__main__":
    main()
