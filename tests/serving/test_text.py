"""The in-graph tokenizer against the Hugging Face fast tokenizer: ids, words and character offsets."""

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tokenizers
import transformers

from conftest import in_process
from tfft.serving.text import (ALONE, REMOVED, SPACE, WORD, TextEncoder, TextEncoderConfig, TokenizerNotSupported,
                               read_char_table)
from tfft.tokenization import encode_texts, load_tokenizer, pad_batch

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"  # the presets name ../shared/data relative to the repository

HARD = [
    "Héllo WORLD!", "naïve café résumé Zoë Saldaña", "e\u0301 combining acute, a\u0308 diaeresis",
    "straße ﬁ ＡＢＣ ΟΔΟΣ İstanbul ǅ", "中文字符 and 日本語 and 한국어", "emoji 😀👍🏽 ok 🇩🇪",
    "zero\u200bwidth soft\u00adhyphen nul\x00byte bad\ufffdchar bell\x07 esc\x1b", "bidi \u202eevil\u202c text",
    "https://example.com/path?q=1&x=y#frag user@mail.org", "x" * 150 + " end", "é" * 60 + " fits in chars",
    "a" * 100 + " exactly100", "!!!???...,,,;;", "", "   \t\n ", "\u00a0\u2003\u3000", "tab\tsep\rcr\nlf\u0085nel",
    "hello [SEP] world [sep] [MASK]x[CLS] [[SEP]] [UNK] [PAD]", "[SE\u200bP] [unused0]", "don't U.S. e.g. 3.14 $5",
    "\U00020000\U0002b820\U0002b920 rare CJK", "Ⅻ ① ｶﾀｶﾅ ㎞ ﷺ", "\ue000private\U000f0000use", "l\u0130\u0131 \u1e9e",
]


def hf_ids(tokenizer, texts):
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def hf_word_spans(tokenizer, texts):
    """[(start, end)] per word, from the tokenizer's own word ids and offsets."""
    encoding = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    result = []
    for i in range(len(texts)):
        spans = {}
        for word, (start, end) in zip(encoding.word_ids(i), encoding["offset_mapping"][i]):
            low, high = spans.get(word, (start, end))
            spans[word] = (min(low, start), max(high, end))
        result.append([spans[word] for word in sorted(spans)])
    return result


def cased(tokenizer):
    """The same vocabulary with a cased normalizer (no lower-casing, no accent stripping)."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state["normalizer"].update(lowercase=False, strip_accents=False)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer.from_str(json.dumps(state)), unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", pad_token="[PAD]", mask_token="[MASK]", model_max_length=512)


@pytest.fixture(scope="module", params=["uncased", "cased"])
def pair(request, minilm_dir, tmp_path_factory):
    """(HF tokenizer, in-graph encoder) for the real uncased tokenizer and a cased variant of it."""
    tokenizer = load_tokenizer(minilm_dir)
    if request.param == "cased":
        tokenizer = cased(tokenizer)
    vocab = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    config = TextEncoderConfig.from_tokenizer(tokenizer, vocab, max_length=48)
    return tokenizer, TextEncoder(read_char_table(tokenizer), config)


def ids_of(encoder, texts):
    return encoder.tokenize(tf.constant(texts, tf.string, shape=[len(texts)]))[0].to_list()


@pytest.mark.slow
def test_hard_strings_give_the_hugging_face_ids(pair):
    tokenizer, encoder = pair
    ours, reference = ids_of(encoder, HARD), hf_ids(tokenizer, HARD)
    mismatches = [(text, a, b) for text, a, b in zip(HARD, ours, reference) if a != b]
    assert not mismatches, mismatches[:3]


def test_the_known_traps_are_handled_as_hugging_face_does(pair):
    tokenizer, encoder = pair
    if tokenizer.backend_tokenizer.normalizer.normalize_str("A") != "a":
        pytest.skip("the traps are about lower-casing and accent stripping")
    vocab = tokenizer.convert_ids_to_tokens

    def pieces(text):
        return vocab(ids_of(encoder, [text])[0])

    assert pieces("zero\u200bwidth") == vocab(hf_ids(tokenizer, ["zerowidth"])[0])  # deleted, not a space
    assert pieces("ΟΔΟΣ") == ["ο", "##δ", "##ο", "##σ"]  # no final sigma: per-character lower-casing
    assert pieces("ＡＢＣ") == ["[UNK]"]  # full width kept (tf-text's NFKC would give "abc")
    assert pieces("x" * 101) == ["[UNK]"] and pieces("é" * 60) != ["[UNK]"]  # 100 characters, not bytes
    assert pieces("a [SEP] b") == ["a", "[SEP]", "b"]  # special tokens are matched in raw text


@pytest.mark.slow
def test_every_code_point_in_context(pair):
    """Each of the 1.1M code points between letters and twice, 64 code points per text."""
    tokenizer, encoder = pair
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = [" ".join(f"x{chr(c)}y{chr(c)}" for c in points[i:i + 64]) for i in range(0, len(points), 64)]
    reference = hf_ids(tokenizer, texts)
    tokenize = tf.function(lambda t: encoder.tokenize(t)[0])
    ours = []
    for i in range(0, len(texts), 2048):
        ours += tokenize(tf.constant(texts[i:i + 2048])).to_list()
    bad = [f"U+{points[64 * i]:04X}..U+{points[min(64 * i + 63, len(points) - 1)]:04X}"
           for i, (a, b) in enumerate(zip(ours, reference)) if a != b]
    assert not bad, bad[:5]


def random_texts(count: int, seed: int) -> list[str]:
    """Random mixes of ASCII, Latin, combining marks, Greek, CJK, spaces, controls, emoji, Hangul, full width and
    literal special tokens."""
    rng = np.random.default_rng(seed)
    pools = [range(32, 127), range(0xA0, 0x250), range(0x300, 0x370), range(0x370, 0x400), range(0x4E00, 0x4E80),
             range(0x2000, 0x2070), range(0, 32), range(0x1F600, 0x1F650), range(0xAC00, 0xAC40),
             range(0xFF00, 0xFF60), range(0xFE00, 0xFE10)]
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.integers(0, 40)):
            pool = pools[rng.integers(len(pools))]
            parts.append(chr(pool[rng.integers(len(pool))]))
            if rng.random() < 0.02:
                parts.append(["[SEP]", "[CLS]", "[MASK]"][rng.integers(3)])
        texts.append("".join(parts))
    return texts


def test_random_texts_give_the_same_ids_words_and_offsets(pair):
    tokenizer, encoder = pair
    texts = random_texts(3000, seed=1)
    assert ids_of(encoder, texts) == hf_ids(tokenizer, texts)
    words = encoder.words(tf.constant(texts))
    ours = [list(zip(s, e)) for s, e in zip(words.start.to_list(), words.end.to_list())]
    reference = hf_word_spans(tokenizer, texts)
    bad = [(text, a, b) for text, a, b in zip(texts, ours, reference) if a != b]
    assert not bad, bad[:3]


def test_offsets_are_characters_of_the_input(minilm_dir, tmp_path):
    """Hand-checked: accented words, CJK, a special token, and a word joined across a deleted character."""
    tokenizer = load_tokenizer(minilm_dir)
    encoder = TextEncoder(read_char_table(tokenizer),
                          TextEncoderConfig.from_tokenizer(tokenizer, tmp_path / "vocab.txt", max_length=32))
    text = "Zoë Saldaña 東京 [SEP] zero\u200bwidth!"
    words = encoder.words(tf.constant([text]))
    spans = list(zip(words.start.to_list()[0], words.end.to_list()[0]))
    assert [text[s:e] for s, e in spans] == ["Zoë", "Saldaña", "東", "京", "[SEP]", "zero\u200bwidth", "!"]
    assert [w.decode() for w in words.text.to_list()[0]] == ["zoe", "saldana", "東", "京", "[SEP]", "zerowidth", "!"]


def test_the_char_table_reads_the_tokenizer(minilm_dir):
    table = read_char_table(load_tokenizer(minilm_dir))
    assert table.kind(ord("a")) == WORD and table.kind(ord(" ")) == SPACE and table.kind(0xA0) == SPACE
    assert table.kind(ord(",")) == ALONE and table.kind(0x4E00) == ALONE and table.kind(ord("|")) == ALONE
    assert table.kind(0x200B) == REMOVED and table.kind(0) == REMOVED and table.kind(0xFFFD) == REMOVED
    rewrites = dict(zip(table.rewritten.tolist(), table.rewrites))
    assert rewrites[ord("É")] == "e" and rewrites[ord("A")] == "a" and ord("e") not in rewrites


@pytest.mark.parametrize("max_length", [5, 8, 16, 48])
def test_packing_and_truncation_equal_encode_texts(pair, max_length):
    tokenizer, encoder = pair
    encoder = TextEncoder(read_char_table(tokenizer),
                          TextEncoderConfig.from_tokenizer(tokenizer, encoder.config.vocab_file, max_length=max_length))
    texts = random_texts(60, seed=2) + HARD
    pairs = random_texts(len(texts), seed=3)
    for text_pairs in (None, pairs):
        reference = encode_texts(tokenizer, texts, text_pairs=text_pairs, max_length=max_length,
                                 with_words=text_pairs is None)
        padded = pad_batch(reference, max(reference.lengths()), pad_token_id=tokenizer.pad_token_id)
        ours = encoder.encode(tf.constant(texts), None if text_pairs is None else tf.constant(text_pairs))
        for name in ("input_ids", "attention_mask", "token_type_ids") + (("word_ids",) if text_pairs is None else ()):
            np.testing.assert_array_equal(ours[name].numpy(), padded[name], err_msg=name)
        np.testing.assert_array_equal(ours["truncated"].numpy(), reference.truncated)


def test_an_empty_batch(pair):
    _, encoder = pair
    out = encoder.encode(tf.constant([], tf.string))
    assert out["input_ids"].shape[0] == 0 and out["truncated"].shape == (0,)


def test_tokenizers_it_cannot_reproduce_are_refused(minilm_dir, tmp_path):
    state = json.loads(load_tokenizer(minilm_dir).backend_tokenizer.to_str())
    state["pre_tokenizer"] = {"type": "Whitespace"}
    other = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizers.Tokenizer.from_str(json.dumps(state)),
                                                 unk_token="[UNK]", pad_token="[PAD]")
    with pytest.raises(TokenizerNotSupported, match="pre_tokenizer is Whitespace"):
        TextEncoderConfig.from_tokenizer(other, tmp_path / "vocab.txt", max_length=8)


PRESETS = sorted(p.name for p in (ROOT / "flags").glob("*.cfg") if "--dataset=../shared/data/" in p.read_text())


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data sets not present at {SHARED_DATA}")
@pytest.mark.parametrize("preset", PRESETS)
def test_every_text_of_the_shared_data(preset, monkeypatch):
    """Zero mismatches on every text of every split of each ../shared/data set (counts are in the #6 note), by
    `python -m tfft.bench --mode=tokenizer --flagfile=flags/PRESET` run in this process (conftest in_process)."""
    monkeypatch.chdir(ROOT)  # the presets' paths are relative to the repository
    result = in_process("bench", "--mode=tokenizer", f"--flagfile=flags/{preset}")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["texts"] > 1000
    assert report["mismatches"] == 0, report["first_mismatches"]
