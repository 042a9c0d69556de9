"""The ops shim's PyTensor paths agree with numpy and with PyTensor's own autodiff."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from bayescale.laws import ops


def _runs(seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 9, size=7)
    idx = np.repeat(np.arange(counts.size), counts)
    bounds = np.r_[0, np.cumsum(counts)].astype("int64")
    return rng.normal(size=counts.size), idx, bounds, rng.normal(size=idx.size)


def test_repeat_runs_on_numpy_is_take():
    values, idx, bounds, _ = _runs()
    np.testing.assert_array_equal(ops.repeat_runs(values, idx, bounds), values[idx])


@pytest.mark.parametrize("mode", ["FAST_RUN", "JAX"])
def test_repeat_runs_gradient_is_the_gathers(mode):
    """Value and gradient equal those of the plain gather (whose gradient is a scatter-add), with
    runs of unequal length, on the C backend and on JAX (the sampler's backends)."""
    if mode == "JAX":
        pytest.importorskip("jax")
    values, idx, bounds, w = _runs(1)
    v = pt.dvector("v")
    i, b = pt.lvector("i"), pt.lvector("b")
    out = (pt.sin(ops.repeat_runs(v, i, b)) * w).sum()
    plain = (pt.sin(v[i]) * w).sum()
    f = pytensor.function([v, i, b], [out, pytensor.grad(out, v)], mode=mode)
    g = pytensor.function([v, i], [plain, pytensor.grad(plain, v)], mode=mode)
    (a, da), (e, de) = f(values, idx, bounds), g(values, idx)
    assert float(a) == pytest.approx(float(e), rel=1e-12)
    np.testing.assert_allclose(np.asarray(da), np.asarray(de), rtol=1e-10, atol=1e-12)
    # by hand: each run's gradient is the sum over its rows
    expected = np.bincount(idx, weights=np.cos(values[idx]) * w)
    np.testing.assert_allclose(np.asarray(da), expected, rtol=1e-10, atol=1e-12)


def test_repeat_runs_gradient_has_no_scatter():
    """The compiled gradient reads a cumulative sum: no IncSubtensor (scatter-add) node, inner graphs
    of fused nodes included."""
    v = pt.dvector("v")
    i, b = pt.lvector("i"), pt.lvector("b")

    def printed(grad, inputs):
        return pytensor.dprint(pytensor.function(inputs, grad), file="str")

    ours = printed(pytensor.grad(pt.exp(ops.repeat_runs(v, i, b)).sum(), v), [v, i, b])
    assert "IncSubtensor" not in ours and "Cumsum" in ours
    assert "IncSubtensor" in printed(pytensor.grad(pt.exp(v[i]).sum(), v), [v, i])  # it would see one
