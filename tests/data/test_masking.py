"""Dynamic masked-LM masking: its statistics on 100k tokens, whole words judged by WordPiece's '##' rule (not by
the word ids the masking reads), special tokens and padding, and the draw per (seed, epoch, batch) in Batches."""

import numpy as np
import pytest

from tfft.data import Batches, DataError
from tfft.data.masking import Masking, mask_batch
from tfft.data.sources import SAMPLE_DIR
from tfft.tasks.masked_lm import pack_documents
from tfft.tokenization import IGNORE_INDEX, NO_WORD, load_tokenizer

MASK, VOCAB = 103, 30522


def random_batch(rows: int, length: int, seed: int = 0):
    """[CLS] tokens [SEP] rows of random real-looking ids, each token its own word."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, VOCAB, size=(rows, length)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 101, 102
    words = np.tile(np.arange(-1, length - 1, dtype=np.int32), (rows, 1))
    words[:, -1] = NO_WORD
    return ids, words


def chosen_mask(labels, positions, shape):
    """[B, L] bool: the positions that were chosen for prediction."""
    chosen = np.zeros(shape, bool)
    rows, slots = np.nonzero(labels != IGNORE_INDEX)
    chosen[rows, positions[rows, slots]] = True
    return chosen


def test_masking_statistics_on_100k_tokens():
    ids, words = random_batch(800, 128)  # 800 x 126 = 100,800 maskable tokens
    masked, labels, positions = mask_batch(ids, words, Masking(0.15, False, MASK, VOCAB), np.random.default_rng(1))
    chosen = chosen_mask(labels, positions, ids.shape)
    maskable = words != NO_WORD
    assert maskable.sum() == 100_800
    assert abs(chosen.sum() / maskable.sum() - 0.15) < 0.02
    assert not chosen[~maskable].any()  # [CLS] and [SEP] never
    assert (masked[~chosen] == ids[~chosen]).all()  # nothing else changes
    became_mask = (masked == MASK) & chosen
    random = (masked != MASK) & (masked != ids) & chosen
    unchanged = (masked == ids) & chosen
    for part, share in ((became_mask, 0.8), (random, 0.1), (unchanged, 0.1)):
        assert abs(part.sum() / chosen.sum() - share) < 0.02
    # labels hold the original token of each chosen position, positions ascend, slots past them are unused
    rows, slots = np.nonzero(labels != IGNORE_INDEX)
    assert (labels[rows, slots] == ids[rows, positions[rows, slots]]).all()
    assert labels.shape[1] == Masking(0.15, False, MASK, VOCAB).predictions_per_sequence(128) == 20
    used = labels != IGNORE_INDEX
    assert all((np.diff(positions[r][used[r]]) > 0).all() for r in range(len(ids)))
    assert (positions[~used] == 0).all()


@pytest.fixture(scope="module")
def packed(minilm_dir):
    """The embedded MLM corpus packed into 64-token sequences with the real WordPiece tokenizer."""
    tokenizer = load_tokenizer(minilm_dir)
    documents = (SAMPLE_DIR / "mlm" / "train.txt").read_text(encoding="utf-8").splitlines()
    encoded = pack_documents(tokenizer, documents, max_length=64)
    length = int(encoded.lengths.max())
    rows = np.full((len(encoded), length), tokenizer.pad_token_id, np.int32)
    words = np.full((len(encoded), length), NO_WORD, np.int32)
    for row, (start, end) in enumerate(zip(encoded.offsets[:-1], encoded.offsets[1:])):
        rows[row, :end - start] = encoded.input_ids[start:end]
        words[row, :end - start] = encoded.word_ids[start:end]
    return tokenizer, rows, words


def test_whole_word_masking_masks_every_piece_of_a_chosen_word_and_no_partial_word(packed):
    tokenizer, ids, words = packed
    masking = Masking(0.15, True, tokenizer.mask_token_id, len(tokenizer))
    chosen_all, maskable = [], 0
    for seed in range(4):
        _, labels, positions = mask_batch(ids, words, masking, np.random.default_rng(seed))
        chosen = chosen_mask(labels, positions, ids.shape)
        for row in range(len(ids)):
            tokens = tokenizer.convert_ids_to_tokens(ids[row].tolist())
            special = set(tokenizer.all_special_tokens)
            # the reference words: a piece starting with '##' continues the word before it
            spans, start = [], None
            for i, token in enumerate(tokens + ["[END]"]):
                if start is not None and not token.startswith("##"):
                    spans.append((start, i))
                    start = None
                if token not in special and token != "[END]" and not token.startswith("##"):
                    start = i
            for a, b in spans:
                assert chosen[row, a:b].all() or not chosen[row, a:b].any(), (tokens[a:b], chosen[row, a:b])
            assert not any(chosen[row, i] for i, token in enumerate(tokens) if token in special)
            maskable += sum(b - a for a, b in spans)
            chosen_all += [chosen[row, a:b].all() and b - a > 1 for a, b in spans]
        assert abs(chosen.sum() / (words != NO_WORD).sum() - 0.15) < 0.02
    assert sum(chosen_all) >= 10  # multi-piece words were chosen whole, not just single-piece ones


def test_padding_and_filler_rows_are_never_chosen():
    ids, words = random_batch(4, 32)
    words[1, 20:] = NO_WORD  # padding
    ids[1, 20:] = 0
    words[3] = NO_WORD  # a filler row
    masked, labels, positions = mask_batch(ids, words, Masking(0.5, False, MASK, VOCAB), np.random.default_rng(0))
    chosen = chosen_mask(labels, positions, ids.shape)
    assert not chosen[1, 20:].any() and not chosen[3].any() and (labels[3] == IGNORE_INDEX).all()
    assert chosen[1].sum() == round(0.5 * 19)  # positions 1..19
    assert (masked[3] == ids[3]).all()


@pytest.mark.parametrize("probability", [0.0, 1.0, -0.1, 1.5])
def test_a_probability_outside_0_1_is_an_error(probability):
    with pytest.raises(DataError, match=f"--mlm_probability={probability}: expected a share strictly between"):
        Masking(probability, False, MASK, VOCAB)


def test_batches_mask_anew_each_epoch_the_same_way_each_time_and_resume_mid_epoch(packed):
    tokenizer, _, _ = packed
    documents = [f"document {i} says the quick brown fox jumps over the lazy dog again" for i in range(40)]
    encoded = pack_documents(tokenizer, documents, max_length=32)
    masking = Masking(0.15, False, tokenizer.mask_token_id, len(tokenizer))
    batches = Batches(encoded, batch_size=4, boundaries=(16, 32), pad_token_id=0, seed=3, shuffle=True,
                      masking=masking)

    def epoch(number, skip=0):
        return [{k: v.numpy() for k, v in b.items()} for b in batches.dataset(number, skip=skip)]

    first, again, second = epoch(0), epoch(0), epoch(1)
    for a, b in zip(first, again):
        assert all((a[k] == b[k]).all() for k in a)
    assert any(not (a["input_ids"] == b["input_ids"]).all() for a, b in zip(first, second))
    for a, b in zip(first[2:], epoch(0, skip=2)):  # a resumed epoch masks as the uninterrupted one
        assert all((a[k] == b[k]).all() for k in a)
    batch = first[0]
    assert batch["labels"].shape == batch["mlm_positions"].shape == (4, masking.predictions_per_sequence(
        batch["input_ids"].shape[1]))
    evaluation = Batches(encoded, batch_size=4, boundaries=(16, 32), pad_token_id=0, seed=3, masking=masking)
    assert all((a["labels"].numpy() == b["labels"].numpy()).all()
               for a, b in zip(evaluation.dataset(), evaluation.dataset()))
