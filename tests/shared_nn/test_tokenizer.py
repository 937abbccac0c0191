"""GPT-2 BPE (offline, via tiktoken) and the char-level tokenizer of the shipped small model."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
