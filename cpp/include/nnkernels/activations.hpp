// One struct per elementwise activation: forward f(x), derivative f'(x), and f' from the output
// y = f(x) where the math allows (grad_from_output). Included only by kernel sources, inside the
// per-ISA namespace. The element loop they run in (map_range) is at the end; the kernels around
// it live in cpp/src/activations.cpp and, fused with a bias, cpp/src/layers.cpp.
//
// Accuracy: kUlp is the float32 bound against the float64 reference (tests/reference.py) for
// forward, grad and backward over the whole real line; kFloor is an absolute floor, in units of
// the dtype's epsilon, where a derivative crosses zero (cancellation no float format avoids).
// The test suite reads both numbers from nnkernels._core, so the bound in the code is the one
// tested. "Work" is the type the math is done in: double where float's own rounding of an
// intermediate (x^3, x^2/2, erfc's tail) would cost more than the bound.
#pragma once
#include <cmath>
#include <type_traits>
#include <utility>

#include "nnkernels/dispatch.hpp"
#include "nnkernels/parallel.hpp"
#include "nnkernels/vecmath.hpp"

namespace nnk {
namespace NNK_ISA {

// Whether an activation struct A over T has the from-output derivative.
template <class A, class T, class = void>
struct HasGradFromOutput : std::false_type {};
template <class A, class T>
struct HasGradFromOutput<A, T,
                         std::void_t<decltype(std::declval<const A&>().grad_from_output(T()))>>
    : std::true_type {};

struct Cheap {  // a compare or a multiply per element: memory-bound
  static constexpr index_t kGrain = kGrainMemoryBound;
  static constexpr double kUlp = 0, kFloor = 0;
};
struct Transcendental {
  static constexpr index_t kGrain = kGrainTranscendental;
};

// For the piecewise-linear activations whose output tells f' as the input does (identity,
// binary_step, hardtanh, relu6, relu, leaky_relu with slope >= 0): f' from y is grad(y).
template <class A>
struct GradOfOutputIsGrad {
  template <class V, class Self = A>  // Self: looked up when called, once A is complete
  NNK_INLINE auto grad_from_output(V y) const -> decltype(std::declval<const Self&>().grad(y)) {
    return static_cast<const Self&>(*this).grad(y);
  }
};

// Methods are templates over V = T or simd::Vec<T> where that measured faster; on AVX-512 the
// kernels (map_range, the fused Dense loops) run them on Vec<T>. That gets vscalef for exp's 2^k
// scaling (sigmoid, silu, softplus, logsigmoid, the sigmoid-based derivatives), better selects
// in full-range expm1 (softplus and logsigmoid from y), and for the plain-arithmetic methods one
// load per input (simd::load; GCC's own loops read y twice in (1 - y) * (1 + y)). The tanh, elu
// and selu forwards (expm1 near 0, nothing to scale) were faster auto-vectorized and stay scalar;
// simd::ScalarOrVec constrains the templates.
using simd::ScalarOrVec;

// Whether float computes in float on explicit vectors (AVX-512, AVX2) in GELU, gelu(tanh) and
// mish, whose other paths compute in double: their bounds differ (kUlp is per level, as is the
// whole kernel table).
template <class T>
inline constexpr bool kFloatOnVectors = std::is_same_v<T, float> && simd::kHasVectorOps;
// Whether struct A has that float path (its bound there is kUlpInFloat).
template <class A, class = void>
inline constexpr bool kHasFloatPath = false;
template <class A>
inline constexpr bool kHasFloatPath<A, std::void_t<decltype(A::kUlpInFloat)>> = true;
// The float32 bound over every level: kUlp, or kUlpInFloat where a struct has that path.
template <class A>
constexpr double ulp_any_level() {
  if constexpr (kHasFloatPath<A>)
    return A::kUlpInFloat > A::kUlp ? A::kUlpInFloat : A::kUlp;
  else
    return A::kUlp;
}

// min(x, 0), NaN kept: the argument of an exp that only the x <= 0 branch uses.
template <class V>
NNK_INLINE V negative(V x) {
  return x > vm::Lane<V>(0) ? V{} : x;
}

// a * b where b == 0 (b >= 0) means the limit 0 with a's sign (x * sigmoid(x) at x = -inf is
// -0, not inf * 0 = NaN; x Phi(x) is -0 where Phi(x) underflows).
template <class V>
NNK_INLINE V times_vanishing(V a, V b) {
  return b == vm::Lane<V>(0) ? vm::copysign(V{}, a) : a * b;
}

// a + b for a >= +0, but -0 where both are zeros and b is -0 (IEEE's +0 + -0 is +0): an f'
// that sums a term >= 0 and a negative one (mish, gelu(tanh) far below 0) keeps its sign
// where both underflow. For the compiler's scalar loops (a select there cost 8-11 %). Where b
// is a product and the level has FMA, GCC folds the whole into one FMA, whose zero has the
// sign of the exact sum: a product that underflows before it must be formed scaled (mish).
template <class T>
NNK_INLINE T plus_keeping_negative_zero(T a, T b) {
  static_assert(!simd::kIsVector<T>);
  return -((-a) - b);
}

// g(y) in double, rounded once to T: elu, selu and celu's f' from y is y + alpha (or
// y / alpha + 1), which cancels as y -> -alpha, where alpha's own rounding to float would be
// all that is left. Float vectors (AVX-512) go through two double halves. g takes double and
// Vec<double>. Whether it takes T's vectors (widen and narrow, for float):
template <class T>
inline constexpr bool kInDoubleOnVectors = !std::is_same_v<T, float> || simd::kHasWiden;
template <class V, class G>
NNK_INLINE V in_double(V y, G g) {
  using T = vm::Lane<V>;
  if constexpr (std::is_same_v<T, double>) {
    return g(y);
  } else if constexpr (simd::kIsVector<V>) {
    const auto [lo, hi] = simd::widen(y);
    return simd::narrow(g(lo), g(hi));
  } else {
    return T(g(double(y)));
  }
}

// p * x as hi + lo, p a double parameter (beta, 1/alpha). exp's tail has relative condition
// |z|, so the rounding of z = p * x (and of p itself, for float) must not be lost. Where the
// level has FMA: hi = x p_hi and lo = its FMA residual + x p_lo, p = p_hi + p_lo in T (exact for
// double; float's pair holds p to 2^-48), on scalars and vectors alike; converting float to
// double and back made swish(beta) and celu(alpha) 3.5-5x slower than silu and elu. Without
// FMA, float forms z in double and splits it, double carries Dekker's product error. lo is 0
// where |z| >= 1024 (exp is 0 or inf there anyway) or z is not finite.
template <class V>
struct Split {
  V hi, lo;
};
template <class V>
NNK_INLINE Split<V> scaled(V x, double p) {
  using T = vm::Lane<V>;
  if constexpr (vm::kFma || simd::kIsVector<V>) {
    // A float p beyond float's range (1 / alpha for alpha = 1e-39) scales by 2^64 after the
    // product: p_hi = inf made 0 * p NaN. One below 2^-100 (beta = 1e-38) by 2^-64: a subnormal
    // p_hi, and p_lo lost below it, held p to 2^-22 only (swish 5 ulp at x = -2.4e38). The
    // test is loop-invariant.
    const double mag = std::fabs(p);
    const bool huge = sizeof(T) == 4 && !(mag <= double(std::numeric_limits<T>::max()));
    const bool tiny = sizeof(T) == 4 && mag < 0x1p-100 && mag > 0;
    const double c = huge ? 0x1p64 : (tiny ? 0x1p-64 : 1.0);
    const T p_hi = T(p / c);
    V hi = x * p_hi;
    V lo = vm::fma(x, V{} + p_hi, -hi);
    if constexpr (sizeof(T) == 4) lo += x * T(p / c - double(p_hi));
    if (c != 1.0) {
      hi *= T(c);
      lo *= T(c);
    }
    return {hi, vm::abs(hi) < T(1024) ? lo : V{}};
  } else if constexpr (sizeof(T) == 4) {
    const double z = p * double(x);
    const T hi = T(z);
    return {hi, std::fabs(hi) < T(1024) ? T(z - double(hi)) : T(0)};
  } else {
    const T hi = T(p) * x;
    return {hi, vm::two_prod_err(T(p), x, hi)};
  }
}

// sigma(z.hi + z.lo) and sigma(-(z.hi + z.lo)) to first order in lo.
template <class V>
NNK_INLINE vm::SigmoidPair<V> sigmoid_pair(Split<V> z) {
  const auto s = vm::sigmoid_pair(z.hi);
  const V d = z.lo * s.pos * s.neg;
  return {s.pos + d, s.neg - d};
}

template <class T>
struct Identity : Cheap, GradOfOutputIsGrad<Identity<T>> {
  explicit Identity(const Params&) {}
  // A template, so AVX-512 copies on explicit vectors, straight to a streamed output (no
  // block buffer): float32, 16M elements, 1 thread, 2.6 ms, PyTorch's copy_ 3.3.
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    return x;
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return vm::keep_nan(x, T(1));
  }
};

// 1 where x >= threshold, else 0. Its derivative is 0 (almost everywhere).
template <class T>
struct BinaryStep : Cheap, GradOfOutputIsGrad<BinaryStep<T>> {
  T threshold;
  explicit BinaryStep(const Params& p) : threshold(T(p.v[0])) {}
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    return vm::keep_nan(x, x >= threshold ? T(1) : T(0));
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return vm::keep_nan(x, T(0));
  }
};

// 1 / (1 + e^-x) from e^-|x|; f' = y (1 - y).
template <class T>
struct Sigmoid : Transcendental {
  static constexpr double kUlp = 4, kFloor = 0;
  explicit Sigmoid(const Params&) {}
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    return vm::sigmoid(x);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return vm::sigmoid_slope(x);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad_from_output(V y) const {
    return y * (T(1) - y);
  }
};

// (1 - e^-x) / (1 + e^-x) = tanh(x / 2); f' = (1 - y^2) / 2 = 2 sigma(x) sigma(-x).
template <class T>
struct BipolarSigmoid : Transcendental {
  static constexpr double kUlp = 4, kFloor = 0;
  explicit BipolarSigmoid(const Params&) {}
  NNK_INLINE T forward(T x) const { return vm::tanh(T(0.5) * x); }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return T(2) * vm::sigmoid_slope(x);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad_from_output(V y) const {
    return T(0.5) * (T(1) - y) * (T(1) + y);
  }
};

// f' = 1 - y^2 = 4 sigma(2x) sigma(-2x): no cancellation where tanh saturates.
template <class T>
struct Tanh : Transcendental {
  static constexpr double kUlp = 4, kFloor = 0;
  explicit Tanh(const Params&) {}
  NNK_INLINE T forward(T x) const { return vm::tanh(x); }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return T(4) * vm::sigmoid_slope(T(2) * x);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad_from_output(V y) const {
    return (T(1) - y) * (T(1) + y);
  }
};

// clamp(x, min_val, max_val); f' = 1 strictly inside, so y tells it too.
template <class T>
struct Hardtanh : Cheap, GradOfOutputIsGrad<Hardtanh<T>> {
  static constexpr double kUlp = 1, kFloor = 0;  // the bounds are rounded to T
  T lo, hi;
  explicit Hardtanh(const Params& p) : lo(T(p.v[0])), hi(T(p.v[1])) {}
  Hardtanh(T lo_, T hi_) : lo(lo_), hi(hi_) {}
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    return vm::clamp_keep_nan(x, lo, hi);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return vm::keep_nan(x, x > lo && x < hi ? T(1) : T(0));
  }
};

template <class T>
struct Relu : Cheap, GradOfOutputIsGrad<Relu<T>> {
  explicit Relu(const Params&) {}
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    return x < T(0) ? T(0) : x;
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return vm::keep_nan(x, x > T(0) ? T(1) : T(0));
  }
};

template <class T>
struct Relu6 : Hardtanh<T> {
  explicit Relu6(const Params&) : Hardtanh<T>(vm::opaque(T(0)), vm::opaque(T(6))) {}
};

// From the output only for negative_slope >= 0 (the Python face checks).
template <class T>
struct LeakyRelu : Cheap, GradOfOutputIsGrad<LeakyRelu<T>> {
  static constexpr double kUlp = 1, kFloor = 0;  // the slope is rounded to T
  T slope;
  explicit LeakyRelu(const Params& p) : slope(T(p.v[0])) {}
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    return x > T(0) ? x : slope * x;
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return vm::keep_nan(x, x > T(0) ? T(1) : slope);
  }
};

// alpha (e^x - 1) for x <= 0; f' = y + alpha there (alpha >= 0 for the output form).
template <class T>
struct Elu : Transcendental {
  static constexpr double kUlp = 4, kFloor = 0;
  T alpha;
  double alpha_d;  // y + alpha cancels near saturation: add in double with the exact parameter
  explicit Elu(const Params& p) : alpha(T(p.v[0])), alpha_d(p.v[0]) {}
  // x >= 0 takes x: -0 stays -0 (expm1's sum makes +0 of it).
  NNK_INLINE T forward(T x) const {
    return x >= T(0) ? x : alpha * vm::expm1<T, true>(negative(x));
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return x > T(0) ? T(1) : alpha * vm::exp_nonpositive(negative(x));
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T, kInDoubleOnVectors<T>> grad_from_output(V y) const {
    return y > T(0) ? T(1) : in_double(y, [&](auto v) NNK_INLINE_LAMBDA { return v + alpha_d; });
  }
};

template <class T>
struct Selu : Transcendental {
  static constexpr double kUlp = 4, kFloor = 0;
  static constexpr T kAlpha = T(1.6732632423543772848170429916717);
  static constexpr T kScale = T(1.0507009873554804934193349852946);
  static constexpr double kScaleAlphaD = 1.7580993408473768599402175208123;
  static constexpr T kScaleAlpha = T(kScaleAlphaD);
  explicit Selu(const Params&) {}
  NNK_INLINE T forward(T x) const {
    return x >= T(0) ? kScale * x : kScaleAlpha * vm::expm1<T, true>(negative(x));  // -0 kept
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return x > T(0) ? kScale : kScaleAlpha * vm::exp_nonpositive(negative(x));
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T, kInDoubleOnVectors<T>> grad_from_output(V y) const {
    return y > T(0) ? kScale
                    : in_double(y, [](auto v) NNK_INLINE_LAMBDA { return v + kScaleAlphaD; });
  }
};

// alpha (e^(x/alpha) - 1) for x <= 0; f' = y / alpha + 1 there.
template <class T>
struct Celu : Transcendental {
  static constexpr double kUlp = 4, kFloor = 0;
  T alpha;
  double alpha_d, inv_alpha;
  explicit Celu(const Params& p) : alpha(T(p.v[0])), alpha_d(p.v[0]), inv_alpha(1.0 / p.v[0]) {}
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    const Split<V> z = scaled(x, inv_alpha);
    const V e = vm::expm1(z.hi), correction = z.lo * (e + T(1));
    // (correction - correction) is 0 exactly when it is finite; where e overflows, drop it.
    // celu(x) has x's sign for either sign of alpha: copysign keeps it where x / alpha
    // underflows (expm1 of -0 is +0 here), -0 included.
    const V negative_x = alpha * (e + (correction - correction == T(0) ? correction : V{}));
    return x > T(0) ? x : vm::copysign(negative_x, x);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    const Split<V> z = scaled(x, inv_alpha);
    return x > T(0) ? T(1) : vm::exp(z.hi) * (T(1) + z.lo);
  }
  // For alpha < 0, f' = e^(x / alpha) grows without bound as x -> -inf, and overflows where
  // dy f' may not: there (only) dy e^r is formed before the scaling by 2^k (vm::times_exp);
  // elsewhere dy f' as for any activation (-0, inf and subnormal dy as the product gives them).
  // x / alpha is clamped where 2^k still scales in two factors (beyond, dy f' overflows for any
  // normal dy).
  template <class D, class V>
  NNK_INLINE ScalarOrVec<V, T> backward(D d, V x) const {
    if (alpha >= T(0)) return d * grad(x);
    // grad's e^z (z > 0 where x < 0), from the reduction the scaled form needs as well
    const Split<V> z = scaled(x, inv_alpha);
    constexpr T kHi = T(2 * vm::Traits<T>::kBias * 0.69314718055994530942);
    const auto red = vm::reduce_exp(vm::at_most(z.hi, kHi));
    const V g = vm::exp_of(red) * (T(1) + z.lo);
    const V negative_x =
        g > std::numeric_limits<T>::max() ? vm::times_exp(d * (T(1) + z.lo), red) : d * g;
    return x > T(0) ? d : negative_x;
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T, kInDoubleOnVectors<T>> grad_from_output(V y) const {
    return y > T(0) ? T(1)
                    : in_double(y, [&](auto v) NNK_INLINE_LAMBDA { return v / alpha_d + 1.0; });
  }
};

// x Phi(x) with the exact normal CDF; f' = Phi(x) + x phi(x). Not a function of y. Float on
// explicit vectors (AVX-512, AVX2) computes in float from vm::gauss_tail (the table lookup
// needs a permute); double, and float on baseline, from normal_cdf_pdf's double tail (2 ulp).
template <class T>
struct Gelu : Transcendental {
  // Float on vectors: 3.01 ulp at most over every float (the forward; the grad 1.34 outside an
  // eighth of the floor). The double tail: 2.
  static constexpr double kUlpInFloat = 3.5;
  static constexpr double kUlp = kFloatOnVectors<T> ? kUlpInFloat : 2, kFloor = 4;
  explicit Gelu(const Params&) {}
  template <class V>
  NNK_INLINE ScalarOrVec<V, T, kFloatOnVectors<T>> forward(V x) const {
    if constexpr (simd::kIsVector<V>) {
      const auto t = vm::gauss_tail(x);
      const V w = vm::times_exp(t.a * t.p, t.gauss);  // |x| Phi(-|x|)
      // x Phi(x): x - w above 0, -w below, -0 where w underflows (max(x, -0) is -0 there).
      return vm::at_least(x, T(-0.0)) - w;
    } else {
      return T(times_vanishing(double(x), vm::normal_cdf_pdf(x).cdf));
    }
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T, kFloatOnVectors<T>> grad(V x) const {
    if constexpr (simd::kIsVector<V>) {
      const auto t = vm::gauss_tail(x);
      const V d = vm::copysign(t.a, x) * T(0.39894228040143267794);  // x phi(x) e^{x^2/2}
      const V s = vm::times_exp(x < T(0) ? d + t.p : d - t.p, t.gauss);
      return x < T(0) ? s : s + T(1);
    } else {
      // An explicit fma: contracted only where the compiler sees no select between the product
      // and the sum, the loop's scalar remainder rounded once and its vector body twice.
      const auto c = vm::normal_cdf_pdf(x);
      // Where phi underflows, f' is 0 with x's sign below 0; elsewhere x phi + Phi is rounded
      // once, which keeps the sign of a sum that underflows.
      return T(c.pdf == 0 ? vm::copysign(c.cdf, double(x)) : vm::fma(double(x), c.pdf, c.cdf));
    }
  }
};

// x sigma(2u), u = sqrt(2/pi) (x + 0.044715 x^3): PyTorch's approximate="tanh",
// 0.5 x (1 + tanh u), without the cancellation of 1 + tanh u for x < 0. sigma's tail has
// relative condition |2u| (up to 104 before it underflows), so 2u must not lose its rounding:
// double computes in double; float on explicit vectors carries 2u as hi + lo in float (a
// double-float evaluation, ~2.2x faster than converting to double and back).
template <class T>
struct GeluTanh : Transcendental {
  // Float on vectors: the forward 2.80 ulp at most over every float; the grad 3.45 (x = -8.18,
  // results near 3e-21; 89 floats of [-13, -5] above 3), 2.8 elsewhere outside an eighth of its
  // floor. The double evaluation: 2.
  static constexpr double kUlpInFloat = 3.5;
  static constexpr double kUlp = kFloatOnVectors<T> ? kUlpInFloat : 2, kFloor = 4;
  explicit GeluTanh(const Params&) {}
  static constexpr double kC = 0.79788456080286535588, kA = 0.044715;
  // 2u = x (c1 + c3 x^2), each constant as a float pair.
  static constexpr double kC1 = 2 * kC, kC3 = 2 * kC * kA;
  static constexpr float kC1Hi = float(kC1), kC1Lo = float(kC1 - double(kC1Hi));
  static constexpr float kC3Hi = float(kC3), kC3Lo = float(kC3 - double(kC3Hi));
  // Float vectors: x clamped to [-12, 12] (beyond, the result is x or 0 in float; |2u| < 143),
  // 2u as hi + lo, and e^-|2u| reduced with lo.
  template <class V>
  struct Parts {
    V xc, c3_sq;  // c3 x^2, for the derivative (2u)' = c1 + 3 c3 x^2
    Split<V> z;
    vm::Reduced<V> neg_abs_z;
  };
  template <class V>
  static NNK_INLINE Parts<V> parts(V x) {
    const V xc = vm::clamp_keep_nan(x, -12.0f, 12.0f);
    const V sq = xc * xc, sq_lo = simd::fma(xc, xc, -sq);
    const V p = sq * kC3Hi, p_lo = simd::fma(sq, V{} + kC3Hi, -p) + (sq_lo * kC3Hi + sq * kC3Lo);
    const V c = p + kC1Hi, b = c - p;  // c1 + p and its rounding error (either may be larger)
    const V c_lo = ((p - (c - b)) + (kC1Hi - b)) + (p_lo + kC1Lo);
    const V z = xc * c, z_lo = simd::fma(xc, c, -z) + xc * c_lo;
    return {xc, p, {z, z_lo}, vm::reduce_exp(vm::neg_abs(z), z < T(0) ? z_lo : -z_lo)};
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T, kFloatOnVectors<T>> forward(V x) const {
    if constexpr (simd::kIsVector<V>) {
      const Parts<V> t = parts(x);
      const V e = vm::exp_of(t.neg_abs_z);
      // x e / (1 + e) for 2u < 0, x times e folded into e's scaling; else x / (1 + e).
      const V num = t.z.hi < T(0) ? vm::times_exp(t.xc, t.neg_abs_z) : x;
      return num / (T(1) + e);
    } else {
      const double w = x, u2 = 2 * kC * (w + kA * w * w * w);
      return T(times_vanishing(w, vm::sigmoid<double, vm::ExpPolyFor<double, T>>(u2)));
    }
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T, kFloatOnVectors<T>> grad(V x) const {
    if constexpr (simd::kIsVector<V>) {
      // sigma(2u) (1 + s sigma(-2u)), s = x (2u)' = 2u + 2 c3 x^3: with e = e^-|2u|, d = 1 + e,
      // e (d + s) / d^2 for 2u < 0 (d + s times e folded into its scaling: e may be subnormal),
      // (d + s e) / d^2 else. One division, and s from 2u's hi + lo (d + s cancels near
      // x = -0.75: s's rounding counts, and 1 + s / d lost 9 ulp).
      const Parts<V> t = parts(x);
      const V e = vm::exp_of(t.neg_abs_z), d = T(1) + e;
      const V s = simd::fma(t.xc + t.xc, t.c3_sq, t.z.hi) + t.z.lo;
      const auto negative = t.z.hi < T(0);
      const V num = negative ? vm::times_exp(d + s, t.neg_abs_z) : simd::fma(s, e, d);
      return num / (d * d);
    } else {
      const double w = x, u2 = 2 * kC * (w + kA * w * w * w);
      const auto s = vm::sigmoid_pair<double, vm::ExpPolyFor<double, T>>(u2);
      const double du2 = 2 * kC * (1 + 3 * kA * w * w);
      return T(plus_keeping_negative_zero(s.pos, times_vanishing(w * du2, s.pos * s.neg)));
    }
  }
};

// x sigma(beta x); f' = sigma(z) (1 + z sigma(-z)), z = beta x. The rounding error of z is
// carried separately: sigma's tail has relative condition |z|. silu is the beta = 1 instance,
// fixed at compile time, so it carries nothing.
//
// With e = e^-|z| and d = 1 + e: the forward x / d, times e where z < 0; f' = (d + z e) / d^2
// for z >= 0, e (d + z) / d^2 for z < 0 (one quotient: sigma(z) (1 + z sigma(-z)) rounded both
// sigmas and cancelled in 1 + z sigma(-z): 5-6 ulp at |f'| ~ 0.1, x = -2.4). Where z < 0 the
// results are normal down to z = -91 (float) while e is subnormal from -87.3: multiplying by a
// rounded subnormal e cost them up to 47 ulp (silu), 200 (swish, beta = -0.3). So the factor
// multiplies e^r before the scaling by 2^k (vm::times_exp: one rounding where the result is
// subnormal), with z reduced down to kLo, below which the results are 0 in T (silu: |x| e^x <
// 2^-180 there; swish's are not 0 for |beta| below 3e-10 in float, 6e-22 in double, and huge
// |x|: those are lost, normal ones from |beta| below 4e-17 and 1e-37).
template <class T, bool UnitBeta>
struct SwishOf : Transcendental {
  static constexpr double kUlp = 4, kFloor = 4;
  // k >= -188 (float), -1154 (double): exp's one-sided scaling holds.
  static constexpr T kLo = sizeof(T) == 4 ? T(-130) : T(-800);
  static constexpr int kOff = vm::Traits<T>::kScaleOffset;
  static constexpr T kPlain = sizeof(T) == 4 ? T(-80) : T(-700);  // e normal above
  double beta;
  explicit SwishOf(const Params& p) : beta(UnitBeta ? 1.0 : p.v[0]) {}
  template <class V>
  NNK_INLINE Split<V> z_of(V x) const {
    if constexpr (UnitBeta)
      return {x, V{}};
    else
      return scaled(x, beta);
  }
  template <class V>
  struct Parts {
    V z, z_neg;  // z's high part; -|z| clamped at kLo (z itself where z < 0 and above kLo)
    V e, d;      // e = e^-|z| (z's low part in the reduction); 1 + e
    vm::Reduced<V> red;
  };
  template <class V>
  NNK_INLINE Parts<V> parts(V x) const {
    const Split<V> z = z_of(x);
    const V a = vm::at_least(vm::neg_abs(z.hi), kLo);
    vm::Reduced<V> red;
    if constexpr (UnitBeta)
      red = vm::reduce_exp(a);
    else
      red = vm::reduce_exp(a, z.hi < T(0) ? z.lo : -z.lo);
    const V e = vm::exp_of<V, kOff>(red);
    return {z.hi, a, e, T(1) + e, red};
  }
  // Whether e = e^-|z| is normal in every lane (NaN lanes count as normal): swish's y e is then
  // a plain product, and z e is not inf * 0. A vector's test: where it holds, the selects for
  // the rare lanes are skipped, and each lane's result is the same either way (64K, 1 thread,
  // backward: float64 silu 50 -> 48.7 us, swish(1.5) 65 -> 48, float32 swish(1.5) 23 -> 17).
  template <class V>
  static NNK_INLINE bool e_normal(const Parts<V>& p) {
    return !simd::any_below(p.z_neg, kPlain);
  }
  // y e for z < 0, a zero of y's sign below kLo (silu: x is -|z| there, and x e rounds to 0 at the
  // clamp). silu folds y into exp's scaling everywhere, one rounding fewer: y e made its float64
  // backward 14 % faster but put 88 of 1M mpmath-checked grads above 3 ulp (36 fused; the bound
  // is 4, reached by both). swish's |x| may reach the largest number (beta
  // tiny): from kPlain up e is normal and y e plain; below, y 2^-8 e^r scaled by 2^(k + 8) cannot
  // overflow (k + 8 + kOff < -40 there in float, -490 in double), and y 2^-8 is subnormal only
  // where y e is 0 (above kPlain it would lose a subnormal y's bits: x = 9e-43, 64 ulp).
  template <class V>
  static NNK_INLINE V times_e(const Parts<V>& p, V y) {
    if constexpr (UnitBeta) {
      return vm::times_exp<kOff>(y, p.red);
    } else if (e_normal(p)) {
      return y * p.e;
    } else {
      const vm::Reduced<V> red = p.red.shifted(8);
      // z >= kPlain as in e_normal: a lane's path must not depend on its neighbours.
      return p.z >= kPlain
                 ? y * p.e
                 : (p.z < kLo ? vm::copysign(V{}, y) : vm::times_exp<kOff>(y * T(1.0 / 256), red));
    }
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    const Parts<V> p = parts(x);
    const V y = UnitBeta ? p.z_neg : x;  // silu: x clamped, for x = -inf
    return vm::keep_nan(p.z, (p.z < T(0) ? times_e(p, y) : x) / p.d);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    const Parts<V> p = parts(x);
    // z < 0: 1 + z is exact near f' = 0 (z = -1.28), where d + z lost d's rounding (5.8 ulp
    // at |f'| = 0.06, 3.6 now); z clamped for silu's x = -inf. z >= 0: d + z e, fused; d where
    // e is 0 (z = inf: not inf * 0).
    V above = vm::fma(p.z, p.e, p.d);
    if (!e_normal(p)) above = p.e == T(0) ? p.d : above;
    const V num = p.z < T(0) ? times_e(p, (T(1) + p.z_neg) + p.e) : above;
    return vm::keep_nan(p.z, num / (p.d * p.d));
  }
};
template <class T>
using Swish = SwishOf<T, false>;
template <class T>
using Silu = SwishOf<T, true>;

// x tanh(softplus(x)) = x n / (n + 2), n = e^x (e^x + 2); sech^2 = 4 (n + 1) / (n + 2)^2.
// Double, and float on baseline, compute in double. Float on explicit vectors computes in float
// (3.3x faster on AVX-512, 3x on AVX2), e = e^x with x clamped to [-150, 20] (beyond 20 the
// result is x, and the grad 1, in float): for x <= 0, x e (e + 2) / (e (e + 2) + 2) with x e
// folded into exp's scaling (no subnormal e rounded before the product) and e + 2's rounding
// error carried; for x >= 0, x - 2x / (n + 2), where n's errors count 2 / (n + 2) times less
// than in the quotient.
// The grad t + 4 x e (e + 1) / (n + 2)^2, t = n / (n + 2).
template <class T>
struct Mish : Transcendental {
  // Float on vectors: 3.49 ulp at most over every float (the forward, x = -5.09: a quotient of
  // float products; the grad 3.3 where |f'| > 1/4, inside 4 ulp + floor elsewhere).
  static constexpr double kUlpInFloat = 4;
  static constexpr double kUlp = kFloatOnVectors<T> ? kUlpInFloat : 2, kFloor = 4;
  explicit Mish(const Params&) {}
  template <class V>
  struct FloatParts {
    V e, x_e, n, den;  // e^x, x e^x 2^Up (one rounding), n = e (e + 2), n + 2
  };
  template <int Up = 0, class V>
  static NNK_INLINE FloatParts<V> float_parts(V x) {
    const V xc = vm::clamp_keep_nan(x, -150.0f, 20.0f);
    const vm::Reduced<V> red = vm::reduce_exp(xc);
    const V e = vm::exp_of(red), n = e * (e + T(2));
    return {e, vm::times_exp(xc, red.shifted(Up)), n, n + T(2)};
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T, kFloatOnVectors<T>> forward(V x) const {
    if constexpr (simd::kIsVector<V>) {
      const FloatParts<V> p = float_parts(x);
      const V e2 = p.e + T(2), e2_err = p.e - (e2 - T(2));  // exact where e < 2, i.e. x < 0
      const V negative = simd::fma(p.x_e, e2, p.x_e * e2_err) / p.den;
      return x <= T(0) ? negative : (x > T(20) ? x : x - (x + x) / p.den);  // -0 kept
    } else {
      const Parts p = parts(x);  // x t: t rounds to 1 before 40, and -0 stays -0
      return x > T(40) ? x : T(x < T(0) ? p.x_t : double(x) * p.t);
    }
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T, kFloatOnVectors<T>> grad(V x) const {
    if constexpr (simd::kIsVector<V>) {
      // t + x sech^2 sigma, the second term 4 x e (e + 1) / den^2 formed 2^64 times larger
      // (nonzero down to the clamp, at most 2^126 at x = 20) and scaled inside the FMA: where
      // the sum underflows it keeps the sign of the exact one (+0 + -0 would be +0). t as
      // n / den, rounded once (the fused n inv + slope before: 2.98 ulp at most in a 5M-point
      // sample where |f'| > 1/4; this 3.26, n inv 3.26 with 40 % more points above 2 ulp).
      const FloatParts<V> p = float_parts<64>(x);
      const V inv = T(1) / p.den;
      const V slope_up = p.x_e * (p.e + T(1)) * inv * inv;
      return x > T(20) ? V{} + T(1) : simd::fma(slope_up, V{} + T(0x1p-62), p.n / p.den);
    } else {
      // The slope term formed 2^256 larger (normal down to the clamp) and scaled in the sum:
      // where the sum underflows, a fused t + slope 2^-256 keeps the exact sum's sign as the
      // unfused -((-t) - slope 2^-256) does (the slope scaled before the FMA was -0 below -745).
      const Parts p = parts<256>(x);
      return T(plus_keeping_negative_zero(p.t, p.sech2 * p.x_sig * 0x1p-256));
    }
  }
  struct Parts {
    double t, sech2, x_sig, x_t;  // x sigma(x) 2^Up and x t, for x <= 40
  };
  // x clamped to [-800, 40]: t and sech2 are 1 and 0 above 40 (in both formats), x e^x is 0
  // below -800. x e^x is formed before exp's scaling (vm::times_exp): float64 e^x is subnormal
  // below -708 where x e^x is not (354 ulp off, rounded first); x t serves x >= 0.
  template <int Up = 0>
  static NNK_INLINE Parts parts(double x) {
    const double xc = vm::clamp_keep_nan(x, -800.0, 40.0);
    const auto red = vm::reduce_exp<double, vm::ExpPolyFor<double, T>>(xc);
    const double e = vm::exp_of(red), x_e = vm::times_exp(xc, red);
    const double x_e_up = Up == 0 ? x_e : vm::times_exp(xc, red.shifted(Up));
    const double n = e * (e + 2), inv = 1 / (n + 2);
    return {n * inv, x > 40 ? 0.0 : 4 * (n + 1) * inv * inv, x_e_up / (1 + e), x_e * (e + 2) * inv};
  }
};

// log(1 + e^(beta x)) / beta, x itself where beta x > threshold (PyTorch); f' = 1 - e^(-beta y).
// Softplus is the beta = 1 instance (PyTorch's default), fixed at compile time.
template <class T, bool UnitBeta>
struct SoftplusOf : Transcendental {
  static constexpr double kUlp = 4, kFloor = 0;
  double beta;
  T threshold;
  explicit SoftplusOf(const Params& p) : beta(UnitBeta ? 1.0 : p.v[0]), threshold(T(p.v[1])) {}
  template <class V>
  NNK_INLINE Split<V> z_of(V x) const {
    if constexpr (UnitBeta)
      return {x, V{}};
    else
      return scaled(x, beta);
  }
  // Float with beta != 1 computes in double (softplus(z) / beta from float parts can land two
  // binades apart: 4+ ulp), with exp's and log1p's float-accuracy polynomials (1e-8 relative
  // each, then one rounding to float); on AVX-512 vectors, in two double halves.
  template <class D>
  NNK_INLINE D softplus_in_double(D z) const {
    const D e = vm::exp_nonpositive<D, vm::ExpPolyFor<double, float>>(vm::neg_abs(z));
    return (vm::log1p_unit<D, float>(e) + vm::at_least(z, 0.0)) / beta;
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T, UnitBeta || kInDoubleOnVectors<T>> forward(V x) const {
    if constexpr (!UnitBeta && std::is_same_v<T, float>) {
      if constexpr (simd::kIsVector<V>) {
        const auto [lo, hi] = simd::widen(x);
        const auto zl = lo * beta, zh = hi * beta;
        const V z = simd::narrow(zl, zh);
        return z > threshold ? x : simd::narrow(softplus_in_double(zl), softplus_in_double(zh));
      } else {
        const double z = double(x) * beta;
        return T(z) > threshold ? x : T(softplus_in_double(z));
      }
    } else {
      const Split<V> z = z_of(x);
      const V e = vm::exp_nonpositive(vm::neg_abs(z.hi));
      // log1p(e^-|z|) + the first-order effect of z.lo (sigma(z) ~ e for z < 0, ~ 1 above).
      V sp = vm::log1p_unit(e) + vm::at_least(z.hi, T(0));
      if constexpr (!UnitBeta) sp = (sp + z.lo * (z.hi < T(0) ? e : T(1))) / T(beta);  // double
      return z.hi > threshold ? x : sp;
    }
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    const Split<V> z = z_of(x);
    return z.hi > threshold ? T(1) : sigmoid_pair(z).pos;
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad_from_output(V y) const {
    // z > 0 for an output; -z is clamped to <= 0. one_minus_exp: +0 where sigma(beta x)
    // underflows. Outputs just above the threshold also come from x just below it (f' within
    // e^-threshold of 1): the Python face takes y= only for threshold >= 17, where that is below
    // float32's rounding.
    const V z = z_of(y).hi;
    return z > threshold ? T(1) : vm::one_minus_exp(negative(-z));
  }
};
template <class T>
using Softplus = SoftplusOf<T, true>;
template <class T>
using SoftplusBeta = SoftplusOf<T, false>;

// x / (1 + |x|); f' = 1 / (1 + |x|)^2 = (1 - |y|)^2.
template <class T>
struct Softsign : Cheap {
  static constexpr double kUlp = 4, kFloor = 0;
  explicit Softsign(const Params&) {}
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    const V a = vm::abs(x);
    return vm::copysign(a > T(1e30) ? V{} + T(1) : a / (T(1) + a), x);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    const V d = T(1) + vm::abs(x);
    return T(1) / (d * d);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad_from_output(V y) const {
    const V d = T(1) - vm::abs(y);
    return d * d;
  }
};

// relu6(x + 3) / 6; f' = 1/6 strictly inside (-3, 3), so 0 < y < 1 tells it too.
template <class T>
struct Hardsigmoid : Cheap {
  static constexpr double kUlp = 2, kFloor = 0;
  const T zero = vm::opaque(T(0)), one = vm::opaque(T(1));  // see vm::opaque
  explicit Hardsigmoid(const Params&) {}
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    return vm::clamp_keep_nan((x + T(3)) * T(1.0 / 6), zero, one);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return vm::keep_nan(x, x > T(-3) && x < T(3) ? T(1.0 / 6) : T(0));
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad_from_output(V y) const {
    return vm::keep_nan(y, y > T(0) && y < T(1) ? T(1.0 / 6) : T(0));
  }
};

// x relu6(x + 3) / 6; f' = (2x + 3) / 6 inside (-3, 3), 0 below and 1 above (as PyTorch).
template <class T>
struct Hardswish : Cheap {
  static constexpr double kUlp = 3, kFloor = 0;
  explicit Hardswish(const Params&) {}
  // x is first raised to -3 (NaN kept), where the result is 0: no -inf * 0, and no lower clamp.
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    const V xc = x < T(-3) ? T(-3) : x;
    const V h = (xc + T(3)) * T(1.0 / 6);
    return xc * (h > T(1) ? T(1) : h);
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    const V inside = (T(2) * x + T(3)) * T(1.0 / 6);
    return vm::keep_nan(x, x <= T(-3) ? T(0) : (x < T(3) ? inside : T(1)));
  }
};

// log sigma(x) = min(x, 0) - log1p(e^-|x|); f' = sigma(-x) = 1 - e^y.
template <class T>
struct Logsigmoid : Transcendental {
  static constexpr double kUlp = 3, kFloor = 0;
  explicit Logsigmoid(const Params&) {}
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> forward(V x) const {
    // min(x, -0): -0 - 0 = -0 where e^-x underflows (log sigma(x) < 0), +0 stays +0.
    return vm::at_most(x, T(-0.0)) - vm::log1p_unit(vm::exp_nonpositive(vm::neg_abs(x)));
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad(V x) const {
    return vm::sigmoid_pair(x).neg;
  }
  template <class V>
  NNK_INLINE ScalarOrVec<V, T> grad_from_output(V y) const {
    // y <= 0 for an output; one_minus_exp: +0 where sigma(-x) underflows.
    return vm::one_minus_exp(negative(y));
  }
};

// ---- the element loop of the activation kernels and the fused layer kernels ----

// What the loops apply to each element: f(act, operands...). The trailing return types make a
// method that takes only T (not a template) a substitution failure for simd::Vec<T>, so
// map_range picks the scalar loop for it.
inline constexpr auto kForward =
    [](const auto& a, auto x) NNK_INLINE_LAMBDA -> decltype(a.forward(x)) { return a.forward(x); };
inline constexpr auto kGrad = [](const auto& a, auto x)
                                  NNK_INLINE_LAMBDA -> decltype(a.grad(x)) { return a.grad(x); };
// dy f'(x); an activation whose f' can overflow where dy f' does not has a backward(dy, x).
template <class A, class D, class X>
NNK_INLINE auto backward_of(const A& a, D d, X x, int) -> decltype(a.backward(d, x)) {
  return a.backward(d, x);
}
template <class A, class D, class X>
NNK_INLINE auto backward_of(const A& a, D d, X x, long) {
  return d * a.grad(x);
}
inline constexpr auto kBackwardFromInput =
    [](const auto& a, auto d, auto x)
        NNK_INLINE_LAMBDA -> decltype(a.grad(x)) { return backward_of(a, d, x, 0); };
inline constexpr auto kBackwardFromOutput =
    [](const auto& a, auto d, auto y)
        NNK_INLINE_LAMBDA -> decltype(a.grad_from_output(y)) { return d * a.grad_from_output(y); };

// Whether the loops run f(act, operands of types In...) on explicit vectors: where f also takes
// simd::Vec (the activation's method is a template over scalar or vector) and either the level
// has vscalef (AVX-512: the scaling in exp, and one load per input, see simd::load) or A has a
// float path, which exists on vectors only (GELU, gelu(tanh) and mish, also on AVX2). Elsewhere
// the compiler vectorizes the scalar loop (the same template; whether AVX2 would gain from one
// load per input has not been measured).
template <class F, class A, class... In>
inline constexpr bool kOnVectors = ((simd::kHasScalef<simd::Vec<In>> && ...) || kHasFloatPath<A>) &&
                                   std::is_invocable_v<F, const A&, simd::Vec<In>...>;

// out[i] = f(act, in[i]...) for i in [b, e). In place is allowed (an input == out): each
// element is read before it is written. The vector loop starts at out's first 64-byte
// boundary (the elements before it run alone): NumPy's large arrays start 16 bytes into a line,
// and stores that straddle lines made float32 relu at 1M (in L3) 15 % slower (75.8 -> 65.3 us).
// Whole: the tag of that loop's whole vectors (simd::Streamed: non-temporal stores, whole lines).
template <class Whole = simd::Full, class T, class A, class F, class... In>
NNK_INLINE void map_range(const A& act, F f, index_t b, index_t e, T* out, const In*... in) {
  static_assert((std::is_same_v<In, T> && ...), "one element type: vectors step by T's lanes");
  const auto body = [&](index_t i, auto n) NNK_INLINE_LAMBDA {
    simd::store(out + i, f(act, simd::load(in + i, n)...), n);
  };
  const index_t head = simd::to_boundary(out + b, 64, e - b);
  simd::for_each<kOnVectors<F, A, In...>, T>(b, b + head, body);
  if constexpr (kOnVectors<F, A, In...>) {
    simd::for_each_grouped<4, T, Whole>(
        b + head, e,
        [&](index_t i, auto n) NNK_INLINE_LAMBDA { return f(act, simd::load(in + i, n)...); },
        [&](index_t i, auto n, const auto& v) NNK_INLINE_LAMBDA { simd::store(out + i, v, n); });
  } else {
    simd::for_each<false, T, Whole>(b + head, e, body);
  }
}

// map_range, writing out by non-temporal stores where `stream` (simd::streams): straight from
// explicit vectors, through write_streamed's buffer from the compiler's loops.
template <class T, class A, class F, class... In>
NNK_INLINE void map_range_streamed(bool stream, const A& act, F f, index_t b, index_t e, T* out,
                                   const In*... in) {
  if (!stream) {
    map_range(act, f, b, e, out, in...);
  } else if constexpr (kOnVectors<F, A, In...>) {
    map_range<simd::Streamed>(act, f, b, e, out, in...);
  } else {
    simd::write_streamed(out, b, e, [&](T* dst, index_t i, index_t len) {
      map_range(act, f, 0, len, dst, (in + i)...);
    });
  }
}

}  // namespace NNK_ISA
}  // namespace nnk
