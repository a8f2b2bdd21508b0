// One struct per loss. Pointwise losses: `T operator()(T p, T t, T& g)` returns the value at one
// element and stores dL/dp in g (a template over V, scalar or simd::Vec<T>, where the loss
// runs on explicit vectors: log_cosh, BCE with logits). Row-wise losses: `double row(r, g,
// gscale)` returns the value of row r and, when g is not null, writes gscale * dL/dpred for the
// row. Included only by kernel sources, inside the per-ISA namespace; the loops live in
// cpp/src/losses.cpp.
//
// Numerics: stable forms by construction (log-sum-exp with the row max, BCE with logits via
// softplus, log-cosh without cosh), NaN in -> NaN out. Per-element values are
// computed in T; sums over rows and over the whole array accumulate in double.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "nnkernels/dispatch.hpp"
#include "nnkernels/parallel.hpp"
#include "nnkernels/vecmath.hpp"

namespace nnk {
namespace NNK_ISA {
namespace loss {

template <class T>
NNK_INLINE T sign(T d) {
  return d > T(0) ? T(1) : (d < T(0) ? T(-1) : vm::keep_nan(d, T(0)));
}

// log(x) for any x: k ln 2 + log1p(m - 1) with x = 2^k m, m in [sqrt(1/2), sqrt(2)) (m - 1 is
// exact). Subnormals are scaled first. <= 2.5 ulp.
template <class T>
NNK_INLINE T log(T x) {
  using F = vm::Traits<T>;
  using Bits = typename F::Bits;
  using SBits = std::make_signed_t<Bits>;
  constexpr int kSub = sizeof(T) == 4 ? 24 : 54;
  const bool sub = x < std::numeric_limits<T>::min();
  const T xs = sub ? x * vm::pow2<T>(Bits(kSub)) : x;
  const Bits sqrt_half = vm::to_bits(T(0.70710678118654752440));
  const Bits b = vm::to_bits(xs) + (vm::to_bits(T(1)) - sqrt_half);
  const SBits k = static_cast<SBits>(b >> F::kMantissa) - static_cast<SBits>(F::kBias) -
                  (sub ? SBits(kSub) : SBits(0));
  const T m = vm::from_bits<T>((b & ((Bits(1) << F::kMantissa) - 1)) + sqrt_half);
  const T kf = static_cast<T>(k);
  const T r = kf * F::kLn2Hi + (vm::log1p<T, true>(m - T(1)) + kf * F::kLn2Lo);
  const T inf = std::numeric_limits<T>::infinity();
  const T special = x == inf ? inf : (x == T(0) ? -inf : std::numeric_limits<T>::quiet_NaN());
  return x > T(0) && x < inf ? r : vm::keep_nan(x, special);
}

// ---- pointwise losses; d = pred - target ----

template <class T>
struct Mse {  // (p - t)^2
  explicit Mse(const Params&) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    const T d = p - t;
    g = T(2) * d;
    return d * d;
  }
};

template <class T>
struct Mae {  // |p - t|; derivative sign(p - t), 0 at 0
  explicit Mae(const Params&) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    const T d = p - t;
    g = sign(d);
    return std::fabs(d);
  }
};

template <class T>
struct Mbe {  // t - p (mean bias error: positive when predictions are low)
  explicit Mbe(const Params&) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    const T d = t - p;
    g = vm::keep_nan(d, T(-1));
    return d;
  }
};

template <class T>
struct Huber {  // |d| <= delta: d^2 / 2, else delta (|d| - delta / 2)
  T delta;
  explicit Huber(const Params& p) : delta(T(p.v[0])) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    const T d = p - t, a = std::fabs(d);
    const bool in = a <= delta;
    g = in ? d : delta * sign(d);
    return in ? T(0.5) * d * d : delta * (a - T(0.5) * delta);
  }
};

template <class T>
struct SmoothL1 {  // |d| < beta: d^2 / (2 beta), else |d| - beta / 2
  T beta;
  explicit SmoothL1(const Params& p) : beta(T(p.v[0])) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    const T d = p - t, a = std::fabs(d);
    const bool in = a < beta;
    g = in ? d / beta : sign(d);
    return in ? T(0.5) * d * d / beta : a - T(0.5) * beta;
  }
};

// log(cosh d) = u p(u), u = d^2, below |d| = 1 (the large-|d| form cancels there), and
// |d| - ln 2 + log1p(z) above it (no overflow), z = e^-2|d| <= e^-2: log1p as z q(z) on that
// short interval (cpp/tools/fit_log.py). tanh|d| = -e / (2 + e), e = expm1(-2|d|); e and z
// come from one reduction of -2|d|.
template <class T>
struct LogCoshPoly;
template <>
struct LogCoshPoly<float> {
  static constexpr float c[8] = {-2.5617303098313049e-5f,  0.00017619862671795864f,
                                 -0.00067940991220339233f, 0.0021612918980746728f,
                                 -0.0067397994817242212f,  0.022221464489357072f,
                                 -0.083333297760920064f,   0.49999999972287001f};
};
template <>
struct LogCoshPoly<double> {
  static constexpr double c[15] = {
      7.1494266873199219e-9,   -7.2740452449554279e-8, 3.7585381118136593e-7,
      -1.3729456929291544e-6,  4.1874377391493525e-6,  -1.1823332233363504e-5,
      3.2719392875797913e-5,   -9.0970021462192131e-5, 0.00025657598653309681,
      -0.00073860222043210769, 0.002186948775200792,   -0.0067460317410084557,
      0.022222222222053066,    -0.083333333333331077,  0.49999999999999999};
};
template <class T>
struct LogCoshTailPoly;
template <>
struct LogCoshTailPoly<float> {
  static constexpr float c[5] = {0.1527626873236855f, -0.24472727146130062f, 0.33308517132578132f,
                                 -0.49999585212207446f, 0.9999999887987532f};
};
template <>
struct LogCoshTailPoly<double> {
  static constexpr double c[11] = {
      0.047411558351055566, -0.087728103343079859, 0.10902255928228051, -0.12477323238003318,
      0.14284110830127549,  -0.16666593275908788,  0.19999997895273075, -0.24999999964663686,
      0.33333333333028266,  -0.49999999999998971,  0.99999999999999999};
};
template <class T>
struct LogCosh {
  explicit LogCosh(const Params&) {}
  template <class V>
  NNK_INLINE V operator()(V p, V t, V& g) const {
    const V d = p - t, a = vm::abs(d);
    // Beyond kExpm1Lo, e = -1 and z (from the clamped x) is below a's rounding.
    const vm::Reduced<V> red = vm::reduce_exp(vm::at_least(T(-2) * a, vm::Traits<T>::kExpm1Lo));
    const V e = vm::expm1_of(red);
    g = vm::copysign(e / (T(2) + e), d);  // copysign drops the sign of -tanh|d|
    const V u = d * d;
    const V z = vm::scale_reduced<V, vm::Traits<T>::kScaleOffset>(red.expm1_r() + T(1), red);
    const V large = (a - T(0.69314718055994530942)) + z * vm::horner(z, LogCoshTailPoly<T>::c);
    return a < T(1) ? u * vm::horner(u, LogCoshPoly<T>::c) : large;
  }
};

template <class T>
struct Mape {  // 100 |d| / max(|t|, eps)
  T eps;
  explicit Mape(const Params& p) : eps(T(p.v[0])) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    const T at = std::fabs(t);
    const T inv = T(100) / (at > eps ? at : vm::keep_nan(at, eps));
    const T d = p - t;
    g = sign(d) * inv;
    return std::fabs(d) * inv;
  }
};

template <class T>
struct Msle {  // (log1p(p) - log1p(t))^2
  explicit Msle(const Params&) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    const T d = vm::log1p(p) - vm::log1p(t);
    g = T(2) * d / (T(1) + p);
    return d * d;
  }
};

// PyTorch's poisson_nll_loss: log_input: e^p - t p; else p - t log(p + eps); full adds the
// Stirling term t log t - t + log(2 pi t) / 2 where t > 1 (no gradient).
template <class T>
struct Poisson {
  bool log_input, full;
  T eps;
  explicit Poisson(const Params& p) : log_input(p.v[0] != 0), full(p.v[1] != 0), eps(T(p.v[2])) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    const T ep = vm::exp(p);
    const T lp = log(p + eps);
    g = log_input ? ep - t : T(1) - t / (p + eps);
    const T v = log_input ? ep - t * p : p - t * lp;
    const T lt = log(t);
    const T stirling = t * lt - t + T(0.5) * log(T(6.28318530717958647693) * t);
    return full ? v + (t > T(1) ? stirling : T(0)) : v;
  }
};

// PyTorch's binary_cross_entropy on probabilities: logs clamped at -100; gradient
// (p - t) / max(p (1 - p), 1e-12).
template <class T>
struct BinaryCrossEntropy {
  explicit BinaryCrossEntropy(const Params&) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    T lp = log(p), lq = vm::log1p(-p);
    lp = lp < T(-100) ? T(-100) : lp;
    lq = lq < T(-100) ? T(-100) : lq;
    const T pq = p * (T(1) - p);
    g = (p - t) / (pq > T(1e-12) ? pq : vm::keep_nan(pq, T(1e-12)));
    return -(t * lp + (T(1) - t) * lq);
  }
};

// pos_weight t softplus(-x) + (1 - t) softplus(x) = c x + lw log1p(e), e = e^-|x|,
// lw = 1 + (pos_weight - 1) t, c = 1 - t for x >= 0 and -pos_weight t below: both terms >= 0
// for t in [0, 1] (nothing cancels, and an infinite x gives the limit where c is not 0). Its
// derivative (1 - t) sigma(x) - pos_weight t sigma(-x) = s (a e + c), s = 1 / (1 + e), with a
// the other of the two coefficients (sigma of the side that is not s is e s): it cancels only
// where it is 0 ((1 - t) - lw sigma(-x) lost 14 bits at x = -10, t = 3e-4). A NaN x makes e
// NaN (the exp's clamp keeps it), and with it both results. BCE with logits and focal loss.
template <class V>
struct LogitBce {
  V e, s, value, slope;
};
template <class V, class T>
NNK_INLINE LogitBce<V> logit_bce(V x, V t, T pos_weight) {
  const V e = vm::exp_nonpositive(vm::neg_abs(x));
  const V s = T(1) / (T(1) + e);
  const auto nonnegative = x >= T(0);
  const V positive_part = T(1) - t, negative_part = -pos_weight * t;
  const V c = nonnegative ? positive_part : negative_part;
  const V a = nonnegative ? negative_part : positive_part;
  const V lw = T(1) + (pos_weight - T(1)) * t;
  return {e, s, c * x + lw * vm::log1p_unit(e), s * (a * e + c)};
}

template <class T>
struct BceWithLogits {
  T pos_weight;
  explicit BceWithLogits(const Params& p) : pos_weight(T(p.v[0])) {}
  template <class V>
  NNK_INLINE V operator()(V x, V t, V& g) const {
    const LogitBce<V> b = logit_bce(x, t, pos_weight);
    g = b.slope;
    return b.value;
  }
};

template <class T>
struct Hinge {  // max(0, 1 - t p), labels t = +-1
  explicit Hinge(const Params&) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    const T m = T(1) - t * p;
    g = m > T(0) ? -t : vm::keep_nan(m, T(0));
    return m > T(0) ? m : vm::keep_nan(m, T(0));
  }
};

template <class T>
struct SquaredHinge {  // max(0, 1 - t p)^2
  explicit SquaredHinge(const Params&) {}
  NNK_INLINE T operator()(T p, T t, T& g) const {
    const T m = T(1) - t * p;
    const T h = m > T(0) ? m : vm::keep_nan(m, T(0));
    g = T(-2) * t * h;
    return h * h;
  }
};

// torchvision's sigmoid_focal_loss on logits x: alpha_t ce m^gamma, ce the BCE with logits
// t softplus(-x) + (1 - t) softplus(x), m = 1 - p_t = t sigma(-x) + (1 - t) sigma(x); alpha < 0
// disables alpha_t. ce and ce' from logit_bce, whose forms do not cancel (softplus(x) - t x
// was 0 at x = 15, t = 1 for 3.1e-7). The gradient
// m^gamma (ce' + gamma (ce / m) m'): ce / m, not ce m^(gamma - 1), which overflows for a
// confident right answer (m^-1 = inf, times 0: NaN at gamma = 0), and m' alone underflows where
// the term does not (gamma = 0.5, x = 55: 33 % off). The term is 0 where ce or m' is.
template <class T>
struct BinaryFocal {
  T gamma, alpha;
  explicit BinaryFocal(const Params& p) : gamma(T(p.v[0])), alpha(T(p.v[1])) {}
  NNK_INLINE T operator()(T x, T t, T& g) const {
    const LogitBce<T> b = logit_bce(x, t, T(1));
    const T ce = b.value, dce = b.slope, es = b.e * b.s;
    const T pos = x >= T(0) ? b.s : es, neg = x >= T(0) ? es : b.s;  // sigma(x), sigma(-x)
    const T m = t * neg + (T(1) - t) * pos;
    const T lm = log(m);
    const T mg = gamma == T(0) ? T(1) : vm::exp(gamma * lm);
    const T dm = (T(1) - T(2) * t) * pos * neg;  // m'
    const T at = alpha < T(0) ? T(1) : alpha * t + (T(1) - alpha) * (T(1) - t);
    const T gamma_term = ce == T(0) || dm == T(0) ? T(0) : gamma * (ce / m) * dm;
    g = at * mg * (dce + gamma_term);
    return at * ce * mg;
  }
};

// PyTorch's kl_div with input x = log q: t log t - t x (0 log 0 = 0), or, log_target,
// e^t (t - x).
template <class T>
struct KlDiv {
  bool log_target;
  explicit KlDiv(const Params& p) : log_target(p.v[0] != 0) {}
  NNK_INLINE T operator()(T x, T t, T& g) const {
    const T et = vm::exp(t);
    const T xlogx = t == T(0) ? T(0) : t * log(t);
    g = log_target ? -et : -t;
    return log_target ? et * (t - x) : xlogx - t * x;
  }
};

// ---- row-wise losses over (rows, classes) ----

// The row maximum, NaN if the row holds one. Short rows (a few elements) run as plain loops: a
// vector loop's set-up and horizontal reduction cost more than the row.
template <bool Short = false, class T>
T row_max(const T* x, index_t n) {
  if (!Short) return vm::max_sweep<true>(x, n);
  T m = -std::numeric_limits<T>::infinity();
  int nans = 0;
  for (index_t k = 0; k < n; ++k) {
    m = x[k] > m ? x[k] : m;
    nans += x[k] != x[k];
  }
  return nans ? std::numeric_limits<T>::quiet_NaN() : m;
}

// Where a row loop stores e^(z - m): g when the gradient is wanted, else a per-thread scratch
// row. One loop that always stores serves both calls, so the value has the same bits with and
// without the gradient: an `omp simd` reduction's order is the compiler's choice per loop, and
// a second loop without the store may be vectorized differently (it is, in sanitizer builds).
template <class T>
T* row_store(T* g, index_t C) {
  if (g) return g;
  thread_local std::vector<T> scratch;
  if (scratch.size() < static_cast<size_t>(C)) scratch.resize(static_cast<size_t>(C));
  return scratch.data();
}

template <class T>
struct RowBase {
  const RowArgs<T>& a;
  const index_t C;
  explicit RowBase(const RowArgs<T>& args) : a(args), C(args.classes) {}
  const T* pred(index_t r) const { return a.pred + r * C; }
  const T* target(index_t r) const { return a.target + r * C; }
};

// Cross-entropy from logits z (fused log-softmax), PyTorch's conventions. Label targets y:
// (1 - eps) w_y (lse - z_y) + eps/C sum_c w_c (lse - z_c); probability targets t:
// sum_c w_c t'_c (lse - z_c) with t' = (1 - eps) t + eps/C. p.v[0] = label_smoothing eps.
// Everything is relative to the row max m, so a single class gives exactly 0. The value is
// A log S - B with S = sum e^(z - m), A = sum w t', B = sum w t' (z - m).
//
// Rows come a block at a time (the kernel's block of ~16K elements): first every row's max,
// A, B, e^(z - m) and S - 1; then log S = log1p(S - 1) for the whole block in one vector loop
// (a row's own scalar log1p is a chain of dependent operations, ~50 cycles: (4096, 100) float32
// ran 1.2x slower with it); then each row's value and gradient (finish). Long rows sweep
// with vector loops (max; A and B; exp and sums, storing e^(z - m) in g or a scratch row),
// in that order, as g may be z itself. Short rows (a few classes): vector loops within a row
// cost more than they save, so the block's e^(z - m) go to a buffer, exponentiated in one
// sweep over the block, and the rest runs plain loops.
template <class T>
struct CrossEntropy : RowBase<T> {
  using RowBase<T>::RowBase;
  static constexpr index_t kShortRow = 32;
  struct Block {
    std::vector<T> e, maxima;
    std::vector<double> sums_minus_one, logs, A, B;
  };
  struct Weighted {
    double A, B;
  };

  // The row sums A and B (they read z: before g, maybe z itself, is written).
  template <bool Short>
  NNK_INLINE Weighted weighted(index_t r, T m) const {
    const RowArgs<T>& a = this->a;
    const index_t C = this->C;
    const T* z = this->pred(r);
    const T* w = a.class_weight;
    const double eps = a.p.v[0], u = eps / double(C);
    if (!a.labels) {
      const T* t = this->target(r);
      double A = 0, B = 0;
#pragma omp simd if (!Short) reduction(+ : A, B)
      for (index_t k = 0; k < C; ++k) {
        const double wt = double(w[k]) * ((1 - eps) * double(t[k]) + u);
        A += wt;
        B += wt == 0 ? 0.0 : wt * double(z[k] - m);  // a 0-weight class at -inf adds 0
      }
      return {A, B};
    }
    double W = 0, WZ = 0;
    if (eps > 0) {
#pragma omp simd if (!Short) reduction(+ : W, WZ)
      for (index_t k = 0; k < C; ++k) {
        W += double(w[k]);
        WZ += double(w[k]) * double(z[k] - m);
      }
    }
    const std::int64_t y = a.labels[r];
    const double wy = double(w[y]), zy = double(z[y]) - double(m);
    return {(1 - eps) * wy + u * W, (1 - eps) * wy * zy + u * WZ};
  }

  // Everything but finish() for rows [r0, r1); rows whose label is ignore_index are skipped
  // (the caller zeroes their gradient).
  void exps(index_t r0, index_t r1, Block& b) const {
    const index_t C = this->C, rows = r1 - r0;
    const T* z = this->pred(r0);
    const auto ignore = static_cast<std::int64_t>(this->a.p.v[2]);
    b.maxima.resize(static_cast<size_t>(rows));
    b.sums_minus_one.assign(static_cast<size_t>(rows), 0.0);
    b.logs.resize(static_cast<size_t>(rows));
    if (C < kShortRow) {
      b.e.resize(static_cast<size_t>(rows * C));
      T* e = b.e.data();
      for (index_t r = 0; r < rows; ++r) {
        const T m = row_max<true>(z + r * C, C);
        b.maxima[r] = m;
        for (index_t k = 0; k < C; ++k) e[r * C + k] = z[r * C + k] - m;
      }
#pragma omp simd
      for (index_t i = 0; i < rows * C; ++i) e[i] = vm::exp_nonpositive(e[i]);
      for (index_t r = 0; r < rows; ++r) {
        const T* er = e + r * C;
        double S = 0;
        for (index_t k = 0; k < C; ++k) S += double(er[k]);
        b.sums_minus_one[r] = vm::sum_minus_one<T, true>(S, C, [&](index_t k) { return er[k]; });
      }
    } else {
      b.A.resize(static_cast<size_t>(rows));
      b.B.resize(static_cast<size_t>(rows));
      for (index_t r = 0; r < rows; ++r) {
        if (this->a.labels && this->a.labels[r0 + r] == ignore) continue;
        const T m = row_max(z + r * C, C);
        const Weighted ab = weighted<false>(r0 + r, m);
        b.maxima[r] = m;
        b.A[r] = ab.A;
        b.B[r] = ab.B;
        T* g = this->a.grad ? this->a.grad + (r0 + r) * C : nullptr;
        T* dst = row_store(g, C);
        const index_t after = r0 + r + 1;  // not prefetched where it will be skipped
        const bool has_next =
            after < this->a.rows && !(this->a.labels && this->a.labels[after] == ignore);
        const auto next = vm::next_row(z + r * C, g, C, has_next);
        const double S = vm::exp_sum_store(z + r * C, m, dst, C, next);
        b.sums_minus_one[r] = vm::sum_minus_one<T>(S, C, [&](index_t k) { return dst[k]; });
      }
    }
    const double* s1 = b.sums_minus_one.data();
    double* logs = b.logs.data();
#pragma omp simd
    for (index_t r = 0; r < rows; ++r) logs[r] = vm::log1p(s1[r]);
  }

  // Row r (the i-th of its block): the value, and the gradient into g when not null. Long rows
  // find e^(z - m) in g already.
  NNK_INLINE double row_from(index_t r, T* g, double gs, const Block& b, index_t i) const {
    if (this->C < kShortRow)
      return finish<true>(r, g, gs, weighted<true>(r, b.maxima[i]), b.e.data() + i * this->C,
                          b.sums_minus_one[i], b.logs[i]);
    return finish<false>(r, g, gs, {b.A[i], b.B[i]}, g, b.sums_minus_one[i], b.logs[i]);
  }

  template <bool Short>
  NNK_INLINE double finish(index_t r, T* g, double gs, Weighted ab, const T* e, double s1,
                           double logS) const {
    const RowArgs<T>& a = this->a;
    const index_t C = this->C;
    const T* w = a.class_weight;
    const double eps = a.p.v[0], u = eps / double(C);
    const double value = ab.A * logS - ab.B;
    if (g) {
      const T cs = T(gs * ab.A / (1 + s1));
      if (!a.labels) {
        const T* t = this->target(r);
#pragma omp simd if (!Short)
        for (index_t k = 0; k < C; ++k)
          g[k] = cs * e[k] - T(gs * double(w[k]) * ((1 - eps) * double(t[k]) + u));
      } else if (eps > 0) {
        const T cu = T(gs * u);
#pragma omp simd if (!Short)
        for (index_t k = 0; k < C; ++k) g[k] = cs * e[k] - cu * w[k];
      } else {
#pragma omp simd if (!Short)
        for (index_t k = 0; k < C; ++k) g[k] = cs * e[k];
      }
      if (a.labels) {
        const std::int64_t y = a.labels[r];
        g[y] -= T(gs * (1 - eps) * double(w[y]));
      }
    }
    return value;
  }
};

// Negative log-likelihood of log-probabilities x: -w_y x_y.
template <class T>
struct NllLoss : RowBase<T> {
  using RowBase<T>::RowBase;
  double row(index_t r, T* g, double gs) const {
    const std::int64_t y = this->a.labels[r];
    const double wy = double(this->a.class_weight[y]);
    const double value = -wy * double(this->pred(r)[y]);  // before g (maybe pred) is written
    if (g) {
      std::fill(g, g + this->C, T(0));
      g[y] = T(-gs * wy);
    }
    return value;
  }
};

// Keras' categorical cross-entropy on probabilities p: q = p / sum(p), clipped to [eps, 1 - eps];
// -sum t'_k log q_k with t' = (1 - ls) t + ls/C (t one-hot for label targets).
// p.v[0] = eps, p.v[1] = label smoothing ls.
template <class T>
struct CategoricalCrossEntropy : RowBase<T> {
  using RowBase<T>::RowBase;
  double row(index_t r, T* g, double gs) const {
    const RowArgs<T>& a = this->a;
    const index_t C = this->C;
    const T* p = this->pred(r);
    const T* t = a.labels ? nullptr : this->target(r);
    const std::int64_t y = a.labels ? a.labels[r] : -1;
    const double eps = a.p.v[0], ls = a.p.v[1], u = ls / double(C);
    double S = 0;
#pragma omp simd reduction(+ : S)
    for (index_t k = 0; k < C; ++k) S += double(p[k]);
    // G_k = dL/dq_k = -t'_k / q_k inside the clip, 0 outside; dL/dp_k = (G_k - sum G q) / S.
    double value = 0, GQ = 0;
    for (index_t k = 0; k < C; ++k) {
      const double tk = (1 - ls) * (t ? double(t[k]) : (k == y ? 1.0 : 0.0)) + u;
      const double q = double(p[k]) / S;
      const bool inside = q >= eps && q <= 1 - eps;
      const double qc = inside ? q : (q < eps ? eps : vm::keep_nan(q, 1 - eps));
      value -= tk == 0 ? 0.0 : tk * log(qc);
      const double G = inside ? -tk / qc : vm::keep_nan(q, 0.0);
      GQ += G * q;
      if (g) g[k] = T(G);
    }
    if (g) {
      const double c = gs / S;
      for (index_t k = 0; k < C; ++k) g[k] = T(c * (double(g[k]) - GQ));
    }
    return value;
  }
};

// Keras' cosine similarity loss: -dot(p, t) / (|p| |t|), squared norms floored at eps (p.v[0]).
template <class T>
struct CosineSimilarity : RowBase<T> {
  using RowBase<T>::RowBase;
  double row(index_t r, T* g, double gs) const {
    const index_t C = this->C;
    const T *p = this->pred(r), *t = this->target(r);
    const double eps = this->a.p.v[0];
    double pp = 0, tt = 0, pt = 0;
#pragma omp simd reduction(+ : pp, tt, pt)
    for (index_t k = 0; k < C; ++k) {
      pp += double(p[k]) * double(p[k]);
      tt += double(t[k]) * double(t[k]);
      pt += double(p[k]) * double(t[k]);
    }
    const double na = std::sqrt(pp > eps ? pp : eps), nb = std::sqrt(tt > eps ? tt : eps);
    const double cos = pt / (na * nb);
    if (g) {
      const T ct = T(-gs / (na * nb)), cp = T(pp > eps ? gs * cos / (na * na) : 0.0);
#pragma omp simd
      for (index_t k = 0; k < C; ++k) g[k] = ct * t[k] + cp * p[k];
    }
    return -cos;
  }
};

// Keras' categorical hinge: max(0, max_k (1 - t_k) p_k - sum t p + 1).
template <class T>
struct CategoricalHinge : RowBase<T> {
  using RowBase<T>::RowBase;
  double row(index_t r, T* g, double gs) const {
    const index_t C = this->C;
    const T *p = this->pred(r), *t = this->target(r);
    double pos = 0;
    double neg = -std::numeric_limits<double>::infinity();
    index_t j = 0;
    for (index_t k = 0; k < C; ++k) {
      pos += double(t[k]) * double(p[k]);
      const double v = (1 - double(t[k])) * double(p[k]);
      if (v > neg || v != v) {
        neg = v;
        j = k;
      }
    }
    const double m = neg - pos + 1;
    const bool active = m > 0;
    if (g) {
      const T s = T(active ? gs : vm::keep_nan(m, 0.0));
      for (index_t k = 0; k < C; ++k) g[k] = -s * t[k];
      g[j] += s * (T(1) - t[j]);
    }
    return active ? m : vm::keep_nan(m, 0.0);
  }
};

}  // namespace loss
}  // namespace NNK_ISA
}  // namespace nnk
