// Branch-free elementary functions for float and double, written to vectorize inside
// `#pragma omp simd` loops: selects instead of branches, no libm calls, no lookup tables but
// one (gauss_tail: a 16-entry table per coefficient, looked up by permutes, on vectors).
// The exp family, sigmoid, tanh and log1p also take a simd::Vec (V is a scalar or a vector
// of T): the same code, with AVX-512's vscalef where 2^k scales a result.
// Included only by kernel sources, inside the per-ISA namespace.
//
// Accuracy (max error over the whole real line, measured by tests/test_vecmath.py through the
// activations that use them): exp, expm1, log1p, tanh, sigmoid <= 2 ulp; phi (normal CDF) <= 3 ulp.
// NaN in gives NaN out; +-inf saturate.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <type_traits>

#include "nnkernels/simd.hpp"

namespace nnk {
namespace NNK_ISA {
namespace vm {

// Whether a * b + c compiles to one fused multiply-add at this level.
#if defined(__FMA__)
inline constexpr bool kFma = true;
#else
inline constexpr bool kFma = false;
#endif

template <class T>
struct Traits;
template <>
struct Traits<float> {
  using Bits = uint32_t;
  static constexpr int kMantissa = 23;
  static constexpr Bits kBias = 127;
  // exp(x) is 0 below exp_lo and inf above exp_hi (both slightly past the real limits).
  static constexpr float kExpLo = -104.0f, kExpHi = 89.0f;
  static constexpr float kExpm1Lo = -30.0f;          // expm1 is -1 in float below this
  static constexpr int kScaleOffset = 64;            // see scale_offset()
  static constexpr float kRoundShift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to integer
  // ln 2 split so that k * kLn2Hi is exact for |k| < 2^11.
  static constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
};
template <>
struct Traits<double> {
  using Bits = uint64_t;
  static constexpr int kMantissa = 52;
  static constexpr Bits kBias = 1023;
  static constexpr double kExpLo = -746.0, kExpHi = 710.0;
  static constexpr double kExpm1Lo = -45.0;
  static constexpr int kScaleOffset = 512;
  static constexpr double kRoundShift = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
};

using simd::Lane;
// The bits of V's lanes as unsigned and signed integers.
template <class V>
using Bits = simd::Rebind<V, typename Traits<Lane<V>>::Bits>;
template <class V>
using SBits = simd::Rebind<V, std::make_signed_t<typename Traits<Lane<V>>::Bits>>;

template <class V>
NNK_INLINE Bits<V> to_bits(V x) {
  Bits<V> b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
template <class V>
NNK_INLINE V from_bits(Bits<V> b) {
  V x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}
// Two's complement reinterpretations (for vectors, simd::convert between same-width lanes).
template <class V>
NNK_INLINE SBits<V> as_signed(Bits<V> k) {
  return simd::convert<SBits<V>>(k);
}
template <class V>
NNK_INLINE Bits<V> as_unsigned(SBits<V> k) {
  return simd::convert<Bits<V>>(k);
}
// |x| and copysign for V (std:: has them for scalars only).
template <class V>
NNK_INLINE V abs(V x) {
  if constexpr (simd::kIsVector<V>)
    return from_bits<V>(to_bits(x) & ~to_bits(-V{}));  // -0.0: the sign bit alone
  else
    return std::fabs(x);
}
// -|x| (e^-|x| is where the exp family starts): on vectors one OR of the sign bit, not an AND
// and a negation.
template <class V>
NNK_INLINE V neg_abs(V x) {
  if constexpr (simd::kIsVector<V>)
    return from_bits<V>(to_bits(x) | to_bits(-V{}));
  else
    return -std::fabs(x);
}
template <class V>
NNK_INLINE V copysign(V magnitude, V sign) {
  if constexpr (simd::kIsVector<V>) {
    const Bits<V> sign_bit = to_bits(-V{});
    return from_bits<V>((to_bits(magnitude) & ~sign_bit) | (to_bits(sign) & sign_bit));
  } else {
    return std::copysign(magnitude, sign);
  }
}

// NaN-preserving helpers: comparisons with NaN are false, so the NaN operand must be the one
// returned by the false arm.
// value and the bounds are V or a scalar of V's lane type.
template <class V, class U>
NNK_INLINE V keep_nan(V x, U value) {
  static_assert(std::is_same_v<U, V> || std::is_same_v<U, Lane<V>>);
  return x != x ? x : value;
}
// v, hidden from the optimizer. For clamp bounds that are constants, set in a constructor
// outside the loop: with run-time bounds GCC 12 compiles clamp_keep_nan to one max and one min
// (vmaxps/vminps keep a NaN x when x is their second operand), with constants to a chain of
// compares and blends (relu6 forward ~25% slower than hardtanh in L2).
template <class T>
NNK_INLINE T opaque(T v) {
  __asm__("" : "+m"(v));
  return v;
}
// max(x, lo) and min(x, hi), a NaN x kept. On AVX-512 vectors one vmaxps / vminps each (they
// return their second operand, x, where either is NaN): GCC 12 compiles the select to a
// compare and a blend, and the exp sweep of softmax and cross-entropy ran 5 % faster with one
// instruction fewer. Scalars stay selects, which the vectorizer compiles as it will.
template <class V, class U>
NNK_INLINE V at_least(V x, U lo) {
  static_assert(std::is_same_v<U, V> || std::is_same_v<U, Lane<V>>);
  if constexpr (simd::kHasMinMax<V>)
    return simd::max_or_second(lo - V{}, x);  // lo - 0 broadcasts lo exactly, -0 too
  else
    return x < lo ? lo : x;
}
template <class V, class U>
NNK_INLINE V at_most(V x, U hi) {
  static_assert(std::is_same_v<U, V> || std::is_same_v<U, Lane<V>>);
  if constexpr (simd::kHasMinMax<V>)
    return simd::min_or_second(hi - V{}, x);
  else
    return x > hi ? hi : x;
}
template <class V, class U>
NNK_INLINE V clamp_keep_nan(V x, U lo, U hi) {
  return at_most(at_least(x, lo), hi);
}

// Coefficients of a polynomial, highest degree first, evaluated by Horner's rule.
// Float coefficients serve double too (widened exactly): a float-accuracy polynomial in double.
template <class V, class C, size_t N>
NNK_INLINE V horner(V x, const C (&c)[N]) {
  static_assert(N >= 2 && (std::is_same_v<C, Lane<V>> || std::is_same_v<C, float>));
  V acc = x * c[0] + c[1];
#pragma GCC unroll 32
  for (size_t i = 2; i < N; ++i) acc = acc * x + c[i];
  return acc;
}

// Coefficients of (e^r - 1 - r) / r^2 = 1/2! + r/3! + ..., highest first, |r| <= ln2/2.
// ExpPoly<T> gives T's full accuracy by Chebyshev fits (cpp/tools/fit_exp.py): float degree 4
// (1e-8 relative), double degree 10 (2e-19). ExpPolyForFloat is for double
// arithmetic whose result is rounded to float (GELU, mish compute in double): Taylor to r^7/9!,
// truncation 7e-12.
template <class T>
struct ExpPoly;
template <>
struct ExpPoly<float> {
  static constexpr float c[5] = {0.0013926176119935579f, 0.0083631730745137109f,
                                 0.041666554662050534f, 0.16666577025597988f, 0.5f};
};
template <>
struct ExpPoly<double> {
  static constexpr double c[11] = {2.0914679376583935e-9,
                                   2.5105206373957011e-8,
                                   2.7557273661348636e-7,
                                   2.7557255425746434e-6,
                                   2.4801587325533364e-5,
                                   0.00019841269874800492,
                                   0.0013888888888883752,
                                   0.0083333333333261409,
                                   0.04166666666666667,
                                   0.16666666666666671,
                                   0.5};
};
struct ExpPolyForFloat {
  static constexpr double c[8] = {1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0,
                                  1.0 / 120.0,    1.0 / 24.0,    1.0 / 6.0,    0.5};
};
// The polynomial for T, or the float-accuracy one when a float result is computed in double.
template <class T, class Result = T>
using ExpPolyFor =
    std::conditional_t<sizeof(Result) == 4 && sizeof(T) == 8, ExpPolyForFloat, ExpPoly<T>>;

// x = k ln2 + r with |r| <= ln2/2 (Cody-Waite); k as a floating-point value (kf) and as a two's
// complement integer. e^r = 1 + r + r^2 q. An argument may come as x + lo, lo below x's ulp
// (a rounding error carried apart): lo joins r before q is evaluated at r.
template <class V>
struct Reduced {
  V r, q, kf;
  Bits<V> k;
  // e^r - 1, accurate relative to itself near 0.
  NNK_INLINE V expm1_r() const { return r + r * r * q; }
  // e^r. Float with FMA: Horner's rule to the end, 1 + r (1 + r q), one operation fewer and
  // more accurate (every float in [-104, 0]: 0.94 ulp at most, 0.47 % not correctly rounded,
  // against 1.06 ulp and 0.81 % for 1 + expm1_r()); without FMA its extra rounding of 1 + r q
  // makes it worse (1.21 ulp). Double keeps the sum: the Horner form took float64
  // softplus(beta=0.3) to 5 ulp.
  NNK_INLINE V exp_r() const {
    using T = Lane<V>;
    if constexpr (sizeof(T) == 4 && kFma)
      return r * (r * q + T(1)) + T(1);
    else
      return expm1_r() + T(1);
  }
  // The reduction of x + n ln2: e^x 2^n, the scaling moved by n (a product formed 2^n larger,
  // or smaller, so that it neither underflows nor overflows before its own scaling).
  NNK_INLINE Reduced shifted(int n) const {
    using T = Lane<V>;
    Reduced s = *this;
    s.k += typename Traits<T>::Bits(n);
    s.kf += T(n);
    return s;
  }
};
struct NoLowPart {};
template <class V, class Poly = ExpPoly<Lane<V>>, class Lo = NoLowPart>
NNK_INLINE Reduced<V> reduce_exp(V x, Lo lo = {}) {
  using T = Lane<V>;
  using F = Traits<T>;
  const V shifted = x * T(1.4426950408889634) + F::kRoundShift;
  const V kf = shifted - F::kRoundShift;
  const Bits<V> k = to_bits(shifted) - to_bits(F::kRoundShift);
  V r = (x - kf * F::kLn2Hi) - kf * F::kLn2Lo;
  if constexpr (!std::is_same_v<Lo, NoLowPart>) r += lo;
  return {r, horner(r, Poly::c), kf, k};
}

// 2^k for k in the normal exponent range (unsigned arithmetic: no UB on garbage k from NaN).
template <class V>
NNK_INLINE V pow2(Bits<V> k) {
  return from_bits<V>((k + Traits<Lane<V>>::kBias) << Traits<Lane<V>>::kMantissa);
}
// y * 2^k for k from about -2*bias to 2*bias: two factors, so results may be subnormal or overflow.
template <class V>
NNK_INLINE V scale(V y, Bits<V> k) {
  const Bits<V> half = as_unsigned<V>(as_signed<V>(k) >> 1);
  return y * pow2<V>(half) * pow2<V>(k - half);
}

// y * 2^k as y * 2^(k + off) * 2^-off: the first factor is normal for k in [1 - bias - off,
// bias - off], and the product with the constant rounds once where the result is subnormal or
// overflows. Cheaper than scale() where the sign of k is known: off = kScaleOffset for k <= 0,
// -kScaleOffset for k >= 0.
template <class V, int Off>
NNK_INLINE V scale_offset(V y, Bits<V> k) {
  using LaneBits = typename Traits<Lane<V>>::Bits;
  return y * pow2<V>(k + LaneBits(Off)) * pow2<Lane<V>>(LaneBits(-Off));
}

// y * 2^k for the k of a reduction: one vscalef where the level has it (the same result: one
// rounding, where the result is subnormal or overflows), else scale_offset() for Off != 0, or
// scale() for k of either sign.
template <class V, int Off>
NNK_INLINE V scale_reduced(V y, const Reduced<V>& red) {
  if constexpr (simd::kHasScalef<V>)
    return simd::scalef(y, red.kf);
  else if constexpr (Off == 0)
    return scale(y, red.k);
  else
    return scale_offset<V, Off>(y, red.k);
}

// e^x from its reduction; Off as for scale_reduced (0: k of either sign).
template <class V, int Off = 0>
NNK_INLINE V exp_of(const Reduced<V>& red) {
  return scale_reduced<V, Off>(red.exp_r(), red);
}

// e^x, <= 1.5 ulp.
template <class V, class Poly = ExpPoly<Lane<V>>>
NNK_INLINE V exp(V x) {
  using T = Lane<V>;
  x = clamp_keep_nan(x, Traits<T>::kExpLo, Traits<T>::kExpHi);
  return exp_of(reduce_exp<V, Poly>(x));
}

// e^x for x <= 0 (or NaN), <= 1.5 ulp, the common case (sigmoid, softplus, softmax, ...): one
// lower clamp and a one-sided scaling (scale_reduced). About 1.5x faster than exp() in a vector
// loop.
template <class V, class Poly = ExpPoly<Lane<V>>>
NNK_INLINE V exp_nonpositive(V x) {
  using T = Lane<V>;
  using F = Traits<T>;
  x = at_least(x, F::kExpLo);
  return exp_of<V, F::kScaleOffset>(reduce_exp<V, Poly>(x));
}

// a b + c rounded once where the level has FMA (explicit vectors: AVX-512, AVX2), else a b + c.
template <class V>
NNK_INLINE V fma(V a, V b, V c) {
  if constexpr (simd::kIsVector<V>)
    return simd::fma(a, b, c);
  else if constexpr (kFma)
    return std::fma(a, b, c);
  else
    return a * b + c;
}

// y e^x for x reduced to red: y e^r by Horner's rule, y + y r (1 + r q), before the scaling by
// 2^k (scale_reduced; Off as there, 0 for k of either sign); one rounding fewer than y times
// exp's result, which counts in a product of float factors (GELU, mish), and no subnormal e^x
// rounded in between (silu's x e^x is normal where e^x is not). Explicit FMAs: the float
// kernels' bounds do not rest on contraction. |y| e^r must not overflow (|y| < max / sqrt 2).
template <int Off = 0, class V>
NNK_INLINE V times_exp(V y, const Reduced<V>& red) {
  using T = Lane<V>;
  const V yr = y * red.r;
  return scale_reduced<V, Off>(fma(yr, fma(red.r, red.q, V{} + T(1)), y), red);
}

// 2^k of a reduction with k in the normal range: one vscalef where the level has it.
template <class V>
NNK_INLINE V pow2_of(const Reduced<V>& red) {
  if constexpr (simd::kHasScalef<V>)
    return simd::scalef(V{} + Lane<V>(1), red.kf);
  else
    return pow2<V>(red.k);
}

// e^x - 1 from x's reduction for small k: 2^k (e^r - 1) + (2^k - 1) keeps e^r - 1's relative
// accuracy near 0. x >= kExpm1Lo keeps 2^k normal.
template <class V>
NNK_INLINE V expm1_of(const Reduced<V>& red) {
  const V p = pow2_of(red);
  return p * red.expm1_r() + (p - Lane<V>(1));
}

// e^x - 1, <= 2 ulp, exact sign and relative accuracy near 0. NonPositive: the caller
// guarantees x <= 0 (or NaN), which drops the overflow path.
template <class V, bool NonPositive = false>
NNK_INLINE V expm1(V x) {
  using T = Lane<V>;
  using F = Traits<T>;
  x = NonPositive ? at_least(x, F::kExpm1Lo) : clamp_keep_nan(x, F::kExpm1Lo, F::kExpHi);
  const Reduced<V> red = reduce_exp(x);
  // Where k is large, 2^k may be inf, but that lane takes the other result.
  const V small = expm1_of(red);
  if constexpr (NonPositive) return small;
  // Large k: the -1 no longer cancels anything, and e^x reaches the overflow threshold.
  const V large = exp_of<V, -F::kScaleOffset>(red) - T(1);
  return as_signed<V>(red.k) > 1 ? large : small;
}

// 1 - e^x for x <= 0 (or NaN): (1 - 2^k) - 2^k (e^r - 1), as accurate as expm1 and in as many
// operations, with +0 at x = 0 (-expm1(x) gives -0 there, 0 - expm1(x) costs a subtraction
// that the negation folded into expm1's last FMA did not: logsigmoid's f' from y 7 % slower).
// f' from y of softplus and logsigmoid, a sigma that is >= +0.
template <class V>
NNK_INLINE V one_minus_exp(V x) {
  using T = Lane<V>;
  const Reduced<V> red = reduce_exp(at_least(x, Traits<T>::kExpm1Lo));
  const V p = pow2_of(red);
  return (T(1) - p) - p * red.expm1_r();
}

// log(1 + x) for x >= -1, <= 2 ulp.
template <class T>
struct Log1pPoly;
template <>
struct Log1pPoly<float> {  // atanh series in s^2, s^2 <= 0.0295: to z^3/9
  static constexpr float c[4] = {1.f / 9, 1.f / 7, 1.f / 5, 1.f / 3};
};
template <>
struct Log1pPoly<double> {  // to z^9/21
  static constexpr double c[10] = {1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13,
                                   1.0 / 11, 1.0 / 9,  1.0 / 7,  1.0 / 5,  1.0 / 3};
};
// Moderate: the caller guarantees x in [-1/2, 1] or NaN (log1p(e^-|x|) in softplus and
// friends), which drops the special cases.
template <class V, bool Moderate = false>
NNK_INLINE V log1p(V x) {
  using T = Lane<V>;
  using F = Traits<T>;
  using LaneBits = typename F::Bits;
  using LaneSBits = std::make_signed_t<LaneBits>;
  const V u = T(1) + x;
  // u = 2^k m with m in [sqrt(1/2), sqrt(2)).
  const LaneBits sqrt_half = to_bits(T(0.70710678118654752440));
  const LaneBits one = to_bits(T(1));
  const Bits<V> ub = to_bits(u) + (one - sqrt_half);
  const SBits<V> k = as_signed<V>(ub >> F::kMantissa) - LaneSBits(F::kBias);
  const LaneBits mantissa_mask = (LaneBits(1) << F::kMantissa) - 1;
  const V m = from_bits<V>((ub & mantissa_mask) + sqrt_half);
  // The rounding error of u = 1 + x, as a first-order correction log(1 + c/u) ~ c/u.
  V c = (x - (u - T(1))) / u;
  if constexpr (!Moderate) c = k < LaneSBits(F::kMantissa) ? c : V{};
  const V f = m - T(1);
  const V s = f / (T(2) + f);
  const V z = s * s;
  const V log_m = T(2) * s + T(2) * s * z * horner(z, Log1pPoly<T>::c);
  const V kf = simd::convert<V>(k);
  const V r = kf * F::kLn2Hi + (log_m + (kf * F::kLn2Lo + c));
  if constexpr (Moderate) return keep_nan(x, r);
  const T inf = std::numeric_limits<T>::infinity();
  const V special = x == inf ? V{} + inf : (x == T(-1) ? V{} - inf : V{} + (inf - inf));
  return (x > T(-1)) & (x < inf) ? r : keep_nan(x, special);
}

// log(1 + y) for y in [0, 1] (or NaN), the log1p(e^-|x|) of softplus and its kin. Float: y q(y),
// one polynomial (cpp/tools/fit_log.py; 1.4e-8 relative with float coefficients) and no
// division, where log1p's reduction takes two. Double keeps the reduction: the polynomial would
// need degree 20.
struct Log1pUnitPoly {
  static constexpr float c[10] = {
      -0.0031760570184319597f, 0.019542527261014101f, -0.056373612830107328f, 0.10543623795419526f,
      -0.15269667074363288f,   0.19663274257204805f,  -0.24951616262872074f,  0.33329710498917749f,
      -0.49999892648063279f,   0.99999999465629198f};
};
template <class V, class Result = Lane<V>>
NNK_INLINE V log1p_unit(V y) {
  if constexpr (sizeof(Lane<V>) == 4)
    return y * horner(y, Log1pUnitPoly::c);
  else if constexpr (sizeof(Result) == 4)  // double rounded to float: float's polynomial serves
    return y * horner(y, Log1pUnitPoly::c);
  else
    return log1p<V, true>(y);
}

// tanh(x) = -expm1(-2|x|) / (2 + expm1(-2|x|)) with the sign of x, <= 2.5 ulp: computed as
// e / (2 + e) (<= 0), whose sign copysign replaces.
template <class V>
NNK_INLINE V tanh(V x) {
  using T = Lane<V>;
  const V e = expm1<V, true>(T(-2) * abs(x));
  return copysign(e / (T(2) + e), x);  // copysign ignores the sign of -tanh|x|
}

// sigma(x) and sigma(-x) = 1 - sigma(x) from one exp(-|x|): both accurate near 0 and 1.
template <class V>
struct SigmoidPair {
  V pos, neg;
};
template <class V, class Poly = ExpPoly<Lane<V>>>
NNK_INLINE SigmoidPair<V> sigmoid_pair(V x) {
  using T = Lane<V>;
  const V e = exp_nonpositive<V, Poly>(neg_abs(x));
  const V s = T(1) / (T(1) + e);
  const V se = e * s;
  const auto nonnegative = x >= T(0);
  return {nonnegative ? s : se, nonnegative ? se : s};
}
template <class V, class Poly = ExpPoly<Lane<V>>>
NNK_INLINE V sigmoid(V x) {
  return sigmoid_pair<V, Poly>(x).pos;
}

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|), never overflowing.
template <class V>
NNK_INLINE V softplus(V x) {
  using T = Lane<V>;
  return at_least(x, T(0)) + log1p_unit(exp_nonpositive(neg_abs(x)));
}

// The rounding error of p = fl(a * b): a * b = p + err exactly (Dekker/Veltkamp where no FMA
// instruction exists). 0 where |p| >= 1024 or p is not finite: callers use it for first-order
// corrections of exp's argument, and e^-1024 is 0 in both formats.
template <class T>
NNK_INLINE T two_prod_err(T a, T b, T p) {
  if constexpr (kFma) {
    return std::fabs(p) < T(1024) ? std::fma(a, b, -p) : T(0);
  } else {
    constexpr T split = sizeof(T) == 4 ? T(4097) : T(134217729);  // 2^ceil(p/2) + 1
    const T ca = split * a, cb = split * b;
    const T ah = ca - (ca - a), al = a - ah;
    const T bh = cb - (cb - b), bl = b - bh;
    const T err = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    // The split overflows past max / split: 0 there too (swish's x near the largest number).
    constexpr T big = sizeof(T) == 4 ? T(0x1p114) : T(0x1p995);
    return std::fabs(p) < T(1024) && std::fabs(a) < big && std::fabs(b) < big ? err : T(0);
  }
}

// sigma(x) sigma(-x) = e / (1 + e)^2 with e = e^-|x|: the derivative of sigma (and of tanh,
// 4 sigma(2x) sigma(-2x)). (1 + e)^2 is carried with its rounding errors (1 + e's is exact as
// e - (d - 1), the square's from an FMA), so only e, 1 / d^2, e / d^2 and the correction round:
// sigmoid's and tanh's grads 2.3 ulp at most (4.2M points); e / (d d) alone reached 4.1, the
// product of sigmoid_pair's halves (each with the division's and e's errors) 4.8, over their
// stated 4.
template <class V>
NNK_INLINE V sigmoid_slope(V x) {
  using T = Lane<V>;
  const V e = exp_nonpositive(neg_abs(x));
  const V d = T(1) + e, d_err = e - (d - T(1));
  V dd = d * d, dd_err;
  if constexpr (simd::kIsVector<V>)
    dd_err = simd::fma(d, d, -dd);
  else
    dd_err = two_prod_err(d, d, dd);
  const V inv = T(1) / dd, q = e * inv;
  return q - q * ((dd_err + T(2) * d * d_err) * inv);
}

// h(t) = erfc(z) e^{z^2} / t, t = 1/(1 + z/2), on [t_min, 1] mapped to u in [-1, 1]; generated
// by cpp/tools/fit_erfc.py. Float: 11 coefficients in powers of u, highest first, on |x| <= 14
// (relative error 5e-9). Double: 28 Chebyshev coefficients on |x| <= 38 (2e-17).
constexpr double kErfcTailTMinFloat = 0.1680743603534396881194004;
constexpr double kErfcTailTMin = 0.06896551724137931034482759;
constexpr double kErfcTailFloat[11] = {
    4.9881017829973245449e-6,  6.5746788673152293952e-6, -6.4688509070319860082e-5,
    3.9538411022443354388e-6,  5.8993373036321906127e-4, -6.0860672335104112287e-4,
    -6.1177716119391463416e-3, 5.891305359612956042e-3,  1.0171537600851945664e-1,
    3.2601560446301262195e-1,  5.7256333261642936478e-1};
constexpr double kErfcTailDouble[28] = {
    5.9420612830620962184e-1,   3.4616476170134124585e-1,  5.8092047764336007407e-2,
    2.5370278966690461518e-3,   -9.3087132619113961619e-4, -9.5763082114641061486e-5,
    2.529330786558169643e-5,    2.333690424480575943e-6,   -9.7884205598771623067e-7,
    -1.4636069201927198824e-8,  3.9985126539525179387e-8,  -3.8427615387050572324e-9,
    -1.2722548224115745206e-9,  3.6040441065073663899e-10, 4.5423819717807217915e-12,
    -1.886008971327972835e-11,  3.2234373976733658582e-12, 3.8426596850157516351e-13,
    -2.5761553187075915232e-13, 3.3848412570552380898e-14, 7.4071649382717400783e-15,
    -3.772079001113215231e-15,  4.6709371113176727466e-16, 1.1843062246583256918e-16,
    -6.0777071059003854777e-17, 8.5835843576551742787e-18, 1.6909934029356299775e-18,
    -1.0719024063954399974e-18};

template <size_t N>
NNK_INLINE double clenshaw(double x, const double (&c)[N]) {
  double b1 = 0, b2 = 0;
#pragma GCC unroll 32
  for (size_t j = N - 1; j >= 1; --j) {
    const double b0 = c[j] + 2 * x * b1 - b2;
    b2 = b1;
    b1 = b0;
  }
  return c[0] + x * b1 - b2;
}

// The standard normal CDF and density: Phi(-|x|) = t h(t) exp(-x^2/2) / 2 keeps full relative
// accuracy in the far tail, x^2 being split exactly so that exp sees no rounded argument.
// Returned in double: the float kernels round once, after multiplying by x.
struct NormalCdfPdf {
  double cdf, pdf;
};
template <class T>
NNK_INLINE NormalCdfPdf normal_cdf_pdf(T x);

// Float: exp's reduction and polynomial run in float (16 lanes, <= 1 ulp), its scaling in double
// (e^{-x^2/2} is subnormal in float from |x| = 13.2, where x phi(x), GELU's grad, is not: a
// rounded subnormal cost it 3.7 ulp); h and the products run in double, so the result stays
// within 2 ulp.
template <>
NNK_INLINE NormalCdfPdf normal_cdf_pdf(float x) {
  // From |x| = 15 on, Phi(-|x|) and phi(x) (and x times them) are 0 in float: exactly 0 there.
  const float a = clamp_keep_nan(std::fabs(x), 0.0f, 15.0f);
  const float sq = a * a;
  const Reduced<float> red = reduce_exp(-0.5f * sq);  // >= -112.5: e^r 2^(k + 64) is normal
  const float e_up = red.exp_r() * pow2<float>(red.k + 64u);
  const double gauss =
      a >= 15.0f ? 0.0 : double(e_up) * 0x1p-64 * (1.0 - 0.5 * double(two_prod_err(a, a, sq)));
  // t = 1/d: a float division (16 lanes) refined by one Newton step in double (error 2^-46).
  const double d = 1.0 + double(a) * 0.35355339059327376220;
  const double t0 = double(1.0f / float(d));
  const double t = t0 + t0 * (1.0 - d * t0);
  const double u = (t - kErfcTailTMinFloat) * (2.0 / (1.0 - kErfcTailTMinFloat)) - 1.0;
  const double lower = 0.5 * t * horner(u, kErfcTailFloat) * gauss;
  return {x < 0 ? lower : keep_nan(double(x), 1.0 - lower), gauss * 0.39894228040143267794};
}

template <>
NNK_INLINE NormalCdfPdf normal_cdf_pdf(double x) {
  const double a = clamp_keep_nan(std::fabs(x), 0.0, 40.0);  // exp(-800) is exactly 0
  const double sq = a * a;
  const double gauss = exp_nonpositive(-0.5 * sq) * (1.0 - 0.5 * two_prod_err(a, a, sq));
  const double t = 1.0 / (1.0 + a * 0.35355339059327376220);
  const double u = (t - kErfcTailTMin) * (2.0 / (1.0 - kErfcTailTMin)) - 1.0;
  const double lower = 0.5 * t * clenshaw(u, kErfcTailDouble) * gauss;
  return {x < 0 ? lower : keep_nan(x, 1.0 - lower), gauss * 0.39894228040143267794};
}

// Phi(-a) e^{a^2/2} on |a - i| <= 1/2, i = 0..15, a polynomial of degree 7 in u = a - i each:
// one column per interval, highest power first; generated by cpp/tools/fit_erfc.py (relative
// error 5e-8, mostly the constant term's own rounding).
alignas(64) constexpr float kGaussTailFloat[8][16] = {
    {-0.0019628115f, -0.00031299487f, -3.910676e-05f, -6.9970556e-06f, -8.352043e-07f,
     -8.11012e-07f, -6.831607e-07f, -2.546271e-07f, 5.6380474e-09f, 9.455617e-08f, -1.5643316e-07f,
     2.1604723e-08f, 1.269538e-07f, -2.2063102e-08f, 7.8275185e-08f, -4.9977583e-08f},
    {0.009100097f, 0.0010585171f, 0.00015329146f, 2.9447448e-05f, 6.227816e-06f, 3.7120633e-06f,
     2.4599374e-06f, 1.2744949e-06f, 3.3197688e-07f, -2.3857672e-07f, 1.0047131e-06f,
     -2.021086e-07f, -9.557275e-07f, 2.0692579e-07f, -3.0741984e-07f, 4.4743106e-07f},
    {-0.026071945f, -0.0031670681f, -0.00054983585f, -0.00012799501f, -3.7753765e-05f,
     -1.2879675e-05f, -4.9714463e-06f, -2.2350096e-06f, -1.1439123e-06f, -6.3708364e-07f,
     -2.624224e-07f, -2.0051017e-07f, -1.7075986e-07f, -6.42938e-08f, -8.367248e-08f,
     -1.0593489e-08f},
    {0.06238147f, 0.009248978f, 0.0019740802f, 0.0005559866f, 0.0001931686f, 7.753647e-05f,
     3.5096175e-05f, 1.7640687e-05f, 9.74011e-06f, 5.818918e-06f, 3.0380324e-06f, 2.297288e-06f,
     1.8730768e-06f, 8.9822856e-07f, 8.247058e-07f, 2.975596e-07f},
    {-0.1329661f, -0.025085332f, -0.0067043323f, -0.0023105422f, -0.00095869065f, -0.00045650275f,
     -0.00024121602f, -0.00013812643f, -8.428725e-05f, -5.4141754e-05f, -3.628723e-05f,
     -2.5173353e-05f, -1.798657e-05f, -1.3190585e-05f, -9.876884e-06f, -7.548211e-06f},
    {0.24999912f, 0.06210742f, 0.021312913f, 0.009156342f, 0.004605837f, 0.0025953483f,
     0.001590567f, 0.0010391329f, 0.00071364135f, 0.0005100655f, 0.00037670333f, 0.00028571274f,
     0.00022166794f, 0.0001754205f, 0.00014108214f, 0.00011517825f},
    {-0.39894226f, -0.137364f, -0.06273828f, -0.034400433f, -0.021299716f, -0.014345755f,
     -0.010266393f, -0.007687903f, -0.005961911f, -0.004753181f, -0.0038753392f, -0.0032184946f,
     -0.0027146277f, -0.002319892f, -0.0020050332f, -0.0017499453f},
    {0.5f, 0.2615783f, 0.168102f, 0.12151395f, 0.09441064f, 0.0769193f, 0.06477931f, 0.05589348f,
     0.049122546f, 0.04379879f, 0.039506692f, 0.03597489f, 0.033018973f, 0.030509414f, 0.028352661f,
     0.026479488f},
};

// The normal tail for float on explicit vectors (AVX-512, AVX2), all in float: Phi(-a) =
// P(a) e^{-a^2/2} for a = |x| clamped to 15 (beyond, gelu is x or 0 in float), P from
// the table above (simd::lookup16 per coefficient instead of normal_cdf_pdf's division and
// double polynomial: GELU 3.2x faster on AVX-512, 2.4x on AVX2), e^{-a^2/2} kept as exp's
// reduction 2^k e^r, a^2's rounding error joining r (exact to first order).
template <class V>
struct GaussTail {
  V a, p;            // |x| clamped to 15 (NaN kept); P(a)
  Reduced<V> gauss;  // e^{-a^2/2} = 2^k e^r (times_exp)
};
template <class V>
NNK_INLINE GaussTail<V> gauss_tail(V x) {
  static_assert(simd::kIsVector<V> && std::is_same_v<Lane<V>, float>);
  using F = Traits<float>;
  const V a = at_most(abs(x), 15.0f);
  // a + 1.5 2^23 holds a rounded to an integer, i, in its low bits; u = a - i (a NaN's: any
  // index, u NaN).
  const Bits<V> i = to_bits(a + F::kRoundShift);
  const V u = simd::minus_nearest(a);
  V p = simd::lookup16(kGaussTailFloat[0], i);
  constexpr size_t kTerms = std::size(kGaussTailFloat);
#pragma GCC unroll kTerms
  for (size_t j = 1; j < kTerms; ++j) p = simd::fma(p, u, simd::lookup16(kGaussTailFloat[j], i));
  const V sq = a * a;
  return {a, p, reduce_exp(-0.5f * sq, -0.5f * simd::fma(a, a, -sq))};
}

// simd::reduce_add behind a template, so that the call in a discarded branch over double
// vectors (not dependent on T) is not resolved on the levels without explicit vectors.
template <class V>
NNK_INLINE double lane_sum(V acc) {
  return simd::reduce_add(acc);
}

// A sum in double of vectors. Float ones at a quarter of the cost of widening each (its two
// conversions per vector were the bottleneck of float32 log_cosh and BCE with logits: 1.17-1.19x
// faster at 64K, 1 thread): eight at a time in float, alternately into two partial sums (each
// within 3 u of the sum of its four terms' magnitudes, u = 2^-24, and their sum within 1 u
// more), then widened. The terms enter scaled by 1/16 (in the FMA that adds them: exact but
// for terms below 2^-122, which lose up to 4 low bits), so that eight terms up to the float
// maximum cannot overflow, and no second pass is needed (the inputs may be gone: out=pred); the
// double total is scaled back. The order is fixed by the number of vectors added, so the bits
// do not depend on threads.
template <class T>
struct VectorSum {
  static constexpr bool kRuns = sizeof(T) == 4;
  static constexpr T kScale = T(1.0 / 16);
  simd::Vec<double> total{};
  simd::Vec<T> even{}, odd{};
  int count = 0;
  NNK_INLINE void add(simd::Vec<T> v) {
    if constexpr (!kRuns) {
      total += simd::widen_fold(v);
    } else {
      const simd::Vec<T> scale = simd::Vec<T>{} + kScale;
      if (count & 1)
        odd = simd::fma(v, scale, odd);
      else
        even = simd::fma(v, scale, even);
      if (++count == 8) {
        total += simd::widen_fold(even + odd);
        even = odd = simd::Vec<T>{};
        count = 0;
      }
    }
  }
  NNK_INLINE double sum() const {
    if constexpr (!kRuns) return lane_sum(total);
    return lane_sum(total + simd::widen_fold(even + odd)) / double(kScale);
  }
};

// The sum over a contiguous row, in double, of a[k] b[k] (each product exact) or, Products
// false, of a[k] (b unused): the sums of the softmax backward passes. On AVX-512 explicit
// vectors with a masked tail.
template <bool Products, class T>
NNK_INLINE double sum_sweep(const T* a, const T* b, index_t n) {
  using V = simd::Vec<T>;
  if constexpr (simd::kHasMinMax<V>) {
    simd::Vec<double> acc0{}, acc1{};
    V errors{};
    simd::for_each<true, T>(0, n, [&](index_t k, auto lanes) {
      const V av = simd::load(a + k, lanes);
      if constexpr (sizeof(T) == 8) {
        acc0 += Products ? av * simd::load(b + k, lanes) : av;
      } else if constexpr (Products) {
        // p + e = a b exactly; the e (below 2^-24 p) summed in float are exact enough.
        const V bv = simd::load(b + k, lanes), p = av * bv;
        errors += simd::fma(av, bv, -p);
        acc0 += simd::widen_fold(p);
      } else {
        const auto [alo, ahi] = simd::widen(av);
        acc0 += alo;
        acc1 += ahi;
      }
    });
    return lane_sum(acc0 + acc1 + simd::widen_fold(errors));
  } else {
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (index_t k = 0; k < n; ++k) sum += Products ? double(a[k]) * double(b[k]) : double(a[k]);
    return sum;
  }
}

// The other sweep of softmax and cross-entropy: the maximum of a contiguous row, NaN skipped
// (-inf for a row of NaN, or empty); NanIfAny: NaN if the row holds one. On AVX-512 explicit
// vectors, two accumulators and a masked tail: the `omp simd` loop's peel, epilogue and
// reduction cost a 33-class float32 row 12 ns, now 3 (100 classes: 13 -> 7 ns).
template <bool NanIfAny, class T>
NNK_INLINE T max_sweep(const T* x, index_t n) {
  using V = simd::Vec<T>;
  constexpr T kLow = -std::numeric_limits<T>::infinity();
  if constexpr (simd::kHasMinMax<V>) {
    constexpr index_t L = simd::kLanes<T>;
    V m0 = kLow - V{}, m1 = m0;
    bool nan = false;
    index_t k = 0;
    // max_or_second(v, m) is m where v is NaN: the NaN is skipped, and noted apart.
    for (; k + 2 * L <= n; k += 2 * L) {
      const V v0 = simd::load(x + k, simd::Full{}), v1 = simd::load(x + k + L, simd::Full{});
      if (NanIfAny) nan |= simd::any_nan(v0) | simd::any_nan(v1);
      m0 = simd::max_or_second(v0, m0);
      m1 = simd::max_or_second(v1, m1);
    }
    for (; k < n; k += L) {
      const V v = k + L <= n ? simd::load(x + k, simd::Full{}) : simd::load_or(x + k, n - k, kLow);
      if (NanIfAny) nan |= simd::any_nan(v);
      m0 = simd::max_or_second(v, m0);
    }
    return NanIfAny && nan ? std::numeric_limits<T>::quiet_NaN()
                           : simd::reduce_max(simd::max_or_second(m0, m1));
  } else {
    T m = kLow;
    int nans = 0;
#pragma omp simd reduction(max : m) reduction(+ : nans)
    for (index_t k = 0; k < n; ++k) {
      m = x[k] > m ? x[k] : m;
      if (NanIfAny) nans += x[k] != x[k];
    }
    return nans ? std::numeric_limits<T>::quiet_NaN() : m;
  }
}

// The next row's input and output (either may be null), for exp_sum_store to prefetch where
// there is a next row and rows take up to 256 KB: a long row comes from memory for its first
// pass (the max) and is swept again from L2, and without prefetching the memory sat idle
// meanwhile. float32 (256, 32000), caches evicted between calls, medians: cross_entropy 2800 ->
// 2030 us on 1 thread, 1607 -> 1513 on 2; log_softmax 2590 -> 1990, 1541 -> 1388. Prefetching
// the output too serves the stores' reads for ownership (2060 -> 1935 us, warm). With the input
// prefetched, rows of 512 KB ran 6 % faster, of 1 MB the same, of 2 MB 5 % slower: the bound
// keeps the row, its output and the next within a 1 MB L2.
template <class T>
struct NextRow {
  const T* in;
  T* out;
};
template <class T>
NNK_INLINE NextRow<T> next_row(const T* in, T* out, index_t n, bool has_next) {
  if (!has_next || n * index_t(sizeof(T)) > 256 * 1024) return {nullptr, nullptr};
  return {in + n, out ? out + n : nullptr};
}
// The cache line at element k of the next row's input and output, into L2 (locality 2:
// prefetcht1), the output's for writing.
template <class T>
NNK_INLINE void prefetch_line(NextRow<T> next, index_t k) {
  if (next.in) __builtin_prefetch(next.in + k, 0, 2);
  if (next.out) __builtin_prefetch(next.out + k, 1, 2);
}

// The sweep of softmax and cross-entropy: dst[k] = e^(z[k] - m) for a row of n (m >= its
// maximum), returning the sum in double. On AVX-512 explicit vectors, so exp scales with
// vscalef, two at a time into two double accumulators (cross_entropy (1024, 1000): 1.12x the
// auto-vectorized loop, 1 thread). Each vector widens before it is added: adding two float
// vectors first was 1.1x faster still, but rounds a small e^(z - m) sharing a lane with the
// row's 1 to 2^-24, and log S of a confident row (S = 1 + tiny) lost its relative accuracy.
// The order of the sum is fixed by n alone. dst may be z. For log S, see sum_minus_one.
// next (see next_row): the next row's input and output, prefetched into L2 meanwhile (on
// AVX-512: the auto-vectorized loop elsewhere has no place for one prefetch per cache line).
template <class T>
NNK_INLINE double exp_sum_store(const T* z, T m, T* dst, index_t n, NextRow<T> next = {}) {
  using V = simd::Vec<T>;
  if constexpr (simd::kHasScalef<V>) {
    constexpr index_t L = simd::kLanes<T>;
    simd::Vec<double> acc0{}, acc1{};
    index_t k = 0;
    for (; k + 2 * L <= n; k += 2 * L) {
      prefetch_line(next, k);  // a vector is a cache line
      prefetch_line(next, k + L);
      const V e0 = exp_nonpositive(simd::load(z + k, simd::Full{}) - m);
      const V e1 = exp_nonpositive(simd::load(z + k + L, simd::Full{}) - m);
      simd::store(dst + k, e0, simd::Full{});
      simd::store(dst + k + L, e1, simd::Full{});
      acc0 += simd::widen_fold(e0);
      acc1 += simd::widen_fold(e1);
    }
    simd::for_each<true, T>(k, n, [&](index_t i, auto lanes) {
      const V e = simd::first(exp_nonpositive(simd::load(z + i, lanes) - m), lanes);
      simd::store(dst + i, e, lanes);
      acc0 += simd::widen_fold(e);
    });
    return lane_sum(acc0 + acc1);
  } else {
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (index_t k = 0; k < n; ++k) {
      const T e = exp_nonpositive(z[k] - m);
      dst[k] = e;
      sum += double(e);
    }
    return sum;
  }
}

// S - 1 for a row's S = sum e^(z - m) >= 1 (m its max), from `sum`, S summed plainly in
// double; e(k) gives the row's e^(z - m) again. log S = log1p(S - 1) is the loss of a confident
// row, S - 1 tiny, but a plain sum adds the row's 1 into an accumulator where every later term
// rounds at 2^-53 absolute, up to n 2^-53 in all (a 1000-class float32 row of loss 8e-9 came
// out 2.7e-6 relative off). Where that could exceed 2^-27 of S - 1 in float, or in double the
// n 2^-53 relative that any sum of n terms may carry (S - 1 < 1), the row is summed again
// without its terms equal to 1 (their count is what that sum lacks of `sum`). Only those rows
// pay the second pass (20-40 % more for them): testing each term in the sweep itself cost every
// row 17-27 % (cross_entropy (1024, 1000), 1 thread). Short: a row of a few terms, summed in a
// plain loop.
template <class T, bool Short = false, class E>
NNK_INLINE double sum_minus_one(double sum, index_t n, E&& e) {
  const double s1 = sum - 1;
  const double redo_below = sizeof(T) == 4 ? double(n) * 0x1p-26 : 1.0;
  if (!(s1 < redo_below)) return s1;  // NaN: as it is
  double rest = 0;
#pragma omp simd if (!Short) reduction(+ : rest)
  for (index_t k = 0; k < n; ++k) {
    const T ek = e(k);
    rest += ek == T(1) ? 0.0 : double(ek);
  }
  const double ones = std::nearbyint(sum - rest);  // sum's error is far below 1/2
  return (ones - 1) + rest;
}

}  // namespace vm
}  // namespace NNK_ISA
}  // namespace nnk
