// A thin vector type for the loops where the auto-vectorizer falls short: AVX-512's vscalef
// (2^k scaling in one instruction, subnormal and overflowing results rounded once) has no
// scalar spelling that GCC would vectorize into it. Vec<T> is a GCC vector extension filling
// this level's widest register; arithmetic, comparisons and ?: work lane by lane with scalar
// operands broadcast, so the vecmath templates compile for T and Vec<T> alike. Included only
// by kernel sources, inside the per-ISA namespace.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

// Levels with explicit vectors' tails, fma and lookup16: AVX-512, and AVX2 with FMA.
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define NNK_VECTOR_OPS 1
#else
#define NNK_VECTOR_OPS 0
#endif
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "nnkernels/dispatch.hpp"

#define NNK_INLINE inline __attribute__((always_inline))
// The same for a lambda, after its parameter list: GCC 12 left 137 element functions (the
// kForward ... lambdas around softplus and its kin) out of line, a call per vector, 2-6 % of
// their time.
#define NNK_INLINE_LAMBDA __attribute__((always_inline))

namespace nnk {
namespace NNK_ISA {
namespace simd {

#if defined(__AVX512F__)
inline constexpr int kBytes = 64;
#elif defined(__AVX__)
inline constexpr int kBytes = 32;
#else
inline constexpr int kBytes = 16;
#endif

template <class T>
struct VectorOf {
  typedef T type __attribute__((vector_size(kBytes)));
};
template <class T>
using Vec = typename VectorOf<T>::type;
template <class T>
inline constexpr index_t kLanes = kBytes / sizeof(T);

// Lane<V>: the element type of a vector, V itself for a scalar. Rebind<V, U>: V with U lanes.
template <class V, class = void>
struct LaneOf {
  using type = V;
  template <class U>
  using rebind = U;
};
template <class V>
struct LaneOf<V, std::void_t<decltype(std::declval<V&>()[0])>> {
  using type = std::remove_cv_t<std::remove_reference_t<decltype(std::declval<V&>()[0])>>;
  template <class U>
  using rebind = Vec<U>;
};
template <class V>
using Lane = typename LaneOf<V>::type;
template <class V, class U>
using Rebind = typename LaneOf<V>::template rebind<U>;
template <class V>
inline constexpr bool kIsVector = !std::is_same_v<V, Lane<V>>;

// A scalar is its own single lane (the vector forms are with the ISA's intrinsics below).
template <class T, class = std::enable_if_t<std::is_floating_point_v<T>>>
NNK_INLINE bool any_below(T v, T bound) {
  return v < bound;
}

// The return type of a method that is a template over T or Vec<T>: V for those two types, a
// substitution failure otherwise, so callers can ask whether it takes vectors. Vectorizable =
// false keeps a method scalar (e.g. its math leaves T for double).
template <class V, class T, bool Vectorizable = true>
using ScalarOrVec =
    std::enable_if_t<std::is_same_v<V, T> || (Vectorizable && std::is_same_v<V, Vec<T>>), V>;

// Lane-wise conversion of values (integers to floating point), or a reinterpretation of the
// bits between integer lanes of the same width (signed <-> unsigned).
template <class To, class From>
NNK_INLINE To convert(From x) {
  if constexpr (kIsVector<From>)
    return __builtin_convertvector(x, To);
  else
    return static_cast<To>(x);
}

// The element loops: body(i, n) handles the n elements from i through load and store, which
// take n as One (a scalar element: the compiler vectorizes the loop), Full (a whole
// Vec<T>) or an index_t below kLanes<T> (a tail, its missing lanes loaded as 0). So one body
// serves a loop on explicit vectors (OnVectors) and an auto-vectorized one.
// Whole is the tag of the whole vectors (Streamed: non-temporal stores).
struct One {};
struct Full {};
template <bool OnVectors, class T, class Whole = Full, class Body>
NNK_INLINE void for_each(index_t b, index_t e, Body&& body) {
  if constexpr (OnVectors) {
    index_t i = b;
    for (; i + kLanes<T> <= e; i += kLanes<T>) body(i, Whole{});
    if (i < e) body(i, e - i);
  } else {
#pragma omp simd
    for (index_t i = b; i < e; ++i) body(i, One{});
  }
}

// for_each on explicit vectors for a body in two parts, compute(i, n) (the loads and the
// arithmetic) and finish(i, n, result) (the stores): K whole vectors computed before any is
// finished, so their long dependent chains overlap where the compiler could not move the next
// loads above a store that might alias them (float32 log_cosh at 1M, 1 thread: 1.1x with K =
// 4). finish sees the vectors in order. Whole: the tag of the whole vectors, as for for_each.
template <int K, class T, class Whole = Full, class Compute, class Finish>
NNK_INLINE void for_each_grouped(index_t b, index_t e, Compute&& compute, Finish&& finish) {
  constexpr index_t L = kLanes<T>;
  index_t i = b;
  for (; i + K * L <= e; i += K * L) {
    decltype(compute(i, Whole{})) results[K];
#pragma GCC unroll 8
    for (int k = 0; k < K; ++k) results[k] = compute(i + k * L, Whole{});
#pragma GCC unroll 8
    for (int k = 0; k < K; ++k) finish(i + k * L, Whole{}, results[k]);
  }
  for_each<true, T, Whole>(i, e, [&](index_t j, auto n) { finish(j, n, compute(j, n)); });
}

template <class T>
NNK_INLINE T load(const T* p, One) {
  return *p;
}
template <class T>
NNK_INLINE void store(T* p, T v, One) {
  *p = v;
}
// The empty asm keeps a loaded vector in a register: otherwise GCC 12's register allocator
// folds the load into every instruction that uses it, so (1 - y) * (1 + y) read y from memory
// twice (tanh's backward): where the arrays are in L3 and start at different offsets into a
// line, each of those loads straddles two lines, and float64 tanh backward at 1M elements took
// 472 us against 384 with one load (1 thread, harness medians; PyTorch 300-330).
template <class T>
NNK_INLINE Vec<T> load(const T* p, Full) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
#if defined(__SSE2__)  // "v": an SSE/AVX register
  __asm__("" : "+v"(v));
#endif
  return v;
}
template <class T>
NNK_INLINE void store(T* p, Vec<T> v, Full) {
  std::memcpy(p, &v, sizeof v);
}
#if defined(__AVX512F__)
// Tails as masked moves: lanes outside the mask are not touched, nor can they fault.
NNK_INLINE Vec<float> load(const float* p, index_t n) {
  return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p);
}
NNK_INLINE Vec<double> load(const double* p, index_t n) {
  return _mm512_maskz_loadu_pd(__mmask8((1u << n) - 1), p);
}
NNK_INLINE void store(float* p, Vec<float> v, index_t n) {
  _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), v);
}
NNK_INLINE void store(double* p, Vec<double> v, index_t n) {
  _mm512_mask_storeu_pd(p, __mmask8((1u << n) - 1), v);
}
// The lanes a tail loaded, the others 0 (for sums over a tail).
NNK_INLINE Vec<float> first(Vec<float> v, index_t n) {
  return _mm512_maskz_mov_ps(__mmask16((1u << n) - 1), v);
}
NNK_INLINE Vec<double> first(Vec<double> v, index_t n) {
  return _mm512_maskz_mov_pd(__mmask8((1u << n) - 1), v);
}
template <class V>
NNK_INLINE V first(V v, Full) {
  return v;
}
// A tail's lanes, the others `fill` (-inf for a maximum).
NNK_INLINE Vec<float> load_or(const float* p, index_t n, float fill) {
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), __mmask16((1u << n) - 1), p);
}
NNK_INLINE Vec<double> load_or(const double* p, index_t n, double fill) {
  return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), __mmask8((1u << n) - 1), p);
}
// Whether any lane is NaN; the largest lane.
NNK_INLINE bool any_nan(Vec<float> v) { return _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) != 0; }
NNK_INLINE bool any_nan(Vec<double> v) { return _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q) != 0; }
// Whether any lane of v is below bound (NaN lanes are not): a vector's test for a rare path.
NNK_INLINE bool any_below(Vec<float> v, float bound) {
  return _mm512_cmp_ps_mask(v, _mm512_set1_ps(bound), _CMP_LT_OQ) != 0;
}
NNK_INLINE bool any_below(Vec<double> v, double bound) {
  return _mm512_cmp_pd_mask(v, _mm512_set1_pd(bound), _CMP_LT_OQ) != 0;
}
NNK_INLINE float reduce_max(Vec<float> v) { return _mm512_reduce_max_ps(v); }
// The lanes added as a tree: a fixed order (the same bits for any thread count), three
// dependent additions instead of eight.
NNK_INLINE double reduce_add(Vec<double> v) { return _mm512_reduce_add_pd(v); }
NNK_INLINE double reduce_max(Vec<double> v) { return _mm512_reduce_max_pd(v); }
// The float vector of the low and the high half, each lane rounded once.
NNK_INLINE Vec<float> narrow(Vec<double> lo, Vec<double> hi) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
}
// The lanes of v in double, folded to one double vector (the low and the high half added).
// Intrinsic halves: halves through memcpy make GCC store and reload the vector (a
// store-forwarding stall, 20% slower).
NNK_INLINE Vec<double> widen_fold(Vec<double> v) { return v; }
// a b + c, rounded once.
NNK_INLINE Vec<float> fma(Vec<float> a, Vec<float> b, Vec<float> c) {
  return _mm512_fmadd_ps(a, b, c);
}
NNK_INLINE Vec<double> fma(Vec<double> a, Vec<double> b, Vec<double> c) {
  return _mm512_fmadd_pd(a, b, c);
}
// table[i % 16] lane by lane (the low 4 bits of i): one vpermps, where a gather would load
// each lane apart. The piecewise polynomials' coefficients (vm::gauss_tail).
NNK_INLINE Vec<float> lookup16(const float (&table)[16], Vec<std::uint32_t> i) {
  // (the maskz form with every lane set: the plain one trips GCC 12's -Wmaybe-uninitialized)
  return _mm512_maskz_permutexvar_ps(__mmask16(0xFFFF), __m512i(i), load(table, Full{}));
}
// x - round(x), rounding to nearest even: one vreduceps.
NNK_INLINE Vec<float> minus_nearest(Vec<float> x) {
  return _mm512_reduce_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// The low and high half of v in double. Intrinsic halves: halves through memcpy make GCC store
// and reload the vector (a store-forwarding stall, 20% slower).
NNK_INLINE std::pair<Vec<double>, Vec<double>> widen(Vec<float> v) {
  const __m512 x = v;
  return {_mm512_cvtps_pd(_mm512_castps512_ps256(x)),
          _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)))};
}
// The lanes of v in double, folded to one double vector (the low and the high half added).
NNK_INLINE Vec<double> widen_fold(Vec<float> v) {
  const auto [lo, hi] = widen(v);
  return lo + hi;
}
#endif
#if NNK_VECTOR_OPS && !defined(__AVX512F__)
// AVX2 runs explicit vectors only for the float paths of GELU, gelu(tanh) and mish (their table
// lookup and error-free products are written for vectors): tails, fma, lookup16. Tails go
// through a buffer on the stack, not vmaskmovps: AMD documents faults on its masked-off
// elements as implementation dependent, and a tail may end next to an unmapped page.
NNK_INLINE Vec<float> load(const float* p, index_t n) {
  float lanes[kLanes<float>] = {};
  std::memcpy(lanes, p, static_cast<size_t>(n) * sizeof(float));
  return load(lanes, Full{});
}
NNK_INLINE void store(float* p, Vec<float> v, index_t n) {
  float lanes[kLanes<float>];
  store(lanes, v, Full{});
  std::memcpy(p, lanes, static_cast<size_t>(n) * sizeof(float));
}
NNK_INLINE Vec<float> fma(Vec<float> a, Vec<float> b, Vec<float> c) {
  return _mm256_fmadd_ps(a, b, c);
}
// table[i % 16] lane by lane: a vpermps from each half of the table (the low 3 bits of i), the
// blend picking by bit 3 (moved to the sign bit, which vblendvps reads).
NNK_INLINE Vec<float> lookup16(const float (&table)[16], Vec<std::uint32_t> i) {
  const __m256i idx = __m256i(i);
  const __m256 low = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), idx);
  const __m256 high = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + 8), idx);
  return _mm256_blendv_ps(low, high, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
}
NNK_INLINE Vec<float> minus_nearest(Vec<float> x) {
  return x - Vec<float>(_mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#endif
// Whether widen, narrow and the lane sums exist: explicit vectors' sums and widening run on
// AVX-512 only.
inline constexpr bool kHasWiden =
#if defined(__AVX512F__)
    true;
#else
    false;
#endif
#if !defined(__AVX512F__)
template <class V, class N>
V first(V v, N n) = delete;
template <class T>
Vec<T> load_or(const T* p, index_t n, T fill) = delete;
template <class V>
bool any_nan(V v) = delete;
template <class V>
bool any_below(V v, Lane<V> bound) = delete;
template <class V>
Lane<V> reduce_max(V v) = delete;
template <class V>
double reduce_add(V v) = delete;
template <class V>
Vec<double> widen_fold(V v) = delete;
template <class V>
std::pair<Vec<double>, Vec<double>> widen(V v) = delete;
template <class V>
Vec<float> narrow(V lo, V hi) = delete;
#endif
#if !NNK_VECTOR_OPS
template <class V>
V fma(V a, V b, V c) = delete;
template <class I>
Vec<float> lookup16(const float (&table)[16], I i) = delete;
template <class V>
V minus_nearest(V x) = delete;
#endif

// Whether this level has explicit vectors' tails, fma and lookup16.
inline constexpr bool kHasVectorOps = NNK_VECTOR_OPS;

// AVX-512 instructions for the explicit vectors: vscalef, y * 2^k for integral k (elsewhere
// kHasScalef<V> is false and vecmath scales through the exponent bits), and vmaxps / vminps.
#if defined(__AVX512F__)
template <class V>
inline constexpr bool kHasScalef = kIsVector<V> && sizeof(V) == 64;
// (The maskz forms with every lane set: the plain ones trip GCC 12's -Wmaybe-uninitialized.)
NNK_INLINE Vec<float> scalef(Vec<float> y, Vec<float> k) {
  return _mm512_maskz_scalef_ps(__mmask16(0xFFFF), y, k);
}
NNK_INLINE Vec<double> scalef(Vec<double> y, Vec<double> k) {
  return _mm512_maskz_scalef_pd(__mmask8(0xFF), y, k);
}
// max(a, b) and min(a, b) lane by lane, b where either is NaN (the instructions' rule).
template <class V>
inline constexpr bool kHasMinMax = kIsVector<V> && sizeof(V) == 64;
NNK_INLINE Vec<float> max_or_second(Vec<float> a, Vec<float> b) { return _mm512_max_ps(a, b); }
NNK_INLINE Vec<double> max_or_second(Vec<double> a, Vec<double> b) { return _mm512_max_pd(a, b); }
NNK_INLINE Vec<float> min_or_second(Vec<float> a, Vec<float> b) { return _mm512_min_ps(a, b); }
NNK_INLINE Vec<double> min_or_second(Vec<double> a, Vec<double> b) { return _mm512_min_pd(a, b); }
#else
template <class V>
inline constexpr bool kHasScalef = false;
template <class V>
inline constexpr bool kHasMinMax = false;
template <class V>
V max_or_second(V a, V b) = delete;
template <class V>
V min_or_second(V a, V b) = delete;
template <class V>
V scalef(V y, V k) = delete;
#endif

// ---- Non-temporal stores, for outputs of calls whose arrays far exceed the last-level cache ----
// A plain store first reads its cache line into the cache to own it, so an output written
// once costs two memory transfers; non-temporal stores filling a line send it to memory
// without that read and leave the caches alone. Float32, 16M elements, 1 thread: relu 3050 -> 2600
// us, dy * f'(x) 4640 -> 3370 us (cpp/tools/stream_stores.cpp); in place, where the line was just
// read, plain stores win (1M-4M elements: 1.8-2x).

// Whether a call that writes n elements at out and reads them from the arrays `in` streams its
// output: the level has non-temporal stores (x86), the arrays together exceed
// streaming_threshold() bytes (dispatch.cpp), out is not an input (in place, plain stores) and
// is aligned to its elements (so vector and line boundaries can be reached).
template <class T, class... In>
NNK_INLINE bool streams(const T* out, index_t n, const In*... in) {
#if !defined(__SSE2__)
  return false;
#endif
  return index_t(sizeof(T)) * n * index_t(1 + sizeof...(In)) > streaming_threshold() &&
         ((static_cast<const void*>(in) != out) && ...) &&
         reinterpret_cast<std::uintptr_t>(out) % sizeof(T) == 0;
}

// The elements from p to the next multiple of `bytes` (0 if p is one), up to n.
template <class T>
NNK_INLINE index_t to_boundary(const T* p, index_t bytes, index_t n) {
  const index_t into = index_t(reinterpret_cast<std::uintptr_t>(p) % bytes) / index_t(sizeof(T));
  return std::min(n, (bytes / index_t(sizeof(T)) - into) % (bytes / index_t(sizeof(T))));
}

// v at p, a kBytes-aligned address, by a non-temporal store.
template <class T>
NNK_INLINE void store_streaming(T* p, Vec<T> v) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4)
    _mm512_stream_ps(p, v);
  else
    _mm512_stream_pd(p, v);
#elif defined(__AVX__)
  if constexpr (sizeof(T) == 4)
    _mm256_stream_ps(p, v);
  else
    _mm256_stream_pd(p, v);
#elif defined(__SSE2__)
  if constexpr (sizeof(T) == 4)
    _mm_stream_ps(p, v);
  else
    _mm_stream_pd(p, v);
#else
  std::memcpy(p, &v, sizeof v);
#endif
}
// The streamed lines reach memory before another thread or the caller reads them
// (parallel_for fences after each chunk).
NNK_INLINE void fence_streaming() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// A whole vector whose store is non-temporal (its address kBytes-aligned): for_each's tag for
// the whole vectors of a loop that starts on out's boundary (map_range<Streamed>).
struct Streamed {};
template <class T>
NNK_INLINE Vec<T> load(const T* p, Streamed) {
  return load(p, Full{});
}
template <class T>
NNK_INLINE void store(T* p, Vec<T> v, Streamed) {
  store_streaming(p, v);
}

// out[b, e) written by fill(dst, i, len), which writes the len results from element i at dst,
// for the compiler's loops: the elements before out's first 64-byte boundary straight into
// out, then a 4 KB block at a time into a buffer in L1 copied to out, whole vectors by
// non-temporal stores (a last part vector by plain ones). The
// same bits as one fill(out + b, b, e - b): an element's result does not depend on whether the
// loop's vector body or its remainder computes it (tests/test_activations.py checks).
template <class T, class Fill>
NNK_INLINE void write_streamed(T* out, index_t b, index_t e, Fill&& fill) {
  const index_t head = to_boundary(out + b, 64, e - b);
  if (head > 0) fill(out + b, b, head);
  constexpr index_t kBlock = 4096 / sizeof(T);
  alignas(64) T block[kBlock];
  for (index_t i = b + head; i < e; i += kBlock) {
    const index_t len = std::min(kBlock, e - i);
    fill(block, i, len);
    index_t k = 0;
    for (; k + kLanes<T> <= len; k += kLanes<T>)
      store_streaming(out + i + k, load(block + k, Full{}));
    std::memcpy(out + i + k, block + k, sizeof(T) * (len - k));
  }
}

}  // namespace simd
}  // namespace NNK_ISA
}  // namespace nnk
