"""core/text/tc_tokenizer against the reference in clip_tokenizer_ref.py
(no torch, no pip packages: Python's standard library and python3-regex).

Usage: test_tokenizer.py VOCAB.txt.gz   (TOKENCLIP_LIB: the testing library)

Checks, for a few hundred phrases (prompts, punctuation, digits, accents,
CJK, emoji, HTML references, odd white space, random strings): the cleaned
text, the ids of CLIP's tokenize() with OpenAI's vocabulary and with the
same vocabulary as Hugging Face's vocab.json + merges.txt, and the error for
text longer than the context."""
import ctypes
import json
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_tokenizer_ref import CONTEXT, Tokenizer, clean  # noqa: E402
from tc_testutil import fail, finish  # noqa: E402


class Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * 512)]


lib = libc = None  # loaded by load_lib(): phrases() is importable without the library


def load_lib():
    global lib, libc
    lib = ctypes.CDLL(os.environ["TOKENCLIP_LIB"])
    lib.tc_tokenizer_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(Error)]
    lib.tc_tokenizer_close.argtypes = [ctypes.c_void_p]
    lib.tc_tokenizer_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32,
                                          ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_uint32),
                                          ctypes.POINTER(Error)]
    lib.tc_tokenizer_clean.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(Error)]
    lib.tc_tokenizer_vocab_size.argtypes = [ctypes.c_void_p]
    lib.tc_tokenizer_vocab_size.restype = ctypes.c_uint32
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]


def check(cond, what):
    """Prints only the failures: the script checks every text of its corpus."""
    if not cond:
        fail(what)
    return cond


def open_tok(path):
    h, err = ctypes.c_void_p(), Error()
    st = lib.tc_tokenizer_open(path.encode() if path else None, ctypes.byref(h), ctypes.byref(err))
    if st != 0:
        sys.exit(f"FAIL tc_tokenizer_open({path}): {err.message.decode()}")
    return h


def c_tokenize(h, text, context=CONTEXT):
    out, n, err = (ctypes.c_int32 * context)(), ctypes.c_uint32(), Error()
    st = lib.tc_tokenizer_tokenize(h, text.encode("utf-8"), context, out, ctypes.byref(n), ctypes.byref(err))
    return st, list(out), n.value, err.message.decode("utf-8", "replace")


def c_clean(text):
    p, err = ctypes.c_void_p(), Error()
    st = lib.tc_tokenizer_clean(text.encode("utf-8"), ctypes.byref(p), ctypes.byref(err))
    if st != 0:
        return None
    s = ctypes.string_at(p).decode("utf-8")
    libc.free(p)
    return s


OBJECTS = ["screw", "metal nut", "capsule", "pill", "toothbrush", "transistor", "zipper", "hazelnut", "carpet",
           "grid", "leather", "tile", "wood", "bottle", "cable", "PCB", "macaroni", "pipe fryum", "cashew",
           "chewing gum", "candle"]
TEMPLATES = ["a photo of a {}.", "a cropped photo of the {}.", "a close-up photo of a {}.",
             "a jpeg corrupted photo of a {}.", "there is a {} in the scene.", "this is one {} in the scene."]
STATES = ["{}", "flawless {}", "perfect {}", "unblemished {}", "{} without flaw", "{} without defect",
          "{} without damage", "damaged {}", "broken {}", "{} with flaw", "{} with defect", "{} with damage"]

HAND = [
    "", " ", "a", "A", "Hello, World!", "It's a cat's toy; they're here, we've got it, I'm sure, we'll see, he'd go.",
    "IT'S LOUD", "don't", "rock'n'roll", "'''", "''s", "o'clock", "x'S", "a'ſ",
    "3.14159 is pi", "1234567890", "v2.0-beta", "route 66", "ⅻ roman", "½ cup", "²³", "٣ arabic digit",
    "café crème brûlée", "naïve façade", "Ångström ÆØÅ", "Straße", "ǅungla", "İstanbul", "ΟΔΟΣ ΣΟΦΟΣ", "Σ",
    "ΑΣ.", "ὈΔΥΣΣΕΎΣ", "Привет, мир", "שלום", "مرحبا", "नमस्ते", "日本語のテキスト", "中文 汉字", "한국어",
    "emoji 😀🎉👍🏽 family 👨‍👩‍👧", "🔩 screw", "flag 🇫🇷", "math ∑∫√∞ ≠ ≤", "arrows →←↔", "©®™",
    "a&amp;b", "&lt;tag&gt;", "&amp;amp;", "&quot;quoted&quot;", "&#65;&#x42;&#X43;", "&#0;", "&#128;", "&#xD800;",
    "&#1114112;", "&#99999999999999999999;", "&#x;", "&#;", "&#", "&", "&&", "&notit;", "&notin;", "&ampx",
    "&copy2021", "&nosuchentity;", "&NotEqualTilde;", "&nbsp;space", "a&#9;b", "&#x1F600;",
    "tabs\tand\nnew\r\nlines", "  lots   of    space  ", "\u00a0nbsp\u2003em\u3000ideographic", "zero\u200bwidth",
    "\x1c\x1d\x1e\x1f separators", "\x85next line", "<|startoftext|>", "<|endoftext|>", "a <|endoftext|> b",
    "!<|endoftext|>", "<|ENDOFTEXT|>", "<|startoftext", "....!!!???", "--==**", "(parenthesis) [brackets] {braces}",
    "http://example.com/path?q=1&r=2", "user@example.com", "C++ and C#", "$100 or €85 or ¥900", "#hashtag @user",
    "under_score", "CamelCaseWord", "ALLCAPS", "mIxEd CaSe", "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis", "a" * 60, "ab" * 30, "x y z " * 10,
    "\u0301combining first", "e\u0301 decomposed", "ﬁ ligature", "ＦＵＬＬ width", "curly ‘quotes’ “double”",
    "ǰ", "ẞ capital sharp s", "K kelvin", "Ω ohm", "℃", "\U0001D400 math bold",
]


def phrases():
    out = list(HAND)
    for o in OBJECTS:
        for t in TEMPLATES:
            for s in STATES[::3]:
                out.append(t.format(s.format(o)))
    rng = random.Random(7)
    pool = (list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789") + list(" \t\n'&#;<>|.,!?-_()x") +
            list("éÉüÜßñçøåΣσςİıſ") + list("日本語中文한국") + ["😀", "👍🏽", "🇫🇷", "\u200d", "\u0301", "&amp;",
                                                          "&lt;", "&#65;", "&#x4e2d;", "&nbsp", "'s", "'ll"])
    for _ in range(150):
        out.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 40))))
    return out


def run(h, ref, texts, label):
    bad = 0
    for text in texts:
        try:
            want, too_long = ref.tokenize(text), False
        except ValueError:
            want, too_long = None, True
        st, got, n, msg = c_tokenize(h, text)
        if too_long:
            ok = check(st != 0 and "too long" in msg, f"{label}: {text!r}: too long for the reference, C said {st} {msg!r}")
        else:
            length = len(ref.encode(text)) + 2
            ok = check(st == 0 and got == want and n == length,
                       f"{label}: {text!r}: status {st} {msg!r}\n  got  {got[:n + 1]}\n  want {want[:length + 1]}")
        bad += not ok
    print(f"{'ok' if not bad else 'FAIL'} {label}: {len(texts) - bad} of {len(texts)} phrases match")


def main():
    load_lib()
    vocab = sys.argv[1]
    ref = Tokenizer(vocab)
    texts = phrases()

    bad = 0
    for text in texts:
        bad += not check(c_clean(text) == clean(text), f"clean {text!r}: got {c_clean(text)!r} want {clean(text)!r}")
    print(f"{'ok' if not bad else 'FAIL'} clean: {len(texts) - bad} of {len(texts)} phrases match")

    h = open_tok(vocab)
    check(lib.tc_tokenizer_vocab_size(h) == 49408, "vocabulary size 49408")
    run(h, ref, texts, "OpenAI vocabulary")

    # the context limit: 75 pieces fit, 76 do not
    st, got, n, msg = c_tokenize(h, "a " * 75)
    check(st == 0 and n == 77 and got[76] == ref.eot, f"75 tokens fit: {st} {n} {msg}")
    st, got, n, msg = c_tokenize(h, "a " * 76)
    check(st != 0 and "too long" in msg and "78" in msg and "77" in msg, f"76 tokens: {st} {msg!r}")
    print("error for too long text:", msg)
    out, cnt, err = (ctypes.c_int32 * CONTEXT)(), ctypes.c_uint32(), Error()
    st = lib.tc_tokenizer_tokenize(h, ("日本語の長い文 " * 40).encode(), CONTEXT, out, ctypes.byref(cnt), ctypes.byref(err))
    try:
        err.message.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    check(st != 0 and valid, f"the too-long message quotes whole characters (valid UTF-8): {err.message!r}")
    err = Error()
    out, cnt = (ctypes.c_int32 * CONTEXT)(), ctypes.c_uint32()
    st = lib.tc_tokenizer_tokenize(h, b"bad \xff utf-8", CONTEXT, out, ctypes.byref(cnt), ctypes.byref(err))
    check(st != 0 and b"UTF-8" in err.message, f"invalid UTF-8: {st} {err.message!r}")
    lib.tc_tokenizer_close(h)

    # no path: the vocabulary installed with the library (the source tree's data/ when uninstalled)
    h = open_tok(None)
    text = "a photo of a flawless screw."
    check(c_tokenize(h, text)[1] == ref.tokenize(text), "the default vocabulary")
    lib.tc_tokenizer_close(h)

    # the same vocabulary as Hugging Face files
    with tempfile.TemporaryDirectory(prefix="tc-tok-") as d:
        with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(ref.encoder, f, ensure_ascii=False)
        with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in ref.merges) + "\n")
        for path in (d, os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt")):
            h = open_tok(path)
            run(h, ref, texts[::4], f"Hugging Face files ({os.path.basename(path) or 'directory'})")
            lib.tc_tokenizer_close(h)
        err, h2 = Error(), ctypes.c_void_p()
        st = lib.tc_tokenizer_open(os.path.join(d, "missing.txt.gz").encode(), ctypes.byref(h2), ctypes.byref(err))
        check(st != 0 and b"missing.txt.gz" in err.message, f"missing file: {err.message!r}")

    finish()


if __name__ == "__main__":
    main()
