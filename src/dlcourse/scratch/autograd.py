"""Reverse-mode automatic differentiation from scratch (lectures 02-1, 02-2, practicum 05-3, notebook 03).

Backprop is the chain rule applied to a graph of operations, in reverse. Every result remembers the
values it was computed from (its *children*, ``_prev``) and a small closure, ``_backward``, that knows the
local derivative of its own operation: given the gradient of the final output with respect to this
result (``out.grad``), it adds ``out.grad * d out / d child`` to each child's ``grad``.

    Part 1  ``Value``  -- one scalar per node (micrograd-style): the whole idea on one screen.
    Part 2  ``Tensor`` -- the same idea with a torch tensor per node, plus the two things that only
            appear with arrays: broadcasting (whose gradient is a sum) and gradients of reductions.
    Part 3  ``Linear``, ``MLP``, ``sgd_step``, ``Adam`` -- just enough to train a network with Part 2.

No ``torch.autograd`` is used here: torch only stores the numbers and does the arithmetic.
"""

from __future__ import annotations

import math

import torch


def topological_order(root):
    """Every node of the graph that ``root`` depends on, each one *after* all of its children.

    Why this order: a node may feed several later nodes (fan-out), and its gradient is the *sum* of what
    all of them send back (02-2.a, the "Y-splitter"). Walking the list backwards from ``root`` guarantees
    that when we call ``node._backward()``, every node that uses ``node`` has already sent its share, so
    ``node.grad`` is complete before it is passed further down. (Iterative depth-first search, so long
    chains do not hit Python's recursion limit.)
    """
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))  # revisited after all its children are in `order`
            stack.extend((child, False) for child in node._prev)
    return order


# ------------------------------------------------------------------------------------------------
# Part 1. Scalars.
# ------------------------------------------------------------------------------------------------


class Value:
    """A scalar that remembers how it was computed, so that it can send gradients back."""

    def __init__(self, data, _children=(), _op=""):
        self.data = float(data)
        self.grad = 0.0  # d(output)/d(self), filled by backward()
        self._backward = lambda: None  # leaves have nothing to pass on
        self._prev = tuple(_children)
        self._op = _op  # only for printing / drawing the graph

    def __repr__(self):
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    # Each operation: compute the value forwards, and define how the gradient flows back.
    # `+=` and never `=`: a child used twice (x * x, or x in two branches) collects both contributions.

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # d(a+b)/da = d(a+b)/db = 1: the gradient is copied to both inputs
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, k):
        assert isinstance(k, (int, float)), "only constant exponents"
        out = Value(self.data**k, (self,), f"**{k}")

        def _backward():  # d(a^k)/da = k a^(k-1)
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    def _unary(self, y, dy_dx, op):
        """An elementwise function y = f(x) whose derivative at x is dy_dx."""
        out = Value(y, (self,), op)

        def _backward():
            self.grad += dy_dx * out.grad

        out._backward = _backward
        return out

    def exp(self):
        y = math.exp(self.data)
        return self._unary(y, y, "exp")  # (e^x)' = e^x

    def log(self):
        return self._unary(math.log(self.data), 1.0 / self.data, "log")

    def tanh(self):
        y = math.tanh(self.data)
        return self._unary(y, 1.0 - y * y, "tanh")

    def relu(self):
        return self._unary(max(self.data, 0.0), float(self.data > 0), "relu")

    def sigmoid(self):
        # 1/(1+e^-x), written so that e^(large) is never computed; sigma' = sigma (1 - sigma)
        e = math.exp(-abs(self.data))
        y = 1.0 / (1.0 + e) if self.data >= 0 else e / (1.0 + e)
        return self._unary(y, y * (1.0 - y), "sigmoid")

    # Everything else is built from the operations above, so needs no backward of its own.
    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other**-1

    def __radd__(self, other):  # 2 + x
        return self + other

    def __rsub__(self, other):  # 2 - x
        return (-self) + other

    def __rmul__(self, other):  # 2 * x
        return self * other

    def __rtruediv__(self, other):  # 2 / x
        return Value(other) / self

    def backward(self):
        """Fill ``.grad`` of every node this one depends on with d(self)/d(node)."""
        self.grad = 1.0  # d(self)/d(self)
        for node in reversed(topological_order(self)):
            node._backward()


# ------------------------------------------------------------------------------------------------
# Part 2. Tensors.
# ------------------------------------------------------------------------------------------------


def _unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``.

    Broadcasting silently *copies* an input along new leading dimensions and along dimensions of size 1
    (a bias [3] added to a batch [N, 3] is used N times). A copy is a fan-out, and the gradient of a
    fan-out is the sum of the gradients of the copies -- so we sum over exactly the broadcast dimensions.
    """
    while grad.ndim > len(shape):
        grad = grad.sum(0)
    for i, n in enumerate(shape):
        if n == 1 and grad.shape[i] != 1:
            grad = grad.sum(i, keepdim=True)
    return grad


class Tensor:
    """A torch tensor that remembers how it was computed (our own graph; torch.autograd is not used)."""

    def __init__(self, data, _children=(), _op="", dtype=torch.float64):
        # dtype=None keeps a tensor's own dtype (used for results of our ops)
        self.data = torch.as_tensor(data, dtype=dtype).detach()
        self.grad = None  # a torch tensor of the same shape after backward(); None means zero
        self._backward = lambda: None
        self._prev = tuple(_children)
        self._op = _op

    def __repr__(self):
        return f"Tensor({self.data}, op={self._op!r})"

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)

    def item(self):
        return self.data.item()

    def _lift(self, other):
        """Numbers and plain tensors become constant leaves (they get a .grad nobody reads)."""
        return other if isinstance(other, Tensor) else Tensor(other, dtype=self.data.dtype)

    def _new(self, data, children, op, backward):
        out = Tensor(data, children, op, dtype=None)
        out._backward = lambda: backward(out.grad)
        return out

    def _accumulate(self, g):
        # Sum, never overwrite: a tensor used by several operations receives a gradient from each.
        self.grad = g if self.grad is None else self.grad + g

    def zero_grad(self):
        self.grad = None

    # -- elementwise binary operations (with broadcasting) --------------------------------------

    def __add__(self, other):
        other = self._lift(other)

        def backward(g):
            self._accumulate(_unbroadcast(g, self.shape))
            other._accumulate(_unbroadcast(g, other.shape))

        return self._new(self.data + other.data, (self, other), "+", backward)

    def __mul__(self, other):
        other = self._lift(other)

        def backward(g):
            self._accumulate(_unbroadcast(g * other.data, self.shape))
            other._accumulate(_unbroadcast(g * self.data, other.shape))

        return self._new(self.data * other.data, (self, other), "*", backward)

    def __truediv__(self, other):
        other = self._lift(other)

        def backward(g):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
            self._accumulate(_unbroadcast(g / other.data, self.shape))
            other._accumulate(_unbroadcast(-g * self.data / other.data**2, other.shape))

        return self._new(self.data / other.data, (self, other), "/", backward)

    def __pow__(self, k):
        assert isinstance(k, (int, float)), "only constant exponents"
        return self._new(self.data**k, (self,), f"**{k}",
                         lambda g: self._accumulate(g * k * self.data ** (k - 1)))

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __radd__(self, other):
        return self + other

    def __rsub__(self, other):
        return (-self) + other

    def __rmul__(self, other):
        return self * other

    def __rtruediv__(self, other):
        return self._lift(other) / self

    # -- matrix product (02-2.a: for Y = XW, dC/dX = dC/dY W^T and dC/dW = X^T dC/dY) ---------

    def __matmul__(self, other):
        other = self._lift(other)
        assert self.ndim >= 2 and other.ndim >= 2, "matmul of matrices (or batches of matrices)"

        def backward(g):  # leading batch dimensions may broadcast too, hence _unbroadcast
            self._accumulate(_unbroadcast(g @ other.data.transpose(-2, -1), self.shape))
            other._accumulate(_unbroadcast(self.data.transpose(-2, -1) @ g, other.shape))

        return self._new(self.data @ other.data, (self, other), "@", backward)

    # -- elementwise functions: out = f(x), x.grad += out.grad * f'(x) ---------------------------

    def _unary(self, y, dy_dx, op):
        return self._new(y, (self,), op, lambda g: self._accumulate(g * dy_dx))

    def exp(self):
        y = self.data.exp()
        return self._unary(y, y, "exp")

    def log(self):
        return self._unary(self.data.log(), 1.0 / self.data, "log")

    def tanh(self):
        y = self.data.tanh()
        return self._unary(y, 1.0 - y * y, "tanh")

    def relu(self):
        return self._unary(self.data.clamp(min=0), (self.data > 0).to(self.data.dtype), "relu")

    def sigmoid(self):
        y = self.data.sigmoid()
        return self._unary(y, y * (1.0 - y), "sigmoid")

    # -- reductions: the output gradient is copied back to every element that was summed ---------

    def sum(self, dim=None, keepdim=False):
        dims = tuple(range(self.ndim)) if dim is None else (dim,) if isinstance(dim, int) else tuple(dim)
        dims = sorted(d % self.ndim for d in dims) if self.ndim else []

        def backward(g):
            if not keepdim:  # put the summed-away dimensions back as size 1 ...
                for d in dims:
                    g = g.unsqueeze(d)
            self._accumulate(g.expand(self.shape).contiguous())  # ... and copy: d(sum)/d(each term) = 1

        return self._new(self.data.sum(dim=dims, keepdim=keepdim) if dims else self.data.clone(),
                         (self,), "sum", backward)

    def mean(self, dim=None, keepdim=False):
        out = self.sum(dim, keepdim)
        return out * (out.data.numel() / self.data.numel())  # a sum times a constant

    # -- moving numbers around: the gradient is moved back the same way --------------------------

    def reshape(self, *shape):
        return self._new(self.data.reshape(*shape), (self,), "reshape",
                         lambda g: self._accumulate(g.reshape(self.shape)))

    def transpose(self, d0, d1):
        return self._new(self.data.transpose(d0, d1), (self,), "transpose",
                         lambda g: self._accumulate(g.transpose(d0, d1)))

    @property
    def T(self):  # for matrices
        return self.transpose(0, 1)

    def __getitem__(self, index):
        """Any torch index: ints, slices, integer tensors (e.g. ``logp[torch.arange(N), targets]``)."""
        # Which flat positions of `self` did the index pick? Index a tensor of positions the same way.
        picked = torch.arange(self.data.numel()).reshape(self.shape)[index].reshape(-1)

        def backward(g):  # scatter-add, so a position picked twice gets both gradients
            grad = torch.zeros(self.data.numel(), dtype=g.dtype)
            self._accumulate(grad.index_add_(0, picked, g.reshape(-1)).reshape(self.shape))

        return self._new(self.data[index], (self,), "getitem", backward)

    # -- log-softmax, one operation (02-2.b) ----------------------------------------------------

    def log_softmax(self, dim=-1):
        """x_i - log sum_j exp(x_j). One fused op: composing exp, sum and log would overflow for large
        logits, while subtracting the max first (torch.logsumexp) keeps it finite. Its backward is
        d/dx_j (x_i - lse) = delta_ij - softmax_j, so grad_x = g - softmax * sum(g)."""
        y = self.data - self.data.logsumexp(dim, keepdim=True)
        return self._new(y, (self,), "log_softmax",
                         lambda g: self._accumulate(g - y.exp() * g.sum(dim, keepdim=True)))

    # -- backprop ---------------------------------------------------------------------------------

    def backward(self, grad=None):
        """Add d(self)/d(node) to ``.grad`` of every node below. For a non-scalar ``self``, pass ``grad``
        (same shape): then the gradients are of ``(self * grad).sum()`` -- a vector-Jacobian product."""
        if grad is None:
            assert self.data.numel() == 1, "backward() without grad needs a single number"
            grad = torch.ones_like(self.data)
        self.grad = torch.as_tensor(grad, dtype=self.data.dtype).expand(self.shape).clone()
        for node in reversed(topological_order(self)):
            if node.grad is not None:
                node._backward()


def cross_entropy(logits, targets):
    """Mean over the batch of -log p(target): log-softmax, pick each row's target entry, average."""
    logp = logits.log_softmax(dim=1)
    return -logp[torch.arange(logp.shape[0]), targets].mean()


# ------------------------------------------------------------------------------------------------
# Part 3. Enough to train a network.
# ------------------------------------------------------------------------------------------------


class Linear:
    """y = x W^T + b, initialised like torch.nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    def __init__(self, fan_in, fan_out, generator=None, dtype=torch.float64):
        bound = 1.0 / math.sqrt(fan_in)

        def uniform(*shape):
            return Tensor((torch.rand(*shape, generator=generator, dtype=dtype) * 2 - 1) * bound,
                          dtype=dtype)

        self.weight, self.bias = uniform(fan_out, fan_in), uniform(fan_out)

    def __call__(self, x):
        return x @ self.weight.T + self.bias  # the bias broadcasts over the batch

    def parameters(self):
        return [self.weight, self.bias]


class MLP:
    """Linear layers of the given sizes with an activation (a Tensor method name) between them."""

    def __init__(self, sizes, activation="relu", generator=None, dtype=torch.float64):
        self.layers = [Linear(a, b, generator, dtype) for a, b in zip(sizes[:-1], sizes[1:])]
        self.activation = activation

    def __call__(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x, dtype=self.layers[0].weight.data.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.activation and i < len(self.layers) - 1:
                x = getattr(x, self.activation)()
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()


def sgd_step(params, lr, weight_decay=0.0):
    """w <- w - lr (dL/dw + weight_decay w). New tensors, so an old graph is never changed in place."""
    for p in params:
        if p.grad is not None:
            p.data = p.data - lr * (p.grad + weight_decay * p.data)


class Adam:
    """Adam (Kingma & Ba 2015): a step of size ~lr along the sign of a running mean of the gradient,
    scaled down where the gradient has been large (running mean of its square)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params, self.lr, self.betas, self.eps, self.wd = list(params), lr, betas, eps, weight_decay
        self.m = [torch.zeros_like(p.data) for p in self.params]
        self.v = [torch.zeros_like(p.data) for p in self.params]
        self.t = 0

    def step(self):
        (b1, b2), self.t = self.betas, self.t + 1
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad + self.wd * p.data
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            m_hat, v_hat = self.m[i] / (1 - b1**self.t), self.v[i] / (1 - b2**self.t)  # bias correction
            p.data = p.data - self.lr * m_hat / (v_hat.sqrt() + self.eps)

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()
