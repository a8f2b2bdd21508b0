"""nnkernels.nn: gradients by finite differences through every layer type and every fused output
loss (float64), training on digits, save/load, early stopping, determinism, and bad input."""

import numpy as np
import pytest

import nnkernels as nk
from nnkernels import nn
from nnkernels.activations import SPECS

ELEMENTWISE = [s.name for s in SPECS]


def data(n=12, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features))
    y = rng.integers(0, classes, n)
    y[:classes] = np.arange(classes)  # every class present
    return X, y


def check_gradients(model, X, y, reset=(), h=1e-6, rtol=2e-6):
    """Every parameter's gradient from backpropagation against central differences of the loss.
    Layers in `reset` get a fresh generator before each evaluation (the same random draws)."""

    model.loss_and_grads(X, y)  # builds the layers (and their generators)

    def loss_grads():
        for layer in reset:
            layer.rng = np.random.default_rng(99)
        return model.loss_and_grads(X, y, training=True)

    _, grads = loss_grads()
    assert grads, "no parameters"
    for p, g in zip(model.params, grads):
        numeric = np.empty_like(p)
        flat, nflat = p.reshape(-1), numeric.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + h
            up = loss_grads()[0]
            flat[i] = old - h
            down = loss_grads()[0]
            flat[i] = old
            nflat[i] = (up - down) / (2 * h)
        scale = max(1.0, np.abs(numeric).max())
        np.testing.assert_allclose(g, numeric, rtol=rtol, atol=rtol * scale)


def model_of(layers, **kw):
    kw.setdefault("loss", "cross_entropy")
    return nn.Sequential(layers, dtype=np.float64, rng=1, **kw)


@pytest.mark.parametrize("activation", ELEMENTWISE)
def test_gradient_dense_with_every_activation(activation):
    X, y = data()
    params = {"negative_slope": 0.1} if activation == "leaky_relu" else {}
    model = model_of([nn.Dense(7, activation, **params), nn.Dense(3)])
    check_gradients(model, X, y)


LAYER_CASES = {
    "activation_layer_gelu": lambda: [nn.Dense(6), nn.GELU(), nn.Dense(3)],
    "activation_layer_tanh_from_output": lambda: [nn.Dense(6), nn.Tanh(), nn.Dense(3)],
    "leaky_relu_layer": lambda: [nn.Dense(6), nn.LeakyReLU(negative_slope=0.2), nn.Dense(3)],
    "prelu": lambda: [nn.Dense(6), nn.PReLU(), nn.Dense(3)],
    "prelu_shared": lambda: [nn.Dense(6), nn.PReLU(shared=True), nn.Dense(3)],
    "rrelu": lambda: [nn.Dense(6), nn.RReLU(), nn.Dense(3)],
    "maxout": lambda: [nn.Dense(8), nn.Maxout(2), nn.Dense(3)],
    "crelu": lambda: [nn.Dense(4), nn.CReLU(), nn.Dense(3)],
    "dropout": lambda: [nn.Dense(6, "tanh"), nn.Dropout(0.3), nn.Dense(3)],
    "alpha_dropout": lambda: [nn.Dense(6, "selu"), nn.AlphaDropout(0.2), nn.Dense(3)],
    "softmax": lambda: [nn.Dense(6), nn.Softmax(), nn.Dense(3)],
    "log_softmax": lambda: [nn.Dense(6), nn.LogSoftmax(), nn.Dense(3)],
}


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_gradient_every_layer_type(case):
    X, y = data()
    model = model_of(LAYER_CASES[case]())
    random_layers = [la for la in model.layers if isinstance(la, (nn.RReLU, nn.Dropout))]
    check_gradients(model, X, y, reset=random_layers)
    if random_layers:  # the random layers really were active: training differs from evaluation
        train = model.loss_and_grads(X, y, training=True)[0]
        assert train != model.loss_and_grads(X, y, training=False)[0]


@pytest.mark.parametrize(
    "loss",
    ["cross_entropy", "binary_cross_entropy", "mse", "mae", "huber", "smooth_l1", "log_cosh"],
)
def test_gradient_every_fused_output_loss(loss):
    X, labels = data(classes=2)
    rng = np.random.default_rng(5)
    outputs = {"cross_entropy": 2, "binary_cross_entropy": 1}.get(loss, 2)
    y = (
        labels
        if outputs <= 2 and loss in ("cross_entropy", "binary_cross_entropy")
        else (rng.standard_normal((len(X), 2)) * 3)
    )
    model = model_of([nn.Dense(6, "tanh"), nn.Dense(outputs)], loss=loss)
    check_gradients(model, X, y)


def test_gradient_multilabel_binary_cross_entropy():
    X, _ = data()
    y = np.random.default_rng(2).integers(0, 2, (len(X), 3)).astype(np.float64)
    check_gradients(model_of([nn.Dense(5, "silu"), nn.Dense(3)], loss="binary_cross_entropy"), X, y)


def test_gradient_with_l1_and_l2_penalties():
    X, y = data()
    model = model_of([nn.Dense(6, "elu", l1=0.01), nn.Dense(3)], l2=0.1)
    check_gradients(model, X, y)
    w0, w1 = model.params[0], model.params[2]
    want_penalty = 0.01 * np.abs(w0).sum() + 0.05 * ((w0**2).sum() + (w1**2).sum())
    assert model._penalty() == pytest.approx(want_penalty, rel=1e-12)


def test_numpy_backend_matches_the_kernels():
    X, y = data(n=64)
    runs = []
    for backend in ("nnkernels", "numpy"):
        m = nn.Sequential(
            [nn.Dense(16, "relu"), nn.Dense(8, "tanh"), nn.Dense(3)],
            dtype=np.float64,
            backend=backend,
            rng=3,
        )
        h = m.fit(X, y, epochs=3, batch_size=16, verbose=0)
        runs.append((h["loss"], m.get_weights()))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-10)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


# ---- training ---------------------------------------------------------------------------------


def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    X, y = (d.data / 16.0).astype(np.float32), d.target
    order = np.random.default_rng(0).permutation(len(X))
    return X[order[360:]], y[order[360:]], X[order[:360]], y[order[:360]]


def test_digits_test_accuracy():
    X, y, Xt, yt = digits()
    model = nn.Sequential([nn.Dense(64, "relu"), nn.Dense(10)], lr=3e-3, rng=0)
    history = model.fit(X, y, epochs=12, batch_size=64, verbose=0)
    accuracy = np.mean(model.predict(Xt) == yt)
    assert accuracy >= 0.95, accuracy
    assert model.evaluate(Xt, yt)["accuracy"] == pytest.approx(accuracy)
    assert history["loss"][-1] < history["loss"][0]
    proba = model.predict_proba(Xt)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.predict(Xt))


def test_batch_size_extremes():
    X, y = data(n=20)
    m = model_of([nn.Dense(3)], optimizer="sgd", lr=0.1)
    m.fit(X, y, epochs=4, batch_size=None, verbose=0)
    assert m.optimizer.step_count == 4  # batch gradient descent: one step per epoch
    m = model_of([nn.Dense(3)], optimizer="sgd", lr=0.1)
    m.fit(X, y, epochs=2, batch_size=1, verbose=0)
    assert m.optimizer.step_count == 40  # stochastic: one step per sample


def test_history_and_validation():
    X, y = data(n=60)
    m = model_of([nn.Dense(8, "relu"), nn.Dense(3)])
    h = m.fit(X, y, epochs=3, validation_split=0.25, verbose=0)
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_time"}
    assert all(len(v) == 3 for v in h.values())
    m.fit(X, y, epochs=2, validation_data=(X[:10], y[:10]), verbose=0)  # continues
    assert len(m.history["loss"]) == 5


def test_verbose_prints_epochs(capsys):
    X, y = data()
    m = model_of([nn.Dense(3)])
    m.fit(X, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "loss:" in out
    m.fit(X, y, epochs=1, verbose=2)  # a second call counts its own epochs
    assert "epoch 1/1" in capsys.readouterr().out


def test_progress_bar(capsys):
    pytest.importorskip("tqdm")
    X, y = data()
    model_of([nn.Dense(3)]).fit(X, y, epochs=3, verbose=1)
    assert "3/3" in capsys.readouterr().err


def test_save_load_identical_predictions(tmp_path):
    X, _ = data(n=40)
    y = np.array(["cat", "dog", "emu", "dog"] * 10)
    m = nn.Sequential(
        [nn.Dense(8, "leaky_relu", negative_slope=0.2), nn.PReLU(), nn.Dropout(0.1), nn.Dense(3)],
        rng=4,
    )
    m.fit(X, y, epochs=3, verbose=0)
    path = tmp_path / "model.npz"
    m.save(path)
    with np.load(path, allow_pickle=False) as f:  # no pickle anywhere in the file
        assert "config" in f
    loaded = nn.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), m.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), m.predict(X))
    assert loaded.predict(X).dtype.kind == "U"
    for a, b in zip(loaded.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    loaded.fit(X, y, epochs=1, verbose=0)  # trainable after load


def test_labels_never_read_past_the_outputs(tmp_path):
    """The trainer hands its encoded labels to the loss kernel without the public function's
    checks: an archive whose classes disagree with the last layer is refused at load, and a
    tampered classes_ raises IndexError instead of reading past a row."""
    X, y = data(n=40)
    m = nn.Sequential([nn.Dense(3)], rng=0)
    m.fit(X, y, epochs=1, verbose=0)
    m.save(tmp_path / "m.npz")
    archive = dict(np.load(tmp_path / "m.npz"))
    archive["classes"] = np.arange(6)
    np.savez(tmp_path / "bad.npz", **archive)
    with pytest.raises(ValueError, match="3 outputs but y has 6 classes"):
        nn.load(tmp_path / "bad.npz")
    m.classes_ = np.arange(1000)
    with pytest.raises(IndexError, match="target index 999 at row 0 is out of range for 3"):
        m.evaluate(X, np.full(40, 999))


def test_output_loss_target_of_the_wrong_shape_is_explained():
    X, _ = data(n=30)
    y2 = np.random.default_rng(1).standard_normal((30, 2))
    m = nn.Sequential([nn.Dense(2)], loss="mse", rng=0)
    m.fit(X, y2, epochs=1, verbose=0)
    with pytest.raises(
        ValueError, match=r"pred has shape \(30, 2\) but target has shape \(30, 1\)"
    ):
        m.evaluate(X, y2[:, 0])


def test_early_stopping_restores_best_weights():
    X, y = data(n=80, seed=1)
    Xv, _ = data(n=40, seed=2)
    yv = np.random.default_rng(3).integers(0, 3, 40)  # unrelated labels: val loss gets worse

    class Record(nn.Callback):
        def __init__(self):
            self.weights = {}

        def on_epoch_end(self, model, epoch, logs):
            self.weights[epoch] = model.get_weights()

    record = Record()
    stop = nn.EarlyStopping(patience=2, restore_best_weights=True)
    m = model_of([nn.Dense(32, "relu"), nn.Dense(3)], lr=0.05)
    h = m.fit(X, y, epochs=50, validation_data=(Xv, yv), callbacks=[record, stop], verbose=0)
    epochs_run = len(h["loss"])
    assert epochs_run < 50
    best = int(np.argmin(h["val_loss"]))
    assert best == stop.best_epoch and epochs_run == best + 1 + stop.patience
    for a, b in zip(m.get_weights(), record.weights[best]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(m.get_weights()[0], record.weights[epochs_run - 1][0])
    assert stop.stopped_epoch == epochs_run - 1


def test_early_stopping_state_readable_before_fit():
    stop = nn.EarlyStopping(monitor="val_accuracy")
    assert (stop.best, stop.best_epoch, stop.stopped_epoch, stop.wait) == (-np.inf, None, None, 0)


def test_early_stopping_needs_its_metric():
    X, y = data()
    with pytest.raises(ValueError, match="val_loss"):
        model_of([nn.Dense(3)]).fit(X, y, epochs=2, callbacks=[nn.EarlyStopping()], verbose=0)


def test_determinism_with_a_fixed_rng():
    X, y = data(n=50)

    def run(seed):
        m = nn.Sequential(
            [nn.Dense(16, "relu"), nn.Dropout(0.2), nn.Dense(3)], rng=np.random.default_rng(seed)
        )
        h = m.fit(X, y, epochs=3, batch_size=8, verbose=0)
        return h["loss"], m.get_weights()

    with nk.threads(1):
        (h1, w1), (h2, w2), (h3, _) = run(7), run(7), run(8)
    assert h1 == h2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert h1 != h3


def test_init_matches_activation():
    rng = np.random.default_rng(0)
    for act, scheme, var in (
        ("relu", "he", 2 / 400),
        ("selu", "lecun", 1 / 400),
        ("tanh", "glorot", 2 / 600),
    ):
        layer = nn.Dense(200, act)
        layer.build(400, np.float64, rng, nn.backend.KernelBackend())
        assert nn.layers.init_scheme(act) == scheme
        assert layer.params[0].var() == pytest.approx(var, rel=0.05)
        assert (layer.params[1] == 0).all()


# ---- bad input --------------------------------------------------------------------------------


def fitted():
    X, y = data(n=30)
    m = model_of([nn.Dense(4, "relu"), nn.Dense(3)])
    m.fit(X, y, epochs=1, verbose=0)
    return m, X, y


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (lambda X, y: (X[:-1], y), ValueError, "different lengths: 29 samples but 30"),
        (lambda X, y: (X[:, :, None], y), ValueError, "must be 2-D"),
        (
            lambda X, y: (np.where(np.arange(30)[:, None] == 3, np.nan, X), y),
            ValueError,
            "NaN or infinity",
        ),
        (lambda X, y: (np.where(np.arange(30)[:, None] == 5, np.inf, X), y), ValueError, "row 5"),
        (lambda X, y: (X[:, :4], y), ValueError, "4 features, but the model was fitted with 5"),
        (lambda X, y: (X, np.where(np.arange(30) == 0, 7, y)), ValueError, "not seen at fit"),
        (lambda X, y: (X.astype(complex), y), TypeError, "dtype complex"),
    ],
)
def test_bad_input_leaves_model_unchanged(bad, error, match):
    m, X, y = fitted()
    before = m.get_weights()
    Xb, yb = bad(X, y)
    with pytest.raises(error, match=match):
        m.fit(Xb, yb, epochs=1, verbose=0)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(m.history["loss"]) == 1
    with pytest.raises(error, match=match):
        m.evaluate(Xb, yb)
    if "lengths" not in match and "seen" not in match:  # problems of X alone
        with pytest.raises(error, match=match):
            m.predict(Xb)


def test_predict_before_fit():
    m = model_of([nn.Dense(3)])
    with pytest.raises(RuntimeError, match="not fitted"):
        m.predict(np.zeros((2, 5)))


def test_first_fit_with_wrong_output_width_builds_nothing():
    X, y = data()
    m = model_of([nn.Dense(4, "relu"), nn.Dense(5)])
    with pytest.raises(ValueError, match="5 outputs but y has 3 classes"):
        m.fit(X, y, epochs=1, verbose=0)
    assert not m.built and m.classes_ is None and not m.params


def test_bad_configuration():
    with pytest.raises(ValueError, match="loss must be"):
        nn.Sequential([nn.Dense(3)], loss="nope")
    with pytest.raises(ValueError, match="not Softmax"):
        nn.Sequential([nn.Dense(3), nn.Softmax()])
    with pytest.raises(ValueError, match="units"):
        nn.Dense(0)
    with pytest.raises(ValueError, match="not an elementwise activation"):
        nn.Dense(3, "softmax")
    with pytest.raises(ValueError, match="numpy backend has no 'mish'"):
        nn.Sequential([nn.Dense(3, "mish")], backend="numpy").fit(*data(), verbose=0)


@pytest.mark.parametrize(
    "features,units,batch,blas_one_thread",
    [(64, 32, 16, True), (512, 512, 32, False)],  # 2^15 and 2^23 multiply-adds per product
)
def test_default_thread_rule_in_fit(features, units, batch, blas_one_thread):
    """nnkernels on one thread inside fit; BLAS on one thread only below 2^22 multiply-adds."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    before = (nk.get_num_threads(), blas_threads())
    if nk.get_num_threads() < 2 or not before[1] or min(before[1]) < 2:
        pytest.skip("needs 2 or more threads for nnkernels and BLAS")
    seen = []

    class Threads(nn.Callback):
        def on_epoch_end(self, model, epoch, logs):
            seen.append((nk.get_num_threads(), blas_threads()))

    X, y = data(n=2 * batch, features=features)
    nn.Sequential([nn.Dense(units, "relu"), nn.Dense(3)], rng=0).fit(
        X, y, epochs=1, batch_size=batch, callbacks=[Threads()], verbose=0
    )
    ((nk_threads, during),) = seen
    assert nk_threads == 1
    assert during == ([1] * len(during) if blas_one_thread else before[1])
    assert (nk.get_num_threads(), blas_threads()) == before  # restored
