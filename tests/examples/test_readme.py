"""The README stays true: its Python snippets run, its links and scripts exist, and the
quick start is exactly the two commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_quick_start_is_make_demo_and_make_test():
    section = README.split("## Quick start", 1)[1]
    first_block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    assert first_block.split("\n")[:2] == ["make demo", "make test"]
    assert first_block.strip().count("\n") == 1


def test_links_and_images_exist():
    targets = re.findall(r"\]\(([^)#]+)\)", README)
    assert "docs/images/graph.png" in targets and "docs/images/scaling.png" in targets
    for target in targets:
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_every_example_mentioned_exists():
    for script in set(re.findall(r"examples/(\w+\.py)", README)):
        assert (ROOT / "examples" / script).is_file(), script


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_snippets_run(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DUALGRAD_ENGINE", raising=False)
    (tmp_path / "docs" / "images").mkdir(parents=True)
    import shared_nn

    try:
        exec(compile(PYTHON_BLOCKS[index], f"README.md python block {index}", "exec"), {})
    finally:
        shared_nn.set_engine("tensor")
    out = capsys.readouterr().out
    if "print(a.engine" in PYTHON_BLOCKS[index]:
        assert out.split() == ["scalar", "scalar", "scalar", "tensor"]
    if "loss.item()" in PYTHON_BLOCKS[index]:
        losses = [float(m) for m in re.findall(r"loss (\S+)", out)]
        assert len(losses) == 2 and abs(losses[0] - losses[1]) < 1e-12
