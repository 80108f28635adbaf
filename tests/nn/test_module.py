"""Module: parameter discovery, state dicts, modes, hooks, moves, repr, summary and error paths."""

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn import nn
from lucidnn.errors import ShapeError


class Affine(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(lucidnn.randn(n_out, n_in, rng=lucidnn.Generator(n_in * 100 + n_out)))
        self.bias = nn.Parameter(lucidnn.zeros(n_out))
        self.register_buffer("calls", lucidnn.zeros(()))

    def forward(self, x):
        self.calls.data += 1
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = Affine(4, 8)
        self.blocks = nn.ModuleList([Affine(8, 8), Affine(8, 8)])
        self.head = nn.Sequential(Affine(8, 3))
        self.scale = nn.Parameter(lucidnn.ones(1))
        self.register_buffer("scratch", lucidnn.zeros(2), persistent=False)

    def forward(self, x):
        h = self.fc1(x)
        for block in self.blocks:
            h = h + block(h).tanh()
        return self.head(h) * self.scale


def test_parameters_are_found_in_torch_order_and_names():
    # as in torch: the module's own parameters first, then each child's, in assignment order
    names = [n for n, _ in Net().named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                     "blocks.1.bias", "head.0.weight", "head.0.bias"]
    assert len(list(Net().parameters())) == 9


def test_state_dict_has_persistent_buffers_only():
    keys = list(Net().state_dict())
    assert "fc1.calls" in keys and "head.0.calls" in keys and "scratch" not in keys


def test_shared_module_counts_once():
    shared = Affine(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_modules()] == ["", "0"]


def test_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["fc1", "blocks", "head"]
    assert len(list(net.modules())) == 1 + 1 + 1 + 2 + 1 + 1


def test_state_dict_round_trip_copies_in_place():
    a, b = Net(), Net()
    for p in b.parameters():
        p.data[...] = 0
    weight_before = b.fc1.weight
    b.load_state_dict(a.state_dict())
    assert b.fc1.weight is weight_before  # optimizers keep their references
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())


def test_load_state_dict_lists_missing_unexpected_and_misshaped_keys():
    net = Net()
    state = dict(net.state_dict())
    state.pop("fc1.bias")
    state["extra.weight"] = np.zeros(3)
    state["head.0.weight"] = np.zeros((5, 5))
    with pytest.raises(nn.StateDictError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "missing keys: fc1.bias" in message
    assert "unexpected keys: extra.weight" in message
    assert "head.0.weight: checkpoint (5, 5) vs model (3, 8)" in message


def test_load_state_dict_non_strict_reports_but_loads():
    net = Net()
    state = dict(net.state_dict())
    state.pop("scale")
    state["other"] = np.zeros(1)
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["other"]
    with pytest.raises(nn.StateDictError, match="mis-shaped"):
        net.load_state_dict({"scale": np.zeros(2)}, strict=False)


def test_train_eval_propagate():
    net = Net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_requires_grad():
    net = Net()
    net(lucidnn.randn(2, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(float(np.abs(p.grad.numpy()).sum()) == 0 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not net(lucidnn.randn(2, 4)).requires_grad


def test_to_dtype_converts_parameters_and_buffers_in_place():
    net = Net()
    net.double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.fc1.calls.dtype == np.float64
    assert net(lucidnn.randn(2, 4, dtype="float64")).dtype == np.float64


def test_apply_visits_children_before_parents():
    order = []
    Net().apply(lambda m: order.append(type(m).__name__))
    assert order[-1] == "Net" and order.index("Affine") < order.index("ModuleList")


def test_forward_hooks_can_replace_output_and_be_removed():
    net = Net()
    seen = []
    handle = net.fc1.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    pre = net.register_forward_pre_hook(lambda m, inputs: (inputs[0] * 0.0,))
    zero_hook = net.head.register_forward_hook(lambda m, inputs, out: out * 0.0)
    y = net(lucidnn.randn(2, 4))
    assert seen == [(2, 8)] and float(np.abs(y.numpy()).sum()) == 0
    handle.remove()
    pre.remove()
    zero_hook.remove()
    net(lucidnn.randn(2, 4))
    assert seen == [(2, 8)]


def test_repr_is_nested_like_torch():
    text = repr(Net())
    assert text.startswith("Net(\n  (fc1): Affine(4 -> 8)\n  (blocks): ModuleList(\n    (0): Affine(8 -> 8)")


def test_errors_inside_forward_name_the_layer_path():
    with pytest.raises(ShapeError, match=r"^fc1 \(Affine\): linear: input \(2x5\)"):
        Net()(lucidnn.randn(2, 5))
    net = Net()
    net.blocks[1].weight = nn.Parameter(lucidnn.randn(8, 7))
    with pytest.raises(ShapeError, match=r"^blocks\.1 \(Affine\): linear"):
        net(lucidnn.randn(2, 4))


def test_summary_lists_layers_shapes_and_counts():
    lines = []
    text = Net().summary((4,), print_fn=lines.append)
    assert lines == [text]
    assert "fc1 (Affine)" in text and "(None, 8)" in text and "head.0 (Affine)" in text and "(None, 3)" in text
    assert "Total params: 212" in text  # 40 + 72 + 72 + 27 + 1
    assert "Trainable params: 212" in text


def test_container_protocols():
    seq = nn.Sequential(Affine(2, 3), Affine(3, 1))
    assert len(seq) == 2 and isinstance(seq[0], Affine) and len(seq[1:]) == 1
    seq.append(Affine(1, 1))
    assert [n for n, _ in seq.named_parameters()][-1] == "2.bias"
    ml = nn.ModuleList([Affine(1, 1)])
    ml.insert(0, Affine(2, 2))
    assert [m.weight.shape for m in ml] == [(2, 2), (1, 1)]
    md = nn.ModuleDict({"enc": Affine(2, 2)})
    md["dec"] = Affine(2, 1)
    assert list(md) == ["enc", "dec"] and "dec" in md and len(md) == 2
    assert [n for n, _ in md.named_parameters()] == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    with pytest.raises(KeyError, match="taken by an attribute"):
        md["training"] = Affine(1, 1)
    with pytest.raises(TypeError, match="expected a Module"):
        nn.Sequential(lambda x: x)
    with pytest.raises(TypeError, match="container"):
        ml(lucidnn.zeros(1))
