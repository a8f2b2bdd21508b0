"""Arrays from other libraries: PyTorch CPU tensors, objects exposing __array_interface__ or the
buffer protocol, DLPack producers; and blockwise kernels on dask arrays (the way past one
machine).

The rule (README, "Interop and scale-out"): inputs are anything ``numpy.asarray`` takes without
copying where the producer allows (tensors, buffers, array interfaces); ``out=`` and optimizer
parameters must be ``numpy.ndarray``: pass a zero-copy NumPy view (``t.numpy()``,
``np.from_dlpack(t)``, ``np.asarray(buf)``) and the producer's memory is updated in place."""

from __future__ import annotations

import array
import pickle

import numpy as np
import pytest

import nnkernels as nk
from nnkernels import losses as L
from nnkernels import optim as O

from . import reference


def _sigmoid(x):
    return reference.sigmoid(np.asarray(x, np.float64))


def _close(got, x, dtype=np.float32):
    np.testing.assert_allclose(got, _sigmoid(x), rtol=4 * np.finfo(dtype).eps, atol=1e-30)


# ---- PyTorch ------------------------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def test_torch_tensor_in_numpy_out(torch):
    t = torch.linspace(-5, 5, 1001)
    y = nk.sigmoid(t)  # accepted directly (numpy.asarray of a CPU tensor shares its memory)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    _close(y, t.numpy())
    loss, grad = L.mse_value_and_grad(t, torch.zeros(1001))
    assert loss == pytest.approx(float((t.double() ** 2).mean()), rel=1e-6)


def test_torch_tensor_updated_in_place_through_a_view(torch):
    t = torch.linspace(-5, 5, 1001)
    x = t.numpy().copy()
    view = t.numpy()  # shares t's memory: no copy
    assert view.ctypes.data == t.data_ptr()
    nk.sigmoid(view, out=view)
    _close(t.numpy(), x)  # the tensor itself changed
    assert t.data_ptr() == view.ctypes.data


def test_torch_parameters_stepped_in_place_by_an_optimizer(torch):
    w = torch.ones(4, 3)
    opt = O.SGD([w.numpy()], lr=0.5)
    opt.step([np.full((4, 3), 2.0, np.float32)])
    assert torch.equal(w, torch.zeros(4, 3))


def test_torch_out_must_be_a_numpy_view(torch):
    t = torch.zeros(5)
    with pytest.raises(TypeError, match="out must be a numpy.ndarray, got Tensor"):
        nk.relu(np.ones(5, np.float32), out=t)
    assert torch.equal(t, torch.zeros(5))


def test_torch_tensor_that_requires_grad_is_refused_clearly(torch):
    t = torch.ones(3, requires_grad=True)
    with pytest.raises(TypeError, match="x cannot be converted to an array.*requires grad"):
        nk.tanh(t)


def test_torch_strided_tensor_view(torch):
    t = torch.linspace(-3, 3, 40).reshape(8, 5).t()  # transposed: not contiguous
    y = nk.sigmoid(t)
    _close(y, t.numpy())
    assert y.shape == (5, 8)


# ---- DLPack, array interface, buffer protocol ------------------------------------------------


def test_dlpack_producer_zero_copy_in_and_out(torch):
    t = torch.linspace(-4, 4, 64)
    x = t.numpy().copy()
    a = np.from_dlpack(t)
    assert a.ctypes.data == t.data_ptr()  # the tensor's memory, not a copy
    nk.gelu(a, out=a)
    np.testing.assert_allclose(t.numpy(), nk.gelu(x))


def test_numpy_dlpack_roundtrip():
    x = np.linspace(-3, 3, 50)
    a = np.from_dlpack(x)
    assert a.ctypes.data == x.ctypes.data
    np.testing.assert_array_equal(nk.softplus(a), nk.softplus(x))


class _ArrayInterfaceOnly:
    """Exposes memory only through __array_interface__ (as many C extensions do)."""

    def __init__(self, base: np.ndarray):
        self._base = base
        self.__array_interface__ = base.__array_interface__


def test_array_interface_object():
    base = np.linspace(-2, 2, 33, dtype=np.float32)
    obj = _ArrayInterfaceOnly(base)
    assert np.asarray(obj).ctypes.data == base.ctypes.data  # what the kernels see: no copy
    _close(nk.sigmoid(obj), base)
    loss = L.mae(obj, np.zeros(33, np.float32), reduction="sum")
    assert loss == pytest.approx(float(np.abs(base.astype(np.float64)).sum()), rel=1e-6)
    view = np.asarray(obj)
    nk.sigmoid(view, out=view)
    _close(base, np.linspace(-2, 2, 33, dtype=np.float32))


def test_buffer_protocol_objects():
    values = [-1.5, 0.0, 0.25, 3.0]
    for buf, dtype in (
        (array.array("f", values), np.float32),
        (array.array("d", values), np.float64),
        (memoryview(array.array("f", values)), np.float32),
        (bytearray(np.array(values, np.float32).tobytes()), None),
    ):
        x = np.frombuffer(buf, np.float32) if dtype is None else buf
        y = nk.sigmoid(x)
        assert y.dtype == (dtype or np.float32)
        _close(y, values, y.dtype)
    buf = array.array("d", values)
    view = np.asarray(buf)
    nk.sigmoid(view, out=view)  # written into the array.array's own memory
    _close(np.array(buf), values, np.float64)


def test_integer_buffer_computes_in_float64():
    y = nk.sigmoid(array.array("i", [0, 1, -2]))
    assert y.dtype == np.float64
    _close(y, [0, 1, -2], np.float64)


def test_arrays_whose_dtype_object_is_not_numpys_own():
    # Unpickled arrays (and some memory-mapped ones) carry an equal but distinct float32
    # descriptor: it must be accepted as float32 everywhere, as input, out= and gradient buffer.
    values = np.linspace(-3, 3, 13, dtype=np.float32)
    x = pickle.loads(pickle.dumps(values))
    out = pickle.loads(pickle.dumps(np.zeros_like(values)))
    assert x.dtype is not np.dtype(np.float32) and out.dtype is not np.dtype(np.float32)
    nk.sigmoid(x, out=out)
    _close(out, values)
    target = np.zeros_like(values)
    loss, grad = L.mse_value_and_grad(x, target, out=out)
    d2, g = reference.loss_mse(values, target)
    assert loss == pytest.approx(d2.mean(), rel=1e-6)
    np.testing.assert_allclose(grad, g / values.size, rtol=1e-6)
    assert grad is out
    with pytest.raises(TypeError, match=">f4"):  # byte order still counts
        nk.sigmoid(values, out=np.zeros(13, ">f4"))


# ---- dask: blockwise on a local cluster ------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_map_blocks_elementwise_and_rowwise(dask_client):
    import dask.array as da

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 300)).astype(np.float32)
    dx = da.from_array(x, chunks=(1000, 300))  # whole rows per block: row-wise ops stay exact
    y = da.map_blocks(nk.gelu, dx, dtype=np.float32).compute()
    assert y.tobytes() == nk.gelu(x).tobytes()  # elementwise: the same bits blockwise
    s = da.map_blocks(nk.softmax, dx, axis=1, dtype=np.float32).compute()
    assert s.tobytes() == nk.softmax(x, axis=1).tobytes()


def test_dask_blockwise_loss_sum_and_grad(dask_client):
    import dask.array as da

    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6000, 50))
    labels = rng.integers(0, 50, 6000)
    dl = da.from_array(logits, chunks=(1500, 50))
    dt = da.from_array(labels, chunks=1500)

    def block_loss(p, t):
        return np.atleast_1d(L.cross_entropy(p, t[:, 0], reduction="sum"))

    sums = da.map_blocks(block_loss, dl, dt[:, None], drop_axis=1, chunks=(1,), dtype=float)
    total = float(sums.sum().compute())
    assert total == pytest.approx(float(L.cross_entropy(logits, labels, reduction="sum")), 1e-12)
    grads = da.map_blocks(
        lambda p, t: L.cross_entropy_grad(p, t[:, 0], reduction="sum"), dl, dt[:, None]
    ).compute()
    np.testing.assert_array_equal(grads, L.cross_entropy_grad(logits, labels, reduction="sum"))
