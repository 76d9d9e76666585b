"""The Optimizer base class: groups, zero_grad, skipping, dtypes, errors, state_dict round trip."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import minicnn
from minicnn import optim


def _param(values, dtype=np.float32) -> minicnn.Tensor:
    return minicnn.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def _set_grad(p: minicnn.Tensor, values) -> None:
    p.grad = minicnn.Tensor(np.asarray(values, dtype=p.dtype))


# ---------------------------------------------------------------------- hand-checkable steps
def test_sgd_step_by_hand() -> None:
    p = _param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    _set_grad(p, [1.0, -2.0])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.9, 2.2], rtol=1e-6)  # p - 0.1 * g


def test_sgd_momentum_by_hand() -> None:
    p = _param([0.0])
    opt = optim.SGD([p], lr=1.0, momentum=0.5)
    for _ in range(3):
        _set_grad(p, [1.0])
        opt.step()
    # velocity b: 1, 0.5*1 + 1 = 1.5, 0.5*1.5 + 1 = 1.75; p = -(1 + 1.5 + 1.75)
    np.testing.assert_allclose(p.numpy(), [-4.25])
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [1.75])


def test_adam_first_step_moves_each_element_by_lr() -> None:
    # at t = 1, m_hat = g and v_hat = g^2, so the step is lr * g / |g| = lr * sign(g)
    p = _param([1.0, 1.0, 1.0])
    opt = optim.Adam([p], lr=0.01)
    _set_grad(p, [1e-3, -5.0, 300.0])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.99, 1.01, 0.99], rtol=1e-5)


def test_minimises_a_quadratic_through_autograd() -> None:
    target = minicnn.Tensor(np.array([3.0, -1.0, 0.5], dtype=np.float32))
    for make in (lambda q: optim.SGD(q, lr=0.1, momentum=0.9), lambda q: optim.Adam(q, lr=0.1),
                 lambda q: optim.RMSprop(q, lr=0.05)):
        p = _param([0.0, 0.0, 0.0])
        opt = make([p])
        for _ in range(300):
            opt.zero_grad()
            ((p - target) * (p - target)).sum().backward()
            opt.step()
        np.testing.assert_allclose(p.numpy(), target.numpy(), atol=2e-2)


# ---------------------------------------------------------------------- parameter groups
def test_groups_fall_back_to_defaults() -> None:
    body, head = _param([1.0]), _param([2.0])
    opt = optim.SGD([{"params": [body], "lr": 1e-4}, {"params": head}], lr=1e-2, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [1e-4, 1e-2]
    assert all(g["momentum"] == 0.9 for g in opt.param_groups)
    assert opt.param_groups[1]["params"] == [head]
    _set_grad(body, [1.0])
    _set_grad(head, [1.0])
    opt.step()
    np.testing.assert_allclose([body.item(), head.item()], [1.0 - 1e-4, 2.0 - 1e-2], rtol=1e-6)


def test_add_param_group_for_unfrozen_layer() -> None:
    a, b = _param([1.0]), _param([1.0])
    opt = optim.Adam([a], lr=1e-3)
    opt.add_param_group({"params": [b], "lr": 1e-5})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_bad_params_are_rejected() -> None:
    p = _param([1.0])
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.SGD([np.zeros(3)], lr=0.1)


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: optim.SGD(p, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda p: optim.SGD(p, weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    (lambda p: optim.SGD(p, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.SGD([{"params": p, "lr": -1.0}], lr=0.1), "Invalid learning rate: -1.0"),
    (lambda p: optim.Adam(p, lr=-1e-3), "Invalid learning rate: -0.001"),
    (lambda p: optim.Adam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), "Invalid weight_decay value: -0.01"),
    (lambda p: optim.RMSprop(p, alpha=-0.9), "Invalid alpha value: -0.9"),
    (lambda p: optim.RMSprop(p, momentum=-1.0), "Invalid momentum value: -1.0"),
    (lambda p: optim.RMSprop(p, eps=-1e-8), "Invalid epsilon value: -1e-08"),
])
def test_invalid_hyperparameters_raise(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make([_param([1.0])])


# ---------------------------------------------------------------------- what step touches
@pytest.mark.parametrize("make", [
    lambda q: optim.SGD(q, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda q: optim.Adam(q, weight_decay=0.1),
    lambda q: optim.AdamW(q),
    lambda q: optim.RMSprop(q, momentum=0.9, centered=True, weight_decay=0.1),
])
def test_step_skips_missing_grads_and_frozen_params(make) -> None:
    used, unused, frozen = _param([1.0, 2.0]), _param([3.0]), _param([4.0])
    opt = make([used, unused, frozen])
    frozen.requires_grad_(False)
    _set_grad(used, [0.5, 0.5])
    _set_grad(frozen, [0.5])  # a stale gradient from before it was frozen
    opt.step()
    assert unused.item() == 3.0 and frozen.item() == 4.0
    assert not np.allclose(used.numpy(), [1.0, 2.0])
    assert unused not in opt.state and frozen not in opt.state


@pytest.mark.parametrize("make", [
    lambda q: optim.SGD(q, lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True),
    lambda q: optim.Adam(q, weight_decay=0.1, maximize=True),
    lambda q: optim.AdamW(q, amsgrad=True),
    lambda q: optim.RMSprop(q, momentum=0.9, centered=True, weight_decay=0.1),
])
def test_step_updates_data_in_place_and_never_touches_grads(make) -> None:
    a, b = _param([1.0, 2.0]), _param([3.0, 4.0])
    shared = np.array([0.5, -0.5], dtype=np.float32)  # autograd may give two tensors one array
    a.grad, b.grad = minicnn.Tensor(shared), minicnn.Tensor(shared)
    data_a = a.data
    opt = make([a, b])
    for _ in range(3):
        opt.step()
    np.testing.assert_array_equal(shared, [0.5, -0.5])
    assert a.data is data_a  # same array, so views of it (and the model) see the update
    assert not np.allclose(a.numpy(), [1.0, 2.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [
    lambda q: optim.SGD(q, lr=np.float64(0.1), momentum=0.9, weight_decay=0.1, nesterov=True),
    lambda q: optim.Adam(q, lr=np.float64(1e-3), weight_decay=0.1, amsgrad=True),
    lambda q: optim.AdamW(q, lr=np.float64(1e-3)),
    lambda q: optim.RMSprop(q, lr=np.float64(1e-2), momentum=0.9, centered=True, weight_decay=0.1),
])
def test_dtype_is_kept(make, dtype) -> None:
    # lr given as a NumPy float64 scalar must not promote float32 parameters (NumPy 2 rules)
    p = _param([1.0, 2.0], dtype)
    opt = make([p])
    for _ in range(2):
        _set_grad(p, [0.5, -0.5])
        opt.step()
    assert p.dtype == dtype
    assert all(v.dtype == dtype for v in opt.state[p].values() if isinstance(v, np.ndarray))


def test_zero_grad() -> None:
    p = _param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    _set_grad(p, [3.0, 4.0])
    old = p.grad.data
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(old, [3.0, 4.0])  # a new zero array, the old one untouched
    opt.zero_grad()
    assert p.grad is None


def test_step_returns_the_closure_loss() -> None:
    p = _param([2.0])
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with minicnn.no_grad():  # the closure still records a graph
        loss = opt.step(closure)
    assert loss.item() == 4.0 and p.item() == 1.0  # 2 - 0.25 * 2*2


# ---------------------------------------------------------------------- state_dict
OPTIMIZERS = {
    "sgd-nesterov": lambda q: optim.SGD(q, lr=0.1, momentum=0.9, nesterov=True),
    "adam-amsgrad": lambda q: optim.Adam(q, lr=0.01, amsgrad=True, betas=(0.9, 0.5)),
    "adamw": lambda q: optim.AdamW(q, lr=0.01),
    "rmsprop-centered-momentum": lambda q: optim.RMSprop(q, lr=0.01, momentum=0.9, centered=True),
}


def _grads(step: int) -> list[np.ndarray]:
    rng = np.random.default_rng(step)
    return [rng.standard_normal(s).astype(np.float32) for s in [(3, 2), (4,), (2,)]]


def _model(start: list[np.ndarray]) -> list[minicnn.Tensor]:
    return [minicnn.Tensor(a.copy(), requires_grad=True) for a in start]


def _run(opt, params, steps) -> None:
    for step in steps:
        for p, g in zip(params, _grads(step)):
            p.grad = minicnn.Tensor(g)
        opt.step()


def _make_groups(make, params):
    return make([{"params": params[:2], "weight_decay": 0.1}, {"params": params[2:], "lr": 0.003}])


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip_resumes_bit_for_bit(name: str, npz_round_trip) -> None:
    make = OPTIMIZERS[name]
    start = [np.random.default_rng(99).standard_normal(s).astype(np.float32) for s in [(3, 2), (4,), (2,)]]

    params = _model(start)
    uninterrupted = _make_groups(make, params)
    _run(uninterrupted, params, range(10))

    first = _model(start)
    opt = _make_groups(make, first)
    _run(opt, first, range(5))
    state = opt.state_dict()
    saved = npz_round_trip(state)  # through np.savez / np.load(allow_pickle=False)
    resumed = [minicnn.Tensor(p.numpy().copy(), requires_grad=True) for p in first]  # the reloaded model
    _run(opt, first, range(5, 8))  # the old optimizer goes on: `state` holds copies, so it is unchanged
    for position, entry in state["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(value, saved["state"][position][key])

    opt2 = _make_groups(make, resumed)
    opt2.load_state_dict(saved)
    _run(opt2, resumed, range(5, 10))

    for p, q in zip(params, resumed):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
        assert q.dtype == np.float32
    for p, q in zip(params, resumed):
        for key, value in uninterrupted.state[p].items():
            np.testing.assert_array_equal(opt2.state[q][key], value)
    assert opt2.param_groups[0]["lr"] == uninterrupted.param_groups[0]["lr"]
    assert type(opt2.param_groups[0].get("betas", ())) is tuple


def test_state_dict_layout_is_torch_like() -> None:
    a, b = _param([1.0]), _param([2.0, 3.0])
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.1}])
    _set_grad(b, [1.0, 1.0])
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert list(sd["state"]) == [1]  # only b has taken a step
    assert sd["state"][1]["step"] == 1 and sd["state"][1]["exp_avg"].dtype == np.float32
    assert sd["param_groups"][0]["betas"] == [0.9, 0.999]  # lists, not tuples


def test_load_state_dict_rejects_other_layouts() -> None:
    opt = optim.SGD([_param([1.0]), _param([2.0])], lr=0.1, momentum=0.9)
    other_groups = optim.SGD([{"params": [_param([1.0])]}, {"params": [_param([2.0])]}], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(other_groups)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(optim.SGD([_param([1.0])], lr=0.1).state_dict())
    wrong = optim.SGD([_param([1.0, 2.0]), _param([2.0])], lr=0.1, momentum=0.9)
    wrong.param_groups[0]["params"][0].grad = minicnn.Tensor(np.ones(2, np.float32))
    wrong.step()
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        opt.load_state_dict(wrong.state_dict())


def test_no_warnings_in_a_normal_step() -> None:
    p = _param([1.0])
    opt = optim.Adam([p])
    _set_grad(p, [1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
