"""The README stays true: its Python snippets run, its links and scripts exist, and the
quick start is exactly the two commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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
    assert "docs/images/mlp_graph.png" in targets
    assert (ROOT / "docs/images/mlp_graph.png").stat().st_size < 300_000  # light to load
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


SCRIPTS = sorted(p.name for p in (ROOT / "examples").glob("[!_]*.py"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def script_help(script: str) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--help"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    return {script: script_help(script) for script in SCRIPTS}


def test_every_script_takes_engine_and_threads(helps):
    """The README: "Every script takes --engine {scalar,tensor}, --threads N and --help"
    (compare.py also takes torch, as the README's table says)."""
    assert "Every script takes `--engine {scalar,tensor}`, `--threads N` and `--help`" in README
    assert "`--engine {scalar,tensor,torch}`" in README
    assert len(helps) == 5
    for script, text in helps.items():
        engines = "{scalar,tensor,torch}" if script == "compare.py" else "{scalar,tensor}"
        assert f"--engine {engines}" in text, script
        assert "--threads" in text, script


def test_options_the_examples_table_names_exist(helps):
    rows = re.findall(r"^\| `python examples/(\w+\.py)` \|(.*)$", README, flags=re.M)
    assert {script for script, _ in rows} == set(SCRIPTS)
    for script, text in rows:
        for option in set(re.findall(r"`(--[a-z][a-z-]*)", text)):
            assert option in helps[script], (script, option)


def test_commands_in_the_readme_exist():
    assert "huggingface-cli" not in README  # not installed by current huggingface_hub
    hf = Path(sys.executable).parent / "hf"
    if not hf.exists():
        pytest.skip("huggingface_hub's hf command is not installed here")
    assert "hf download gpt2 config.json model.safetensors --local-dir" in README
    proc = subprocess.run([str(hf), "download", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "--local-dir" in proc.stdout


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_reference_only_files_in_the_repo(doc):
    """Links resolve, and every upper-case *.md a page names (DESIGN.md ...) exists."""
    text = doc.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)\)", text):
        if not target.startswith("http"):
            assert (doc.parent / target).exists(), (doc.name, target)
    for name in re.findall(r"\b([A-Z][A-Z_]+\.md)\b", text):
        assert list(ROOT.glob(f"**/{name}")), (doc.name, name)
