// One struct per optimizer: the per-element update. Each is built once per work piece from the
// step's hyperparameters (OptimHyper, dispatch.hpp), turning the step-dependent scalars (bias
// corrections, decayed rates) into constants of the element type, and maps (p, g, state) to the
// new p, updating its state slots in place. Included only by kernel sources, inside the per-ISA
// namespace; the loops over arrays live in cpp/src/optimizers.cpp.
//
// Formulas follow PyTorch's single-tensor implementations (torch.optim, 2.x), operand order
// included where it changes the rounding. The parts every optimizer shares (maximize, clipping,
// coupled and decoupled weight decay, the L1 proximal step) are applied around these structs by
// the loop (Common below), so each struct holds only its own rule. NaN in a gradient or state
// gives NaN out (maxima keep NaN; sign(NaN) is NaN).
#pragma once
#include <algorithm>
#include <cmath>

#include "nnkernels/dispatch.hpp"
#include "nnkernels/vecmath.hpp"

namespace nnk {
namespace NNK_ISA {

// The state arrays of one parameter, in the order the Python classes name them.
template <class T>
struct Slots {
  T *a, *b, *c;
};

// max(a, b), NaN if either is NaN (torch.maximum / amax).
template <class T>
NNK_INLINE T max_nan(T a, T b) {
  return (a > b || a != a) ? a : b;
}

// Shared by every optimizer: g' = scale clamp(g, -clip, clip) + wd p (wd only when nonzero, so an
// infinite p does not turn g into NaN); p' = decay p before the update; after it, soft
// thresholding by l1 (the proximal step of lr * l1 * |p|). Conditions are compares of T, never
// bool members: a bool read in the loop keeps GCC from vectorizing it.
template <class T>
struct Common {
  T scale, clip, wd, decay, l1;
  explicit Common(const OptimHyper& h)
      : scale(T(h.grad_scale)),
        clip(T(h.clip_value)),
        wd(T(h.weight_decay)),
        decay(T(h.decay)),
        l1(T(std::max(h.l1, 0.0))) {}
  NNK_INLINE T grad(T g, T p) const {
    g = scale * vm::clamp_keep_nan(g, -clip, clip);
    return wd != T(0) ? g + wd * p : g;
  }
  NNK_INLINE T prox(T p) const {
    const T shrunk = std::copysign(max_nan(std::fabs(p) - l1, T(0)), p);
    return l1 > T(0) ? shrunk : p;
  }
};

// SGD: buf = momentum buf + (1 - dampening) g (buf = g on the first step); the step direction is
// g + momentum buf (Nesterov) or buf. Slot a: momentum_buffer.
template <class T, bool Momentum, bool Nesterov>
struct Sgd {
  T lr, keep, take, momentum;
  explicit Sgd(const OptimHyper& h)
      : lr(T(h.lr)),
        keep(T(h.step <= 1 ? 0 : h.momentum)),
        take(T(h.step <= 1 ? 1 : 1 - h.dampening)),
        momentum(T(h.momentum)) {}
  NNK_INLINE T operator()(T p, T g, Slots<T> s, index_t i) const {
    if constexpr (Momentum) {
      // keep = 0 on the first step: buf = g exactly, whatever the zero-initialized slot holds.
      const T buf = keep == T(0) ? take * g : keep * s.a[i] + take * g;
      s.a[i] = buf;
      g = Nesterov ? g + momentum * buf : buf;
    }
    return p - lr * g;
  }
};

// Adagrad: sum += g^2; p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps). Slot a: sum.
template <class T>
struct Adagrad {
  T clr, eps;
  explicit Adagrad(const OptimHyper& h)
      : clr(T(h.lr / (1 + (h.step - 1) * h.lr_decay))), eps(T(h.eps)) {}
  NNK_INLINE T operator()(T p, T g, Slots<T> s, index_t i) const {
    const T sum = s.a[i] + g * g;
    s.a[i] = sum;
    return p - clr * (g / (std::sqrt(sum) + eps));
  }
};

// RMSprop: v = alpha v + (1 - alpha) g^2; centered: ga = ga + (1 - alpha)(g - ga), denominator
// sqrt(v - ga^2) + eps; momentum: buf = momentum buf + g / denom, p -= lr buf.
// Slots: a square_avg, b momentum_buffer (Momentum), c grad_avg (Centered).
template <class T, bool Centered, bool Momentum>
struct Rmsprop {
  T lr, alpha, one_minus_alpha, eps, momentum;
  explicit Rmsprop(const OptimHyper& h)
      : lr(T(h.lr)),
        alpha(T(h.beta2)),
        one_minus_alpha(T(1 - h.beta2)),
        eps(T(h.eps)),
        momentum(T(h.momentum)) {}
  NNK_INLINE T operator()(T p, T g, Slots<T> s, index_t i) const {
    const T v = alpha * s.a[i] + one_minus_alpha * (g * g);
    s.a[i] = v;
    T var = v;
    if constexpr (Centered) {
      const T ga = s.c[i] + one_minus_alpha * (g - s.c[i]);
      s.c[i] = ga;
      var = v - ga * ga;
    }
    const T denom = std::sqrt(var) + eps;
    if constexpr (Momentum) {
      const T buf = momentum * s.b[i] + g / denom;
      s.b[i] = buf;
      return p - lr * buf;
    }
    return p - lr * (g / denom);
  }
};

// Adam's two moments, shared by Adam, NAdam and RAdam: m += (1 - b1)(g - m) (PyTorch's lerp);
// v = b2 v + (1 - b2) g^2; stored in slots a and b.
template <class T>
struct Moments {
  T one_minus_b1, b2, one_minus_b2;
  explicit Moments(const OptimHyper& h)
      : one_minus_b1(T(1 - h.beta1)), b2(T(h.beta2)), one_minus_b2(T(1 - h.beta2)) {}
  NNK_INLINE void update(T g, Slots<T> s, index_t i, T& m, T& v) const {
    m = s.a[i] + one_minus_b1 * (g - s.a[i]);
    v = b2 * s.b[i] + one_minus_b2 * (g * g);
    s.a[i] = m;
    s.b[i] = v;
  }
};

// Adam (AdamW is Adam with decoupled decay, applied by Common): m += (1 - b1)(g - m);
// v = b2 v + (1 - b2) g^2; vmax = max(vmax, v) (AMSGrad);
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), the division by sqrt(1 - b2^t) as
// a product with its reciprocal (divisions and square roots, not memory, bound this loop in cache).
// Slots: a exp_avg, b exp_avg_sq, c max_exp_avg_sq (Amsgrad).
template <class T, bool Amsgrad>
struct Adam : Moments<T> {
  T step_size, inv_bc2_sqrt, eps;
  explicit Adam(const OptimHyper& h)
      : Moments<T>(h),
        step_size(T(h.lr / (1 - std::pow(h.beta1, h.step)))),
        inv_bc2_sqrt(T(1 / std::sqrt(1 - std::pow(h.beta2, h.step)))),
        eps(T(h.eps)) {}
  NNK_INLINE T operator()(T p, T g, Slots<T> s, index_t i) const {
    T m, v;
    this->update(g, s, i, m, v);
    T vhat = v;
    if constexpr (Amsgrad) {
      vhat = max_nan(s.c[i], v);
      s.c[i] = vhat;
    }
    return p - step_size * (m / (std::sqrt(vhat) * inv_bc2_sqrt + eps));
  }
};

// Adamax: m += (1 - b1)(g - m); u = max(b2 u, |g| + eps); p -= lr / (1 - b1^t) * m / u.
// Slots: a exp_avg, b exp_inf.
template <class T>
struct Adamax {
  T one_minus_b1, b2, eps, clr;
  explicit Adamax(const OptimHyper& h)
      : one_minus_b1(T(1 - h.beta1)),
        b2(T(h.beta2)),
        eps(T(h.eps)),
        clr(T(h.lr / (1 - std::pow(h.beta1, h.step)))) {}
  NNK_INLINE T operator()(T p, T g, Slots<T> s, index_t i) const {
    const T m = s.a[i] + one_minus_b1 * (g - s.a[i]);
    const T u = max_nan(b2 * s.b[i], std::fabs(g) + eps);
    s.a[i] = m;
    s.b[i] = u;
    return p - clr * (m / u);
  }
};

// Adadelta: v = rho v + (1 - rho) g^2; d = sqrt((acc + eps) / (v + eps)) * g (one root, not two);
// acc = rho acc + (1 - rho) d^2; p -= lr d. Slots: a square_avg, b acc_delta.
template <class T>
struct Adadelta {
  T lr, rho, one_minus_rho, eps;
  explicit Adadelta(const OptimHyper& h)
      : lr(T(h.lr)), rho(T(h.beta2)), one_minus_rho(T(1 - h.beta2)), eps(T(h.eps)) {}
  NNK_INLINE T operator()(T p, T g, Slots<T> s, index_t i) const {
    const T v = rho * s.a[i] + one_minus_rho * (g * g);
    const T d = std::sqrt((s.b[i] + eps) / (v + eps)) * g;
    s.a[i] = v;
    s.b[i] = rho * s.b[i] + one_minus_rho * (d * d);
    return p - lr * d;
  }
};

// NAdam: Adam's moments with a Nesterov step; mu, mu_next and the running products of mu come
// from the caller (they are the optimizer's scalar state).
// p -= (lr (1 - mu) / (1 - prod) g + lr mu_next / (1 - prod_next) m) / denom (one division),
// denom = sqrt(v / (1 - b2^t)) + eps. Slots: a exp_avg, b exp_avg_sq.
template <class T>
struct Nadam : Moments<T> {
  T inv_bc2, eps, cg, cm;
  explicit Nadam(const OptimHyper& h)
      : Moments<T>(h),
        inv_bc2(T(1 / (1 - std::pow(h.beta2, h.step)))),
        eps(T(h.eps)),
        cg(T(h.lr * (1 - h.mu) / (1 - h.mu_product))),
        cm(T(h.lr * h.mu_next / (1 - h.mu_product_next))) {}
  NNK_INLINE T operator()(T p, T g, Slots<T> s, index_t i) const {
    T m, v;
    this->update(g, s, i, m, v);
    const T denom = std::sqrt(v * inv_bc2) + eps;
    return p - (cg * g + cm * m) / denom;
  }
};

// RAdam: Adam's moments; while the variance of the adaptive rate is tractable (rho_t > 5),
// p -= lr r sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps) with the rectification r;
// before that, p -= lr / (1 - b1^t) * m. Slots: a exp_avg, b exp_avg_sq.
template <class T>
struct Radam : Moments<T> {
  T eps, c_adaptive, c_plain, adaptive;  // adaptive: 1 or 0 (see Common on bools)
  explicit Radam(const OptimHyper& h) : Moments<T>(h), eps(T(h.eps)) {
    const double bc1 = 1 - std::pow(h.beta1, h.step), b2t = std::pow(h.beta2, h.step);
    const double rho_inf = 2 / (1 - h.beta2) - 1;
    const double rho_t = rho_inf - 2 * h.step * b2t / (1 - b2t);
    adaptive = T(rho_t > 5);
    const double r = rho_t > 5 ? std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                                           ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                               : 0.0;
    c_adaptive = T(h.lr * r * std::sqrt(1 - b2t) / bc1);
    c_plain = T(h.lr / bc1);
  }
  NNK_INLINE T operator()(T p, T g, Slots<T> s, index_t i) const {
    T m, v;
    this->update(g, s, i, m, v);
    return adaptive != T(0) ? p - c_adaptive * (m / (std::sqrt(v) + eps)) : p - c_plain * m;
  }
};

// Lion (Chen et al. 2023): p -= lr sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g.
// Its weight decay is decoupled (Common). Slot a: exp_avg.
template <class T>
struct Lion {
  T lr, b1, one_minus_b1, b2, one_minus_b2;
  explicit Lion(const OptimHyper& h)
      : lr(T(h.lr)),
        b1(T(h.beta1)),
        one_minus_b1(T(1 - h.beta1)),
        b2(T(h.beta2)),
        one_minus_b2(T(1 - h.beta2)) {}
  NNK_INLINE T operator()(T p, T g, Slots<T> s, index_t i) const {
    const T c = b1 * s.a[i] + one_minus_b1 * g;
    const T sign = vm::keep_nan(c, c > T(0) ? T(1) : (c < T(0) ? T(-1) : T(0)));
    s.a[i] = b2 * s.a[i] + one_minus_b2 * g;
    return p - lr * sign;
  }
};

}  // namespace NNK_ISA
}  // namespace nnk
