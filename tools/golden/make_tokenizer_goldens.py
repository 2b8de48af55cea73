#!/usr/bin/env python3
"""Encodes a set of varied strings with the Hugging Face `tokenizers` library (the reference implementation of the
fast Qwen2 tokenizer) from the real vocabulary, for the C++ tokenizer's exactness test.

Input:  ../shared/data/qwen_tokenizer/tokenizer.json (beside the clone; path overridable as argv[1]).
Output: tests/data/tokenizer/goldens.json: a list of {"text", "ids", "decoded"} where ids =
        encode(text, add_special_tokens=False).ids and decoded = decode(ids, skip_special_tokens=False)
        (the NFC-normalized text: decoding gives back the normalized string, not always the input).

Needs: pip install tokenizers.
"""
import json
import pathlib
import sys

from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
VOCAB = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/data/qwen_tokenizer/tokenizer.json"
OUT = ROOT / "tests" / "data" / "tokenizer" / "goldens.json"

# The Qwen-Image prompt template (diffusers QwenImagePipeline, prompt_template_encode).
TEMPLATE = (
    "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, "
    "spatial relationships of the objects and background:<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n"
    "<|im_start|>assistant\n"
)

LONG_PROMPT = (
    "A coffee shop entrance features a chalkboard sign reading \"Qwen Coffee 😊 $2 per cup,\" with a neon light "
    "beside it displaying \"通义千问\". Next to it hangs a poster showing a beautiful Chinese woman, and beneath the "
    "poster is written \"π≈3.1415926-53589793-23846264-33832795-02384197\". Ultra HD, 4K, cinematic composition."
)

TEXTS = [
    "",
    "a",
    " ",
    "Hello world",
    "Hello, world! How are you?",
    "The quick brown fox jumps over the lazy dog.",
    "  leading and trailing spaces  ",
    "multiple     spaces\tand\ttabs",
    "line one\nline two\n\nline four\n",
    "windows\r\nline\r\n\r\nend",
    "\n\n\n",
    "   \n   ",
    "trailing whitespace \t ",
    "don't can't won't I'M YOU'RE they'Ve we'LL she'D it's",
    "'s 'tis ''quoted'' 'hello'",
    "numbers 1234567 and 3.14159 and -42 and 1,000,000",
    "٣٤٥ ½ ⅷ ²³",
    "你好，世界！今天天气很好。",
    "通义千问是阿里巴巴开发的大型语言模型。",
    "日本語のテキスト、カタカナとひらがな。",
    "한국어 텍스트입니다",
    "Привет, мир! Ελληνικά κείμενα.",
    "مرحبا بالعالم",
    "emoji 😀🎉👍🏽 and ZWJ 👨‍👩‍👧‍👦 flags 🇨🇳🇺🇸",
    "combining e\u0301 vs \u00e9, A\u030a, n\u0303",
    "full-width ＡＢＣ１２３！？",
    "https://example.com/path?query=1&x=y#frag",
    "def f(x):\n    return x ** 2  # square\n",
    "int main() { printf(\"%d\\n\", a[i]); }",
    "punctuation!!! ??? ... --- ;;; ((()))",
    "<|im_start|>user\nhi<|im_end|>",
    "text<|endoftext|>more<|im_end|><|im_start|>",
    "<|vision_start|><|image_pad|><|vision_end|>",
    "<|im_start <|im_end| im_end|> <|unknown|>",
    "non-breaking\u00a0space and ideographic\u3000space and em\u2003space",
    "mixed\u00a0\u00a0\nnbsp",
    "tab\t\tnewline\n\ttab",
    "x",
    "中",
    "😀",
    LONG_PROMPT,
    TEMPLATE.format("A cat sitting on a windowsill, watercolor style."),
    TEMPLATE.format(LONG_PROMPT),
    TEMPLATE.format(""),
    TEMPLATE.format(" "),
]


def main():
    tok = Tokenizer.from_file(str(VOCAB))
    cases = []
    for text in TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        decoded = tok.decode(ids, skip_special_tokens=False)
        cases.append({"text": text, "ids": ids, "decoded": decoded})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(cases, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
