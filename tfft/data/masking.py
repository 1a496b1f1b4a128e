"""Dynamic masking for masked-language modelling: drawn anew for every batch of every epoch.

BERT's recipe (google-research/bert create_pretraining_data.py, Hugging Face's DataCollatorForWholeWordMask):
in each sequence round(probability x its maskable tokens) tokens are chosen (at least one), never a special token
or padding; of those, 80% become [MASK], 10% a random token and 10% stay as they are, and all of them are
predicted. With whole-word masking whole words are chosen, in random order, until the next word would exceed
that budget (words that do not fit are passed over), so every piece of a chosen word is masked and no partial
word is.

Choosing a fixed number per sequence (rather than each token independently) bounds the predictions of a batch
of length L by ceil(L x probability): the head then runs only on those K positions, a static shape per
batch length under XLA, which compiles every new shape again (tensorflow#62198). The draw is a pure function of (seed, stream, epoch, batch),
so a resumed run masks exactly as the uninterrupted one, and every evaluation sees the same masks.
"""

import dataclasses
import math

import numpy as np

from tfft.data.examples import DataError
from tfft.tokenization import IGNORE_INDEX, NO_WORD

MASK_SHARE, RANDOM_SHARE = 0.8, 0.1  # of the chosen tokens; the remaining 0.1 stay unchanged


@dataclasses.dataclass(frozen=True)
class Masking:
    probability: float  # share of the maskable tokens chosen for prediction (--mlm_probability)
    whole_word: bool  # choose whole words (--whole_word_masking)
    mask_token_id: int
    vocab_size: int  # random replacements are drawn from [0, vocab_size)

    def __post_init__(self):
        if not 0.0 < self.probability < 1.0:
            raise DataError(f"--mlm_probability={self.probability}: expected a share strictly between 0 and 1")

    def predictions_per_sequence(self, length: int) -> int:
        """K: the most positions a sequence of `length` tokens (with [CLS] and [SEP]) can have chosen."""
        return max(1, math.ceil(length * self.probability))


def mask_batch(input_ids: np.ndarray, word_ids: np.ndarray, masking: Masking,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """input_ids, word_ids [B, L] (word_ids NO_WORD for special tokens and padding) -> (masked input_ids [B, L],
    labels [B, K]: the original token at each chosen position, IGNORE_INDEX in unused slots, positions [B, K]:
    the chosen positions in increasing order, 0 in unused slots)."""
    batch, length = input_ids.shape
    slots = masking.predictions_per_sequence(length)
    masked = input_ids.copy()
    labels = np.full((batch, slots), IGNORE_INDEX, np.int32)
    positions = np.zeros((batch, slots), np.int32)
    for row in range(batch):
        maskable = np.flatnonzero(word_ids[row] != NO_WORD)
        if not len(maskable):  # a filler row
            continue
        budget = max(1, round(masking.probability * len(maskable)))
        chosen = (_choose_words(word_ids[row], maskable, budget, rng) if masking.whole_word
                  else np.sort(rng.choice(maskable, size=budget, replace=False)))
        labels[row, :len(chosen)] = input_ids[row, chosen]
        positions[row, :len(chosen)] = chosen
        action = rng.random(len(chosen))
        masked[row, chosen[action < MASK_SHARE]] = masking.mask_token_id
        replaced = chosen[(action >= MASK_SHARE) & (action < MASK_SHARE + RANDOM_SHARE)]
        masked[row, replaced] = rng.integers(0, masking.vocab_size, size=len(replaced))
    return masked, labels, positions


def _choose_words(word_ids: np.ndarray, maskable: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """The positions of whole words, taken in random order while they fit in `budget` tokens."""
    words, starts, sizes = np.unique(word_ids[maskable], return_index=True, return_counts=True)
    taken, chosen = 0, []
    for w in rng.permutation(len(words)):
        if taken + sizes[w] <= budget:
            chosen.append(maskable[starts[w]:starts[w] + sizes[w]])
            taken += sizes[w]
            if taken == budget:
                break
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)
