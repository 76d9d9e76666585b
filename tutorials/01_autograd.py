# %% [markdown]
# # Tutorial 1 — Autograd and the chain rule
#
# A neural network is a long composition of simple functions. To train it we need the
# derivative of the loss with respect to every weight, and the **chain rule** gives it:
# if `L = f(g(w))` then `dL/dw = f'(g(w)) * g'(w)`. Backpropagation is the chain rule
# applied from the loss backwards, one simple function at a time.
#
# In minicnn each simple function is a `Function` with a `forward` and a `backward`
# (open `minicnn/ops/elementwise.py` and find `Mul` and `Sigmoid`). A `Tensor` remembers
# which function made it, so `loss.backward()` can walk the graph back to the weights.
#
# Run this file as a script (`python tutorials/01_autograd.py`) or open it as a notebook
# (VS Code / jupytext understand the `# %%` cells).

# %%
import numpy as np

import minicnn
from minicnn import Tensor

# %% [markdown]
# ## 1. A neuron by hand
#
# One neuron with two inputs: `z = w1*x1 + w2*x2 + b`, output `a = sigmoid(z)`.
# With `x = (1, 2)`, `w = (0.5, -0.25)`, `b = 0.1`:
#
#     z = 0.5*1 + (-0.25)*2 + 0.1 = 0.1
#     a = 1 / (1 + e^-0.1)        = 0.52498
#
# Going backwards, `da/dz = a(1 - a) = 0.24938`, and because `z` is a weighted sum,
# `dz/dw1 = x1 = 1`, `dz/dw2 = x2 = 2`, `dz/db = 1`. The chain rule multiplies:
#
#     da/dw1 = 0.24938 * 1 = 0.24938
#     da/dw2 = 0.24938 * 2 = 0.49875
#     da/db  = 0.24938

# %%
x = Tensor([1.0, 2.0])
w = Tensor([0.5, -0.25], requires_grad=True)
b = Tensor(0.1, requires_grad=True)

z = (w * x).sum() + b
a = minicnn.sigmoid(z)
print(f"z = {z.item():.5f}")
print(f"a = sigmoid(z) = {a.item():.5f}")

# by hand, with the chain rule
da_dz = a.item() * (1 - a.item())
print(f"da/dz = a(1 - a) = {da_dz:.5f}")
print(f"by hand:    da/dw = [{da_dz * 1.0:.5f}, {da_dz * 2.0:.5f}], da/db = {da_dz:.5f}")

# by autograd
a.backward()
print(f"by backward: da/dw = [{w.grad.numpy()[0]:.5f}, {w.grad.numpy()[1]:.5f}], da/db = {b.grad.item():.5f}")

# %% [markdown]
# ## 2. Logistic regression: the gradient (p - 1)x and p x
#
# Logistic regression is that neuron with the loss `L = -log p` for a positive example
# (label 1) and `L = -log(1 - p)` for a negative one (label 0), where `p = sigmoid(w.x)`.
# The lecture derives
#
#     positive example:  dL/dw = (p - 1) x
#     negative example:  dL/dw =  p x
#
# (the sigmoid's derivative p(1 - p) cancels against the log's 1/p). Let's check both
# with backward, on `x = (1, 2, -1)` and `w = (0.2, -0.1, 0.3)`, so `w.x = -0.3` and
# `p = sigmoid(-0.3) = 0.42556`.

# %%
x = Tensor([1.0, 2.0, -1.0])
w = Tensor([0.2, -0.1, 0.3], requires_grad=True)
p = minicnn.sigmoid((w * x).sum())
print(f"w.x = {(w * x).sum().item():.4f}, p = {p.item():.5f}")

loss_positive = -minicnn.log(p)
loss_positive.backward()
print(f"positive: backward {np.round(w.grad.numpy(), 5)}   (p - 1) x = {np.round((p.item() - 1) * x.numpy(), 5)}")

w.zero_grad()  # gradients accumulate until zeroed
p = minicnn.sigmoid((w * x).sum())
loss_negative = -minicnn.log(1 - p)
loss_negative.backward()
print(f"negative: backward {np.round(w.grad.numpy(), 5)}   p x       = {np.round(p.item() * x.numpy(), 5)}")

# %% [markdown]
# ## 3. Trust, but verify: gradient checking
#
# A wrong backward still trains — badly. The cure is to compare with the **centred
# finite difference** `(L(w + h) - L(w - h)) / 2h`, which needs only the forward pass.
# `minicnn.gradcheck` does it in float64 and reports CS231n's relative error
# `|a - n| / max(1e-8, |a| + |n|)`: around 1e-7 or less means the backward is right.

# %%
def logistic_loss(w: Tensor) -> Tensor:
    x = Tensor(np.array([1.0, 2.0, -1.0]))
    return -minicnn.log(minicnn.sigmoid((w * x).sum()))


report = minicnn.gradcheck(logistic_loss, [np.array([0.2, -0.1, 0.3])], names=["w"])
print(report)
print("gradient check passed:", report.ok)

# %% [markdown]
# And a check that fails: here is a sigmoid whose backward forgets the factor `(1 - y)`.
# `gradcheck` catches it and says where.

# %%
class BrokenSigmoid(minicnn.Function):
    def forward(self, x):
        y = 1 / (1 + np.exp(-x))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * y  # wrong: should be gy * y * (1 - y)


bad = minicnn.gradcheck(lambda t: BrokenSigmoid.apply(t), [np.array([0.5, -1.0, 2.0])],
                        names=["x"], raise_exception=False)
print(bad)
print("gradient check passed:", bad.ok)

# %% [markdown]
# ## 4. Shared sub-graphs: gradients add up
#
# When a value is used twice, its gradient is the **sum** over both uses. For
# `y = x*x + 3x` at `x = 2`: `dy/dx = 2x + 3 = 7`.

# %%
x = Tensor(2.0, requires_grad=True)
y = x * x + 3 * x
y.backward()
print(f"dy/dx at x = 2: {x.grad.item():.1f}   (2x + 3 = 7)")
