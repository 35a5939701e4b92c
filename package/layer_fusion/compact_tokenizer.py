"""XLM-R's tokenizer on the SentencePiece library: the fast tokenizer's wordpieces for
pre-split words, in a fraction of its memory.

Why. The ``tokenizers`` (Rust) Unigram model keeps its 250,002 pieces in a byte trie of hash
maps: loading multilingual-e5-small's 17 MB ``tokenizer.json`` grows the process by more
than the encoder weights a tagging run touches (they are memory-mapped). The C++
SentencePiece library holds the same model (``sentencepiece.bpe.model``: the same pieces,
scores and ``nmt_nfkc`` normalizer, ``encoder/sentencepiece_model.py``) in a double-array
trie, in a sixth of that. ``reports/bench/compact_tokenizer.md`` has both figures;
``reports/bench/inference.md`` the effect on a whole ``layer-fusion tag`` run.

What it encodes. The pipeline tokenizes every spaCy token on its own as a pre-split word
(``layers/word_alignment.py``), so only words are encoded here (``encode_words``), with the
fast tokenizer's ids (``spm_to_hf_id``) and, where its normalizer keeps trailing whitespace
(``keeps_trailing_space``), two of its rules SentencePiece does not have:

* a word that normalizes to whitespace (a space, a newline, a zero-width space, a
  byte-order mark) is one ``▁`` piece, not none;
* a word whose normalized form ends in whitespace gets a final ``▁`` piece (``cat`` + a
  zero-width non-joiner does; ``cat`` + ``\\x1c``, which the normalizer removes, does not).

Where it strips trailing whitespace instead (a ``Strip`` normalizer), a word loses the
whitespace characters at its end, NEL (``\\x85``) among them, which SentencePiece would keep.

It differs from the fast tokenizer in three documented ways (``tests/test_compact_tokenizer.py``;
counts over every word of the UD files in ``reports/bench/compact_tokenizer.md``):

* ties: where two segmentations of a word have the same Unigram score (runs of one
  character, such as ``!!!!!!!!!!!!!!!!!!`` or ``(iii)``), the two libraries may order the
  same pieces differently; on NFC text these are the only differences;
* decomposed (NFD) text: SentencePiece composes it, as for NFC text; the fast tokenizer's
  normalizer drops some combining marks (Vietnamese ``triệu`` becomes ``▁tri ẹ u``);
* a word that spells a special token (``<s>``, ``<mask>``) is text here; the fast tokenizer
  turns it into the special token.

Everything else (``save_pretrained``, ``convert_ids_to_tokens``, the special tokens,
``model_max_length``) is the slow ``XLMRobertaTokenizer``'s, except that saving writes back
the tokenizer files it was loaded from (``tokenizer.json`` included), so a saved pipeline is
unchanged and still loads the fast tokenizer wherever this one is not wanted.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy
from transformers import XLMRobertaTokenizer

from .encoder.sentencepiece_model import spm_to_hf_id

SENTENCEPIECE_FILE = "sentencepiece.bpe.model"
# The fast tokenizer classes this one stands in for (``tokenizer_class`` in tokenizer_config.json).
XLMR_CLASSES = ("XLMRobertaTokenizer", "XLMRobertaTokenizerFast")
WORD_START = "▁"
# Unicode's White_Space characters: what a ``Strip`` normalizer (Rust's char::is_whitespace)
# removes. SentencePiece trims only what its character map makes a space, and keeps NEL (\\x85).
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


class SentencePieceWordTokenizer(XLMRobertaTokenizer):
    """The slow XLM-R tokenizer plus ``encode_words`` (the fast tokenizer's pieces per word),
    keeping the bytes of the files it was loaded from to save them back unchanged."""

    source_files: Dict[str, bytes] = {}
    # Whether the fast tokenizer's normalizer keeps a word's trailing whitespace (the two
    # rules in the module docstring apply then): ``keeps_trailing_space``.
    keeps_trailing_space: bool = True

    @classmethod
    def from_folder(cls, folder: Path) -> "SentencePieceWordTokenizer":
        """Load the tokenizer saved in ``folder`` (an XLM-R tokenizer with its
        ``sentencepiece.bpe.model``; ``can_load`` says whether it is one)."""
        # from_pretrained warns that the folder names another class: this one stands in for it.
        logger = logging.getLogger("transformers.tokenization_utils_base")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            tokenizer = cls.from_pretrained(str(folder))
        finally:
            logger.setLevel(level)
        tokenizer.source_files = {
            path.name: path.read_bytes() for path in sorted(Path(folder).iterdir())
            if path.is_file() and path.name in _TOKENIZER_FILES
        }
        tokenizer.keeps_trailing_space = keeps_trailing_space(tokenizer.source_files.get("tokenizer.json", b""))
        return tokenizer

    def encode_words(self, words: Sequence[str]) -> List[List[int]]:
        """The fast tokenizer's ids of each word, tokenized on its own, without special tokens.

        words: n words -> n lists of ids (one C++ call for all of them)."""
        if not self.keeps_trailing_space:  # the Strip normalizer's work (after the character map)
            words = [word.rstrip(WHITE_SPACE) for word in words]
        encoded = self.sp_model.encode(list(words))
        word_start = spm_to_hf_id(self.sp_model.piece_to_id(WORD_START))  # XLM-R layout (load_compact)
        out = []
        for word, pieces in zip(words, encoded):
            ids = [spm_to_hf_id(i) for i in pieces]
            # A word ending in a letter or digit cannot end in whitespace once normalized.
            if self.keeps_trailing_space and word and not word[-1].isalnum() and self._ends_in_space(word):
                ids.append(word_start)
            out.append(ids)
        return out

    def _ends_in_space(self, word: str) -> bool:
        """Whether the normalizer leaves ``word`` ending in whitespace: a space, or what it maps
        to one (a zero-width space or joiner, a byte-order mark), not what it removes (most
        control characters, which ``str.isspace`` may call whitespace: ``\\x1c``, ``\\x0b``).
        SentencePiece's normalizer (the same character map) trims a text's ends, so the word
        is read between two letters: ``a`` + word + ``x``."""
        return self.sp_model.normalize(f"a{word}x").endswith(WORD_START + "x")

    def encode_word_lists(self, word_lists: Sequence[Sequence[str]]) -> List[List[List[int]]]:
        """``encode_words`` for several lists of words at once: lists -> words -> ids."""
        flat = self.encode_words([word for words in word_lists for word in words])
        out, start = [], 0
        for words in word_lists:
            out.append(flat[start:start + len(words)])
            start += len(words)
        return out

    def batch_encoding(self, word_lists: Sequence[Sequence[str]]) -> Dict[str, object]:
        """What ``tokenizer(word_lists, is_split_into_words=True, add_special_tokens=True,
        padding="longest", return_tensors="np")`` gives, as a dict, plus ``word_ids``:

            input_ids, attention_mask, word_ids   (n_lists, width) int64 arrays
            input_texts                           n_lists lists of width piece strings

        ``word_ids[i, j]`` is the word of list i that piece j belongs to, -1 for special
        tokens and padding."""
        rows: List[Tuple[List[int], List[int]]] = []
        for per_word in self.encode_word_lists(word_lists):
            ids = [self.cls_token_id]
            word_ids = [-1]
            for w, pieces in enumerate(per_word):
                ids.extend(pieces)
                word_ids.extend([w] * len(pieces))
            ids.append(self.sep_token_id)
            word_ids.append(-1)
            rows.append((ids, word_ids))
        width = max((len(ids) for ids, _ in rows), default=0)
        input_ids = numpy.full((len(rows), width), self.pad_token_id, dtype=numpy.int64)
        word_ids = numpy.full((len(rows), width), -1, dtype=numpy.int64)
        attention_mask = numpy.zeros((len(rows), width), dtype=numpy.int64)
        for i, (ids, words) in enumerate(rows):
            input_ids[i, :len(ids)] = ids
            word_ids[i, :len(words)] = words
            attention_mask[i, :len(ids)] = 1
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "word_ids": word_ids,
            "input_texts": [self.convert_ids_to_tokens(row.tolist()) for row in input_ids],
        }

    def save_pretrained(self, save_directory, *args, **kwargs) -> Tuple[str, ...]:
        """Write back the files this tokenizer was loaded from (the fast tokenizer's among
        them), not the slow tokenizer's: a pipeline saved after loading stays the same."""
        if not self.source_files:  # not loaded by from_folder
            return super().save_pretrained(save_directory, *args, **kwargs)
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.source_files.items():
            (folder / name).write_bytes(data)
        return tuple(str(folder / name) for name in self.source_files)


def keeps_trailing_space(tokenizer_json: bytes) -> bool:
    """Whether the normalizer in ``tokenizer_json`` keeps trailing whitespace, which the
    Metaspace pre-tokenizer then turns into a last ``▁`` piece. XLM-R's original
    ``tokenizer.json`` (multilingual-e5-small's) does; the one recent transformers (4.53
    here) converts from a SentencePiece model strips it (a ``Strip`` normalizer), as
    SentencePiece does.

    Only the ``normalizer`` value is decoded: the whole file (a 250k-piece vocabulary)
    would cost tens of MiB of Python objects. Serializers write it before ``model``."""
    key = tokenizer_json.find(b'"normalizer":')
    model = tokenizer_json.find(b'"model":')
    if key < 0 or (0 <= model < key):
        return True
    start = key + len(b'"normalizer":')
    # raw_decode stops at the value's end; the slice ends at the next key, or at "model".
    end = tokenizer_json.find(b'"pre_tokenizer":', start)
    end = end if end >= 0 else model if model >= 0 else len(tokenizer_json)
    normalizer, _ = json.JSONDecoder().raw_decode(tokenizer_json[start:end].decode("utf8").strip())
    stack = [normalizer or {}]
    while stack:
        node = stack.pop()
        if node.get("type") == "Strip" and node.get("strip_right"):
            return False
        stack.extend(node.get("normalizers") or [])
    return True


# What ``from_folder`` keeps to save back: the tokenizer's own files.
_TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    SENTENCEPIECE_FILE,
)


def load_compact(folder: Path) -> Optional[SentencePieceWordTokenizer]:
    """``SentencePieceWordTokenizer`` for the tokenizer saved in ``folder``, or None where it
    cannot stand in for the fast one: not an XLM-R tokenizer, no ``sentencepiece.bpe.model``,
    no ``sentencepiece`` library, or a model without XLM-R's layout (<unk>, <s>, </s> as its
    pieces 0-2), whose ids the fast tokenizer's conversion maps otherwise."""
    config = Path(folder) / "tokenizer_config.json"
    if not (Path(folder) / SENTENCEPIECE_FILE).is_file() or not config.is_file():
        return None
    try:
        tokenizer_class = json.loads(config.read_text(encoding="utf8")).get("tokenizer_class")
    except (ValueError, OSError):
        return None
    if tokenizer_class not in XLMR_CLASSES:
        return None
    try:
        tokenizer = SentencePieceWordTokenizer.from_folder(Path(folder))
    except ImportError:  # no sentencepiece library (a dependency, but removable): the fast one
        return None
    sp = tokenizer.sp_model
    if [sp.id_to_piece(i) for i in range(3)] != ["<unk>", "<s>", "</s>"] or not sp.is_control(1):
        return None
    return tokenizer


def is_compact(tokenizer) -> bool:
    return isinstance(tokenizer, SentencePieceWordTokenizer)
