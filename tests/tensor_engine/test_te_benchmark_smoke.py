"""Smoke-run of benchmarks/tensor_vs_torch.py at tiny sizes (no timings are asserted).

The benchmark checks on its first step that tensor_engine and torch.nn compute the same
value for every workload, so this also catches a model that drifted from its twin.
"""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "tensor_vs_torch.py"


def test_quick_benchmark_runs_and_prints_the_table():
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "| workload (float32) |" in result.stdout
    assert result.stdout.count("tensor_engine") >= 4
    assert "efficiency" in result.stdout


def test_quick_gemm_layout_table_runs():
    """benchmarks/gemm_layouts.py traces every workload's products and times their layouts."""
    script = SCRIPT.parent / "gemm_layouts.py"
    result = subprocess.run([sys.executable, str(script), "--quick"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for workload in ("MLP 16-8-8-3", "GPT-2 block", "GPT-2 forward", "GPT-2 cached decode"):
        assert f"**{workload}" in result.stdout
    assert "numpy's fastest layout for it" in result.stdout


# -- the products' replays (benchmarks/_gemm.py), which the efficiency columns time --------

sys.path.insert(0, str(SCRIPT.parent))
import numpy as np  # noqa: E402
from _gemm import Call, _in_layout, _matrices_in, replay  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _stored(array: np.ndarray, order: str) -> np.ndarray:
    """``array`` with its matrices stored in ``order`` (a transposed view for "F")."""
    if order == "C":
        return np.ascontiguousarray(array)
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(array, -1, -2)), -1, -2)


@settings(max_examples=60, deadline=None)
@given(dims=st.tuples(*[st.integers(1, 5)] * 3), batch=st.sampled_from([(), (2,), (3, 1)]),
       orders=st.tuples(st.sampled_from("CF"), st.sampled_from("CF")), seed=st.integers(0, 99))
def test_every_replay_layout_computes_the_recorded_product(dims, batch, orders, seed):
    """Each of a product's eight layouts, as the replay builds its operands, computes the
    recorded product (or, in the flipped form, its transpose), with the operands stored in
    exactly the layout named: the best-layout replay times the same arithmetic as the step."""
    m, k, n = dims
    rng = np.random.default_rng(seed)
    a = _stored(rng.standard_normal((*batch, m, k)), orders[0])
    b = _stored(rng.standard_normal((k, n)), orders[1])
    want = a @ b
    for variant in Call.of(a, b).layouts():
        left, right = _in_layout(a, b, variant, {})
        assert _matrices_in(left, variant.left) and _matrices_in(right, variant.right)
        got = left @ right
        flipped = (variant.m, variant.n) != (m, n)
        np.testing.assert_allclose(got, np.swapaxes(want, -1, -2) if flipped else want,
                                   rtol=1e-12, atol=1e-12)


def test_replay_copies_an_operand_once_per_layout_and_runs_every_product():
    """A weight two products share is copied once into the layout they need, and the replay
    runs each recorded product in order."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4))  # C-ordered; both products are asked for it F-ordered
    x1, x2 = rng.standard_normal((3, 6)), rng.standard_normal((5, 6))
    pairs = [(x1, w), (x2, w)]
    seen = []

    def product(left, right):
        seen.append((left, right))

    run = replay(pairs, lambda call: Call(call.batch, call.m, call.k, call.n, "C", "F"), product)
    run()
    assert [s[0] is x for s, x in zip(seen, (x1, x2), strict=True)] == [True, True]
    assert seen[0][1] is seen[1][1] and seen[0][1] is not w
    assert _matrices_in(seen[0][1], "F")
    np.testing.assert_array_equal(seen[0][1], w)


def test_replay_warms_what_the_step_just_made_and_times_only_the_products():
    """Before each product the replay reads the small operands (activations, gradients) into
    cache, not the weight it streams, and reports the seconds inside the products alone,
    which the timing helpers take instead of the wall time."""
    from _gemm import _recently_made
    from _report import SelfTimed, median_time

    rng = np.random.default_rng(0)
    weight, x, g = (rng.standard_normal(s) for s in ((512, 256), (256, 8), (8, 512)))
    forward = _recently_made(weight, x, Call.of(weight, x))
    assert len(forward) == 1 and forward[0] is x
    weight_grad = _recently_made(g.T, x.T, Call.of(g.T, x.T))  # (512 x 8) @ (8 x 256)
    assert len(weight_grad) == 2
    run = replay([(weight, x), (g.T, x.T)])
    assert isinstance(run(), SelfTimed)
    assert median_time(lambda: SelfTimed(0.25), repeats=3, warmup=0) == 0.25
