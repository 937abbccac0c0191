"""shared_nn.profile(): exact counts, totals that account for the step's time, engines left
exactly as they were, and only the entering thread recorded."""

from __future__ import annotations

import gc
import io
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import shared_nn as nn
from shared_nn import functional as F
from shared_nn._instrument import BACKWARD_PASS, GARBAGE_COLLECTOR, VALUE_BYTES

ROOT = Path(__file__).resolve().parents[2]
ENGINES = ["scalar", "tensor", "torch"]


def engine(name: str) -> ModuleType:
    if name == "torch":
        pytest.importorskip("torch")
    return nn.get_engine(name)


def ops_of(prof: nn.Profile, name: str) -> dict:
    """The ops of one engine, without the garbage collector's entry (it runs when it will)."""
    ops = prof.results()["engines"][name]["ops"]
    return {op: row for op, row in ops.items() if op != GARBAGE_COLLECTOR}


def snapshot(module: ModuleType) -> dict[tuple[str, str], object]:
    """Every attribute of the engine's Tensor class and of its modules, by identity."""
    found = {("Tensor", k): v for k, v in vars(module.Tensor).items()}
    prefix = module.__name__
    for name, mod in list(sys.modules.items()):
        if mod is not None and (name == prefix or name.startswith(prefix + ".")):
            found.update({(name, k): v for k, v in vars(mod).items()})
    return found


def changed(before: dict, after: dict) -> set:
    return {key for key in before.keys() | after.keys() if before.get(key) is not after.get(key)}


# ------------------------------------------------------------------- zero cost outside


@pytest.mark.parametrize("name", ENGINES)
def test_engines_hold_their_original_objects_after_the_block(name):
    module = engine(name)
    before = snapshot(module)
    with nn.profile(name):
        inside = snapshot(module)
    assert {("Tensor", "__add__"), ("Tensor", "backward"), ("Tensor", "T")} <= changed(
        before, inside)
    assert changed(before, snapshot(module)) == set()


def test_the_originals_come_back_after_an_error_in_the_block():
    module = engine("tensor")
    before = snapshot(module)
    with pytest.raises(ValueError, match="log"), nn.profile("tensor") as prof:
        module.tensor([-1.0, 2.0]).log()
    assert changed(before, snapshot(module)) == set()
    assert ops_of(prof, "tensor")["log"]["calls"] == 1


def test_the_profiler_never_imports_torch():
    code = ("import sys, shared_nn as nn\n"
            "with nn.profile() as p:\n    nn.tensor([1.0, 2.0]).sum()\n"
            "print('torch' in sys.modules, list(p.results()['engines']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "['tensor']"]


# --------------------------------------------------------------------- exact counts


def test_tensor_engine_counts_calls_nodes_and_bytes_exactly():
    te = engine("tensor")
    a = te.tensor(np.ones((3, 4)), requires_grad=True)
    b = te.tensor(np.ones((4, 5)), requires_grad=True)
    with nn.profile("tensor") as prof:
        (a @ b).sum().backward()
    ops = ops_of(prof, "tensor")
    assert set(ops) == {"matmul", "sum", BACKWARD_PASS}
    assert ops["matmul"]["calls"] == ops["sum"]["calls"] == 1
    assert ops["matmul"]["nodes"] == ops["sum"]["nodes"] == 1
    # matmul: the (3, 5) result, then gradients for a (3, 4) and b (4, 5); float64
    assert ops["matmul"]["bytes"] == 8 * (15 + 12 + 20)
    assert ops["sum"]["bytes"] == 8 * (1 + 15)  # the 0-d sum, the (3, 5) spread gradient
    assert all(ops[op]["backward_s"] > 0 for op in ops)
    for row in ops.values():
        assert row["numpy_s"] + row["engine_s"] == pytest.approx(row["total_s"])
    assert ops[BACKWARD_PASS]["numpy_s"] == 0


def test_a_decoded_gpt_block_is_one_entry():
    """Generation's fused block (one op per block and token) is its own row; the layers it
    replaces do not appear for the decoded tokens."""
    nn.manual_seed(0)
    model = nn.models.GPT(nn.models.GPTConfig(n_layer=2, n_head=2, n_embd=8, vocab_size=11,
                                              block_size=16), engine="tensor")
    with nn.profile("tensor") as prof:
        model.generate(np.array([[1, 2, 3]]), 4, temperature=0.0)
    ops = ops_of(prof, "tensor")
    assert ops["decoder_block"]["calls"] == 2 * 3  # the prompt pass runs layer by layer
    assert ops["linear"]["calls"] == 2 * 4  # four per block, in the prompt pass only
    assert ops["decoder_block"]["total_s"] > 0


def test_views_allocate_nothing_on_the_tensor_engine():
    x = engine("tensor").tensor(np.ones((4, 6)))
    with nn.profile("tensor") as prof:
        x.reshape(6, 4).T[1:3]
    ops = ops_of(prof, "tensor")
    assert {op: ops[op]["bytes"] for op in ops} == {"reshape": 0, "transpose": 0, "index": 0}


def test_scalar_engine_counts_values_and_shares_the_backward_pass():
    se = engine("scalar")
    a = se.tensor(np.ones((3, 4)), requires_grad=True)
    b = se.tensor(np.ones((4, 5)), requires_grad=True)
    with nn.profile("scalar") as prof:
        (a @ b).sum().backward()
    ops = ops_of(prof, "scalar")
    assert BACKWARD_PASS not in ops  # shared out among the ops
    assert ops["matmul"]["nodes"] == 3 * 5 * (2 * 4 - 1)
    assert ops["sum"]["nodes"] == 5 * 3 - 1
    assert ops["matmul"]["bytes"] == ops["matmul"]["nodes"] * VALUE_BYTES
    share = ops["matmul"]["backward_s"] / (ops["matmul"]["backward_s"] + ops["sum"]["backward_s"])
    assert share == pytest.approx(105 / (105 + 14))


def test_torch_engine_times_each_ops_node_in_backward():
    pe = engine("torch")
    a = pe.tensor(np.ones((3, 4)), requires_grad=True)
    b = pe.tensor(np.ones((4, 5)), requires_grad=True)
    with nn.profile("torch") as prof:
        (a @ b).sum().backward()
    ops = ops_of(prof, "torch")
    assert ops["matmul"]["nodes"] == ops["sum"]["nodes"] == 1
    assert ops["matmul"]["bytes"] == 8 * 15
    assert ops["matmul"]["backward_s"] > 0 and ops["sum"]["backward_s"] > 0


def test_an_op_that_calls_other_ops_is_one_entry():
    x = engine("tensor").tensor(np.ones((2, 3)))
    with nn.profile("tensor") as prof, nn.no_grad():
        x.add_(1.0)  # add_ runs `+` inside
        x.flatten()  # flatten runs reshape inside
    ops = ops_of(prof, "tensor")
    assert {op: r["calls"] for op, r in ops.items()} == {"add_": 1, "reshape": 1}


def test_a_graph_recorded_inside_and_differentiated_after_is_not_recorded():
    te = engine("tensor")
    w = te.tensor([1.0, 2.0], requires_grad=True)
    with nn.profile("tensor") as prof:
        loss = (w * w).sum()
    before = prof.results()
    loss.backward()
    assert w.grad.tolist() == [2.0, 4.0]
    assert prof.results()["engines"] == before["engines"]


# ---------------------------------------------------------------- threads and nesting


def test_only_the_entering_thread_is_recorded():
    te = engine("tensor")
    other: list = []

    def work() -> None:
        x = te.tensor(np.ones(3), requires_grad=True)
        (x.exp() * 2.0).sum().backward()
        other.append(x.grad)

    with nn.profile("tensor") as prof:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        te.tensor([1.0]).tanh()
    np.testing.assert_allclose(other[0], 2 * np.e)
    assert set(ops_of(prof, "tensor")) == {"tensor", "tanh"}


def test_profiles_cannot_nest_or_be_reused():
    prof = nn.profile("tensor")
    with prof, pytest.raises(RuntimeError, match="another"), nn.profile("tensor"):
        pass
    with pytest.raises(RuntimeError, match="one block"), prof:
        pass
    with nn.profile("tensor"):  # the failed attempts left nothing active
        pass


def test_collections_between_ops_are_their_own_entry():
    se = engine("scalar")
    with nn.profile() as prof:
        (se.tensor(np.ones((2, 2)), requires_grad=True) * 2.0).sum()
        gc.collect()
    found = prof.results()["engines"]["scalar"]["ops"][GARBAGE_COLLECTOR]
    assert found["calls"] >= 1 and found["forward_s"] > 0


def test_unknown_engine_is_a_value_error():
    with pytest.raises(ValueError, match="numpy"):
        nn.profile("numpy")


# ---------------------------------------------------------- totals account for the step

WORKLOADS = {  # engine: (MLP sizes, batch): big enough that ops dominate the step
    "scalar": ([24, 24, 10], 12),
    "tensor": ([256, 1024, 1024, 10], 256),
    "torch": ([256, 1024, 1024, 10], 256),
}


@pytest.mark.parametrize("name", ENGINES)
def test_profile_totals_cover_the_measured_step_time(name):
    """The ops' forward + backward time is 90-110% of the step's wall time measured around
    the same work in the same run (a ratio of two measurements, no absolute bound)."""
    engine(name)
    sizes, batch = WORKLOADS[name]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((batch, sizes[0])), rng.integers(0, 10, batch)
    nn.manual_seed(0)
    model = nn.models.MLP(sizes, engine=name, dtype="float64")
    F.cross_entropy(model(x), y).backward()  # warm up (first-call costs, allocator)
    ratios = []
    for _ in range(3):
        model.zero_grad()
        with nn.profile(name) as prof:
            start = time.perf_counter()
            F.cross_entropy(model(x), y).backward()
            wall = time.perf_counter() - start
        ratios.append(prof.total_s(name) / wall)
    assert 0.9 <= statistics.median(ratios) <= 1.1, ratios


# --------------------------------------------------------------------------- tables


def test_tables_name_every_op_and_the_split():
    te = engine("tensor")
    x = te.tensor(np.ones((2, 3)), requires_grad=True)
    with nn.profile("tensor") as prof:
        x.relu().sum().backward()
    text = str(prof)
    assert text.startswith("profiled block:")
    for word in ("tensor engine", "relu", "sum", BACKWARD_PASS, "numpy share"):
        assert word in text
    rich = pytest.importorskip("rich.console")
    out = io.StringIO()
    prof.print_table(rich.Console(file=out, width=120))
    assert "relu" in out.getvalue() and "numpy share" in out.getvalue()
    assert "ms in ops of tensor" in repr(prof)
