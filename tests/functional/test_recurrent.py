"""The fused sequence Functions: rnn_sequence, lstm_sequence, gru_sequence.

* float64 equality (rtol 1e-10) with a per-step loop built from existing ops (F.linear,
  F.sigmoid, F.tanh, F.where, ...), forward and every gradient, for every layer kind, with and
  without bias, with a mask with holes, reversed, and with only some outputs or inputs in play;
* gradcheck of each Function (all outputs) including mask and reverse;
* PyTorch parity in float32: torch.nn.RNN/LSTM/GRU with copied weights, and the two halves
  of a bidirectional layer on a packed batch of variable lengths (mask forward and reverse);
* masking semantics checked independently: a padded sequence ends in the state of its
  unpadded run;
* float32 stays float32 and saturating inputs give no overflow; bad input raises clear errors.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn.autograd import no_grad
from lucidnn.autograd.gradcheck import gradcheck
from lucidnn.errors import DTypeError, ShapeError

GATES = {"rnn-tanh": 1, "rnn-relu": 1, "lstm": 4, "gru": 3}
KINDS = list(GATES)


# --------------------------------------------------------------------------- helpers


def _params(rng, kind: str, T: int, N: int, n_in: int, H: int, *, bias: bool = True, dtype=np.float64) -> dict:
    """Random inputs of one layer as NumPy arrays: x, states, weights, biases (None without bias)."""
    rows, scale = GATES[kind] * H, 1.0 / np.sqrt(H)  # keeps the recurrence contractive
    p = {"x": rng.standard_normal((T, N, n_in)), "h0": rng.standard_normal((N, H)) * 0.5,
         "c0": rng.standard_normal((N, H)) * 0.5 if kind == "lstm" else None,
         "weight_ih": rng.standard_normal((rows, n_in)) * scale, "weight_hh": rng.standard_normal((rows, H)) * scale,
         "bias_ih": rng.standard_normal(rows) * 0.3 if bias else None,
         "bias_hh": rng.standard_normal(rows) * 0.3 if bias else None}
    return {k: None if v is None else v.astype(dtype) for k, v in p.items()}


def _tensors(p: dict, requires_grad=True) -> dict:
    """Tensors for every array of ``p``; ``requires_grad`` is True, False or a set of names."""
    def wants(name):
        return requires_grad if isinstance(requires_grad, bool) else name in requires_grad
    return {k: None if v is None else lucidnn.Tensor(v.copy(), requires_grad=wants(k)) for k, v in p.items()}


def _fused(kind: str, t: dict, mask=None, reverse: bool = False) -> tuple:
    args = (t["weight_ih"], t["weight_hh"], t["bias_ih"], t["bias_hh"])
    if kind == "lstm":
        return F.lstm_sequence(t["x"], t["h0"], t["c0"], *args, mask=mask, reverse=reverse)
    if kind == "gru":
        return F.gru_sequence(t["x"], t["h0"], *args, mask=mask, reverse=reverse)
    return F.rnn_sequence(t["x"], t["h0"], *args, nonlinearity=kind.split("-")[1], mask=mask, reverse=reverse)


def _reference(kind: str, t: dict, mask=None, reverse: bool = False) -> tuple:
    """The same layer as a Python loop of existing differentiable ops (PyTorch's equations)."""
    x, w_ih, w_hh, b_ih, b_hh = t["x"], t["weight_ih"], t["weight_hh"], t["bias_ih"], t["bias_hh"]
    T, N = x.shape[:2]
    H = w_hh.shape[1]
    states = [t["h0"], t["c0"]] if kind == "lstm" else [t["h0"]]
    outputs = [None] * T
    for step in (range(T - 1, -1, -1) if reverse else range(T)):
        gi, gh = F.linear(x[step], w_ih, b_ih), F.linear(states[0], w_hh, b_hh)
        if kind == "lstm":
            a = gi + gh
            i, f, o = F.sigmoid(a[:, :H]), F.sigmoid(a[:, H:2 * H]), F.sigmoid(a[:, 3 * H:])
            g = F.tanh(a[:, 2 * H:3 * H])
            c = f * states[1] + i * g
            new = [o * F.tanh(c), c]
        elif kind == "gru":
            r, z = F.sigmoid(gi[:, :H] + gh[:, :H]), F.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
            n = F.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            new = [(1.0 - z) * n + z * states[0]]
        else:
            new = [F.tanh(gi + gh) if kind == "rnn-tanh" else F.relu(gi + gh)]
        if mask is None:
            states, outputs[step] = new, new[0]
        else:
            valid = np.asarray(mask)[step][:, None]
            states = [F.where(valid, s_new, s) for s_new, s in zip(new, states)]
            outputs[step] = F.where(valid, new[0], 0.0)
    return (F.stack(outputs),) + tuple(states)


def _loss(outs: tuple, weights: list, use: tuple):
    """sum_k <w_k, out_k> over the outputs listed in ``use`` (indices)."""
    total = None
    for k in use:
        term = (outs[k] * lucidnn.Tensor(weights[k])).sum()
        total = term if total is None else total + term
    return total


def _holey_mask(rng, T: int, N: int):
    """A mask with holes anywhere (not only padding at the end), one sequence fully valid."""
    mask = rng.random((T, N)) > 0.35
    mask[:, 0] = True
    return mask


def _length_mask(lengths, T: int):
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]


def _assert_grads_equal(ours: dict, theirs: dict, rtol: float, atol: float) -> None:
    checked = 0
    for name, t in ours.items():
        if t is None or not t.requires_grad:
            continue
        assert t.grad is not None, f"{name} got no gradient"
        assert theirs[name].grad is not None, f"reference {name} got no gradient"
        np.testing.assert_allclose(t.grad.numpy(), theirs[name].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name}")
        checked += 1
    assert checked > 0


# --------------------------------------------------------------------------- against the op-by-op reference


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("variant", ["plain", "mask", "reverse", "mask-reverse"])
def test_matches_reference_float64(rng, kind, bias, variant):
    T, N, n_in, H = 7, 4, 3, 5
    p = _params(rng, kind, T, N, n_in, H, bias=bias)
    mask = _holey_mask(rng, T, N) if "mask" in variant else None
    reverse = "reverse" in variant
    ours, theirs = _tensors(p), _tensors(p)
    outs, ref = _fused(kind, ours, mask, reverse), _reference(kind, theirs, mask, reverse)
    assert len(outs) == len(ref) == (3 if kind == "lstm" else 2)
    for a, b in zip(outs, ref):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)
    weights = [rng.standard_normal(o.shape) for o in outs]
    use = tuple(range(len(outs)))
    _loss(outs, weights, use).backward()
    _loss(ref, weights, use).backward()
    _assert_grads_equal(ours, theirs, rtol=1e-10, atol=1e-12)


_USES = {"output-only": (0,), "h_n-only": (1,), "c_n-only": (2,), "states": (1, 2)}


@pytest.mark.parametrize("kind,use", [(k, u) for k in KINDS for name, u in _USES.items() if k == "lstm" or 2 not in u],
                         ids=[f"{k}-{name}" for k in KINDS for name, u in _USES.items() if k == "lstm" or 2 not in u])
def test_gradient_from_some_outputs(rng, kind, use):
    """Outputs that no gradient reaches arrive as None in backward and count as zero."""
    p = _params(rng, kind, 6, 3, 4, 3)
    mask = _length_mask([6, 2, 4], 6)
    ours, theirs = _tensors(p), _tensors(p)
    outs, ref = _fused(kind, ours, mask), _reference(kind, theirs, mask)
    weights = [rng.standard_normal(o.shape) for o in outs]
    _loss(outs, weights, use).backward()
    _loss(ref, weights, use).backward()
    _assert_grads_equal(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("wanted", [{"x"}, {"weight_hh"}, {"h0", "bias_hh"}, {"c0", "weight_ih"}],
                         ids=["x", "weight_hh", "h0-bias_hh", "c0-weight_ih"])
def test_only_requested_inputs_get_gradients(rng, kind, wanted):
    if kind != "lstm":
        wanted = (wanted - {"c0"}) or {"x"}
    p = _params(rng, kind, 5, 2, 3, 4)
    ours, theirs = _tensors(p, wanted), _tensors(p, wanted)
    outs, ref = _fused(kind, ours, reverse=True), _reference(kind, theirs, reverse=True)
    weights = [rng.standard_normal(o.shape) for o in outs]
    _loss(outs, weights, (0, 1)).backward()
    _loss(ref, weights, (0, 1)).backward()
    _assert_grads_equal(ours, theirs, rtol=1e-10, atol=1e-12)
    for name, t in ours.items():
        if t is not None and name not in wanted:
            assert t.grad is None, f"{name} does not require grad but got one"


# --------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("variant", ["plain", "mask", "reverse", "mask-reverse"])
def test_gradcheck(rng, kind, variant):
    T, N, n_in, H = 5, 3, 2, 3
    p = _params(rng, kind, T, N, n_in, H)
    mask = _length_mask([5, 3, 1], T) if "mask" in variant else None
    if mask is not None:
        mask[1, 0] = False  # and a hole inside the longest sequence
    reverse = "reverse" in variant
    names = [k for k, v in p.items() if v is not None]

    def fn(*tensors):
        t = dict.fromkeys(p)  # every name, None where the layer has no such input
        t.update(zip(names, tensors))
        return _fused(kind, t, mask, reverse)

    assert gradcheck(fn, [lucidnn.Tensor(p[k], requires_grad=True) for k in names], mode="full")


# --------------------------------------------------------------------------- semantics


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_padding_is_invisible(rng, kind, reverse):
    """With a length mask, each sequence gives exactly what its unpadded run gives alone."""
    T, N, n_in, H = 6, 3, 2, 4
    lengths = [6, 2, 4]
    p = _params(rng, kind, T, N, n_in, H)
    outs = _fused(kind, _tensors(p, False), _length_mask(lengths, T), reverse)
    for n, length in enumerate(lengths):
        alone = dict(p, x=p["x"][:length, n:n + 1], h0=p["h0"][n:n + 1],
                     c0=None if p["c0"] is None else p["c0"][n:n + 1])
        single = _fused(kind, _tensors(alone, False), reverse=reverse)
        np.testing.assert_allclose(outs[0].numpy()[:length, n], single[0].numpy()[:, 0], rtol=1e-12, atol=1e-14)
        assert not outs[0].numpy()[length:, n].any(), "padded steps must output zeros"
        for final, final_alone in zip(outs[1:], single[1:]):
            np.testing.assert_allclose(final.numpy()[n], final_alone.numpy()[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_no_grad_forward_is_the_same(rng, kind):
    p = _params(rng, kind, 5, 3, 4, 6, dtype=np.float32)
    mask = _holey_mask(rng, 5, 3)
    with_graph = _fused(kind, _tensors(p), mask)
    with no_grad():
        without = _fused(kind, _tensors(p), mask)
    assert all(o.grad_fn is None for o in without)
    for a, b in zip(with_graph, without):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32_and_saturation_is_quiet(rng, kind):
    """Huge pre-activations (|a| ~ 1e4) saturate the gates without overflow warnings (errors here)."""
    p = _params(rng, kind, 6, 3, 4, 5, dtype=np.float32)
    p["x"] = p["x"] * np.float32(3e3)
    t = _tensors(p)
    outs = _fused(kind, t, _holey_mask(rng, 6, 3), reverse=True)
    for o in outs:
        assert o.dtype == np.float32
        assert np.isfinite(o.numpy()).all()
    _loss(outs, [np.ones(o.shape, np.float32) for o in outs], tuple(range(len(outs)))).backward()
    for name, v in t.items():
        if v is not None:
            assert v.grad.dtype == np.float32, name
            assert np.isfinite(v.grad.numpy()).all(), name


# --------------------------------------------------------------------------- PyTorch parity


def _torch_layer(torch, kind: str, p: dict, *, bidirectional: bool = False):
    n_in, H = p["x"].shape[2], p["weight_hh"].shape[1]
    bias = p["bias_ih"] is not None
    if kind.startswith("rnn"):
        layer = torch.nn.RNN(n_in, H, nonlinearity=kind.split("-")[1], bias=bias, bidirectional=bidirectional)
    else:
        layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](n_in, H, bias=bias, bidirectional=bidirectional)
    layer = layer.to(torch.float32)
    with torch.no_grad():
        for suffix in ("_l0", "_l0_reverse") if bidirectional else ("_l0",):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                if p[name] is not None:
                    getattr(layer, name + suffix).copy_(torch.from_numpy(p[name]))
    return layer


def _torch_state(torch, kind: str, p: dict, directions: int = 1):
    def state(a):
        return torch.from_numpy(np.stack([a] * directions)).requires_grad_()
    return (state(p["h0"]), state(p["c0"])) if kind == "lstm" else state(p["h0"])


@pytest.mark.torch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_matches_torch_float32(rng, kind, bias):
    torch = pytest.importorskip("torch")
    T, N, n_in, H = 12, 5, 8, 16
    p = _params(rng, kind, T, N, n_in, H, bias=bias, dtype=np.float32)
    ours = _tensors(p)
    outs = _fused(kind, ours)
    layer = _torch_layer(torch, kind, p)
    tx, hx = torch.from_numpy(p["x"]).requires_grad_(), _torch_state(torch, kind, p)
    y, final = layer(tx, hx)
    theirs = (y,) + (tuple(s[0] for s in final) if kind == "lstm" else (final[0],))
    for a, b in zip(outs, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    weights = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    _loss(outs, weights, tuple(range(len(outs)))).backward()
    sum((b * torch.from_numpy(w)).sum() for b, w in zip(theirs, weights)).backward()
    states = hx if kind == "lstm" else (hx,)
    pairs = [("x", tx.grad), ("h0", states[0].grad[0])] + ([("c0", states[1].grad[0])] if kind == "lstm" else [])
    pairs += [(name, getattr(layer, name + "_l0").grad) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
              if p[name] is not None]
    for name, g in pairs:
        np.testing.assert_allclose(ours[name].grad.numpy(), g.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.torch
@pytest.mark.parametrize("kind", KINDS)
def test_masks_match_torch_packed_bidirectional(rng, kind):
    """mask + reverse=False/True are the two halves of torch's packed bidirectional layer."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    T, N, n_in, H = 9, 5, 4, 6
    lengths = np.array([4, 9, 1, 6, 9])  # unsorted: enforce_sorted=False
    p = _params(rng, kind, T, N, n_in, H, dtype=np.float32)
    mask = _length_mask(lengths, T)
    layer = _torch_layer(torch, kind, p, bidirectional=True)
    tx, hx = torch.from_numpy(p["x"]).requires_grad_(), _torch_state(torch, kind, p, directions=2)
    packed = pack_padded_sequence(tx, torch.from_numpy(lengths), enforce_sorted=False)
    y_packed, final = layer(packed, hx)
    y, _ = pad_packed_sequence(y_packed, total_length=T)
    finals = final if kind == "lstm" else (final,)
    weights = [rng.standard_normal((T, N, 2 * H)).astype(np.float32)]
    weights += [rng.standard_normal((2, N, H)).astype(np.float32) for _ in finals]
    (sum((a * torch.from_numpy(w)).sum() for a, w in zip((y,) + finals, weights))).backward()

    ours_x = lucidnn.Tensor(p["x"].copy(), requires_grad=True)
    for direction, reverse in enumerate((False, True)):
        t = _tensors(p)
        t["x"] = ours_x
        outs = _fused(kind, t, mask, reverse)
        half = slice(direction * H, (direction + 1) * H)
        theirs = (y[:, :, half],) + tuple(s[direction] for s in finals)
        for a, b in zip(outs, theirs):
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
        ws = [weights[0][:, :, half]] + [w[direction] for w in weights[1:]]
        _loss(outs, ws, tuple(range(len(outs)))).backward()
        suffix = "_l0_reverse" if reverse else "_l0"
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            np.testing.assert_allclose(t[name].grad.numpy(), getattr(layer, name + suffix).grad.numpy(),
                                       rtol=1e-4, atol=1e-5, err_msg=f"{name}{suffix}")
        states = hx if kind == "lstm" else (hx,)
        for name, s in zip(("h0", "c0"), states):
            np.testing.assert_allclose(t[name].grad.numpy(), s.grad[direction].numpy(), rtol=1e-4, atol=1e-5,
                                       err_msg=f"{name} of direction {direction}")
    np.testing.assert_allclose(ours_x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg="x")


# --------------------------------------------------------------------------- bad input


def _bad(kind: str, change: str):
    """Arguments of a valid call (T=4, N=3, n_in=2, H=5) with one thing broken as ``change`` says."""
    rng = np.random.default_rng(0)
    p = _params(rng, kind, 4, 3, 2, 5, dtype=np.float32)
    mask = np.ones((4, 3), bool)
    if change == "x-2d":
        p["x"] = p["x"][0]
    elif change == "x-empty":
        p["x"] = p["x"][:0]
    elif change == "x-int":
        p["x"] = p["x"].astype(np.int64)
    elif change == "input-size":
        p["x"] = np.zeros((4, 3, 7), np.float32)
    elif change == "weight-hh-rows":
        p["weight_hh"] = p["weight_hh"][:-1]
    elif change == "weight-ih-rows":
        p["weight_ih"] = p["weight_ih"][:-5]
    elif change == "weight-1d":
        p["weight_ih"] = p["weight_ih"][0]
    elif change == "bias-shape":
        p["bias_hh"] = p["bias_hh"][:-1]
    elif change == "h0-shape":
        p["h0"] = p["h0"][:2]
    elif change == "c0-shape":
        p["c0"] = p["c0"][:, :4]
    elif change == "dtype":
        p["weight_hh"] = p["weight_hh"].astype(np.float64)
    elif change == "mask-shape":
        mask = mask[:3]
    elif change == "mask-dtype":
        mask = mask.astype(np.float32)
    return p, mask


_ERRORS = [("x-2d", ShapeError, "(T, N, I)"), ("x-empty", ShapeError, "zero-length"),
           ("x-int", DTypeError, "floating"), ("input-size", ShapeError, "input_size = 7"),
           ("weight-hh-rows", ShapeError, "weight_hh"), ("weight-ih-rows", ShapeError, "weight_ih"),
           ("weight-1d", ShapeError, "2-D"), ("bias-shape", ShapeError, "bias_hh"),
           ("h0-shape", ShapeError, "h0 has shape (2, 5)"), ("c0-shape", ShapeError, "c0 has shape (3, 4)"),
           ("dtype", DTypeError, "float64"), ("mask-shape", ShapeError, "mask has shape (3, 3)"),
           ("mask-dtype", DTypeError, "boolean")]


_ERROR_CASES = [(kind, *e) for e in _ERRORS for kind in KINDS if kind == "lstm" or e[0] != "c0-shape"]


@pytest.mark.parametrize("kind,change,error,text", _ERROR_CASES, ids=[f"{c[1]}-{c[0]}" for c in _ERROR_CASES])
def test_bad_input_is_rejected_clearly(kind, change, error, text):
    p, mask = _bad(kind, change)
    with pytest.raises(error, match=re.escape(text)):
        _fused(kind, _tensors(p, False), mask)


def test_unknown_nonlinearity_is_rejected(rng):
    p = _tensors(_params(rng, "rnn-tanh", 3, 2, 2, 3, dtype=np.float32), False)
    with pytest.raises(ValueError, match="nonlinearity"):
        F.rnn_sequence(p["x"], p["h0"], p["weight_ih"], p["weight_hh"], nonlinearity="sigmoid")


def test_states_must_be_tensors(rng):
    p = _tensors(_params(rng, "gru", 3, 2, 2, 3, dtype=np.float32), False)
    with pytest.raises(TypeError, match="h0 must be a Tensor"):
        F.gru_sequence(p["x"], None, p["weight_ih"], p["weight_hh"])
