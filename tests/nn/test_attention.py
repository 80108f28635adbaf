"""Attention: the three scores against NumPy, masking, gradcheck and argument errors."""

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.errors import ShapeError
from tests.nn.recurrent_support import gradcheck_with_parameters


def _reference(att, q, k, mask):
    """softmax_j(score(q_t, k_j)) and the context, in float64 NumPy."""
    if att.score == "dot":
        e = q @ k.transpose(0, 2, 1)
    elif att.score == "general":
        e = q @ (k @ att.weight.weight.numpy().T).transpose(0, 2, 1)
    else:
        wq, bq = att.query_proj.weight.numpy(), att.query_proj.bias.numpy()
        wk, v = att.key_proj.weight.numpy(), att.v.weight.numpy()[0]
        e = np.tanh((q @ wq.T + bq)[:, :, None, :] + (k @ wk.T)[:, None, :, :]) @ v
    if mask is not None:
        e = np.where(mask[:, None, :], e, -np.inf)
    a = np.exp(e - e.max(axis=-1, keepdims=True))
    a /= a.sum(axis=-1, keepdims=True)
    return a @ k, a


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
@pytest.mark.parametrize("masked", [False, True])
def test_attention_matches_numpy(rng, score, masked):
    att = nn.Attention(4, 4, score=score, dtype="float64", rng=lucidnn.Generator(1))
    q, k = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 5, 4))
    mask = np.arange(5)[None, :] < np.array([5, 2, 4])[:, None] if masked else None
    context, weights = att(lucidnn.tensor(q), lucidnn.tensor(k), mask)
    want_c, want_a = _reference(att, q, k, mask)
    np.testing.assert_allclose(weights.numpy(), want_a, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(context.numpy(), want_c, rtol=1e-12, atol=1e-14)
    if masked:
        assert (weights.numpy()[1, :, 2:] == 0).all()  # padded keys get exactly zero weight


def test_single_query_drops_the_time_axis(rng):
    att = nn.Attention(3, 5, score="additive", attention_size=7)
    context, weights = att(lucidnn.tensor(rng.standard_normal((2, 3)).astype(np.float32)),
                           lucidnn.tensor(rng.standard_normal((2, 4, 5)).astype(np.float32)))
    assert context.shape == (2, 5) and weights.shape == (2, 4) and context.dtype == np.float32
    np.testing.assert_allclose(weights.numpy().sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
def test_attention_gradcheck_with_mask(rng, score):
    att = nn.Attention(3, 3, score=score, attention_size=2, dtype="float64", rng=lucidnn.Generator(2))
    q = lucidnn.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    k = lucidnn.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    mask = np.array([[True, True, True, False], [True, True, False, False]])

    def f(q, k):
        context, weights = att(q, k, mask)
        return context * 1.5 + weights.sum()

    if score == "dot":
        assert lucidnn.autograd.gradcheck(f, [q, k])
    else:
        assert gradcheck_with_parameters(f, att, [q, k])


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: nn.Attention(3, 4, score="dot"), ValueError, "query_size == key_size"),
    (lambda: nn.Attention(3, 4, score="cosine"), ValueError, "score must be one of"),
    (lambda: nn.Attention(3, 4)(lucidnn.zeros(2, 3), lucidnn.zeros(2, 5, 3)), ShapeError, "key size 4"),
    (lambda: nn.Attention(3, 4)(lucidnn.zeros(2, 3), lucidnn.zeros(3, 5, 4)), ShapeError, "same N"),
    (lambda: nn.Attention(3, 4)(lucidnn.zeros(2, 3), lucidnn.zeros(2, 5, 4), np.ones((2, 4), bool)),
     ShapeError, "mask must be"),
])
def test_attention_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
