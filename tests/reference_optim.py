"""Float64 NumPy truth for nnkernels.optim, written from the published update rules (PyTorch's
torch.optim documentation for the torch optimizers, Chen et al. 2023 for Lion).

``Reference(name, **hyper)`` mirrors one optimizer with the same options as the nnkernels class;
``step(params, grads)`` advances float64 copies it owns. Defaults are the classes' own
(``nnkernels.optim.X.defaults``); test_optim.py checks them against PyTorch's.
"""

from __future__ import annotations

import math

import numpy as np

from nnkernels import optim

COMMON = optim._COMMON  # the options every optimizer takes, with their defaults


class Reference:
    def __init__(self, name: str, params, **hyper):
        self.name = name
        self.h = {**COMMON, **getattr(optim, name).defaults, **hyper}
        self.p = [np.array(x, dtype=np.float64) for x in params]
        self.s = [{} for _ in self.p]
        self.t = 0
        self.mu_product = 1.0

    def step(self, grads):
        h = self.h
        gs = [np.array(g, dtype=np.float64) for g in grads]
        if h["clip_value"] is not None:
            gs = [np.clip(g, -h["clip_value"], h["clip_value"]) for g in gs]
        if h["max_grad_norm"] is not None:
            norm = math.sqrt(sum(float(np.sum(g * g)) for g in gs))
            coef = min(1.0, h["max_grad_norm"] / (norm + 1e-6))
            gs = [g * coef for g in gs]
        self.t += 1
        if self.name == "NAdam":
            b1, md = h["betas"][0], h["momentum_decay"]
            self.mu = b1 * (1 - 0.5 * 0.96 ** (self.t * md))
            self.mu_next = b1 * (1 - 0.5 * 0.96 ** ((self.t + 1) * md))
            self.mu_product *= self.mu
        for i, g in enumerate(gs):
            self.p[i] = self._one(self.p[i], g, self.s[i])
        return self.p

    def _one(self, p, g, s):
        h, t, lr = self.h, self.t, self.h["lr"]
        if h["maximize"]:
            g = -g
        wd = h["weight_decay"]
        if wd and not h["decoupled_weight_decay"]:
            g = g + wd * p
        if wd and h["decoupled_weight_decay"]:
            p = p * (1 - lr * wd)
        p = getattr(self, "_" + self.name.lower())(p, g, s, h, t, lr)
        if h["l1"]:
            p = np.sign(p) * np.maximum(np.abs(p) - lr * h["l1"], 0.0)
        return p

    def _moments(self, g, s, h):
        b1, b2 = h["betas"]
        m = s.get("m", np.zeros_like(g)) * b1 + (1 - b1) * g
        v = s.get("v", np.zeros_like(g)) * b2 + (1 - b2) * g * g
        s["m"], s["v"] = m, v
        return m, v, b1, b2

    def _sgd(self, p, g, s, h, t, lr):
        mom = h["momentum"]
        if mom:
            buf = g.copy() if "buf" not in s else mom * s["buf"] + (1 - h["dampening"]) * g
            s["buf"] = buf
            g = g + mom * buf if h["nesterov"] else buf
        return p - lr * g

    def _adagrad(self, p, g, s, h, t, lr):
        acc = s.get("sum", np.full_like(g, h["initial_accumulator_value"])) + g * g
        s["sum"] = acc
        return p - lr / (1 + (t - 1) * h["lr_decay"]) * g / (np.sqrt(acc) + h["eps"])

    def _rmsprop(self, p, g, s, h, t, lr):
        a = h["alpha"]
        v = a * s.get("v", np.zeros_like(g)) + (1 - a) * g * g
        s["v"] = v
        if h["centered"]:
            ga = a * s.get("ga", np.zeros_like(g)) + (1 - a) * g
            s["ga"] = ga
            v = v - ga * ga
        step = g / (np.sqrt(v) + h["eps"])
        if h["momentum"]:
            s["buf"] = h["momentum"] * s.get("buf", np.zeros_like(g)) + step
            step = s["buf"]
        return p - lr * step

    def _adam(self, p, g, s, h, t, lr):
        m, v, b1, b2 = self._moments(g, s, h)
        if h["amsgrad"]:
            v = s["vmax"] = np.maximum(s.get("vmax", np.zeros_like(g)), v)
        denom = np.sqrt(v / (1 - b2**t)) + h["eps"]
        return p - lr / (1 - b1**t) * m / denom

    _adamw = _adam

    def _adamax(self, p, g, s, h, t, lr):
        b1, b2 = h["betas"]
        m = s["m"] = b1 * s.get("m", np.zeros_like(g)) + (1 - b1) * g
        u = s["u"] = np.maximum(b2 * s.get("u", np.zeros_like(g)), np.abs(g) + h["eps"])
        return p - lr / (1 - b1**t) * m / u

    def _adadelta(self, p, g, s, h, t, lr):
        rho, eps = h["rho"], h["eps"]
        v = s["v"] = rho * s.get("v", np.zeros_like(g)) + (1 - rho) * g * g
        acc = s.get("acc", np.zeros_like(g))
        d = np.sqrt(acc + eps) / np.sqrt(v + eps) * g
        s["acc"] = rho * acc + (1 - rho) * d * d
        return p - lr * d

    def _nadam(self, p, g, s, h, t, lr):
        m, v, b1, b2 = self._moments(g, s, h)
        denom = np.sqrt(v / (1 - b2**t)) + h["eps"]
        prod, prod_next = self.mu_product, self.mu_product * self.mu_next
        return (
            p
            - lr * (1 - self.mu) / (1 - prod) * g / denom
            - lr * self.mu_next / (1 - prod_next) * m / denom
        )

    def _radam(self, p, g, s, h, t, lr):
        m, v, b1, b2 = self._moments(g, s, h)
        mhat = m / (1 - b1**t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho_t <= 5:
            return p - lr * mhat
        r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        return p - lr * r * mhat * math.sqrt(1 - b2**t) / (np.sqrt(v) + h["eps"])

    def _lion(self, p, g, s, h, t, lr):
        b1, b2 = h["betas"]
        m = s.get("m", np.zeros_like(g))
        p = p - lr * np.sign(b1 * m + (1 - b1) * g)
        s["m"] = b2 * m + (1 - b2) * g
        return p
