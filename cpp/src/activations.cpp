// Activation kernels: the loops around activations.hpp, compiled once per ISA level (CMake
// defines NNK_ISA and the -march flags), and this level's kernel table.
#include "nnkernels/activations.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace nnk {
namespace NNK_ISA {
namespace {

// out[i] = f(act, in[i]...) for every i in [0, n), in parallel chunks (map_range), large
// outputs by non-temporal stores (simd::streams). Each chunk constructs its own copy of the
// activation so its parameters stay in registers (a shared one may alias `out` to the compiler).
template <template <class> class Act, class T, class F, class... In>
void map_elements(T* out, index_t n, const Params& p, F f, const In*... in) {
  const bool stream = simd::streams(out, n, in...);
  parallel_for(n, Act<T>::kGrain, [&](index_t b, index_t e) {
    const Act<T> act(p);
    map_range_streamed(stream, act, f, b, e, out, in...);
  });
}

template <template <class> class Act, class T>
void forward_kernel(const T* x, T* out, index_t n, const Params& p) {
  if constexpr (std::is_same_v<Act<T>, Identity<T>>) {
    // A copy: memcpy (glibc's rep movsb up to L2's size) beats a vector loop on arrays about
    // L2's size (float64, 64K: 5.5 against 7.0 us); large outputs stay streamed, and in place
    // there is nothing to do (the binding has refused a partial overlap).
    if (x == out) return;
    if (!simd::streams(out, n, x)) {
      return parallel_for(n, Act<T>::kGrain, [&](index_t b, index_t e) {
        std::memcpy(out + b, x + b, sizeof(T) * static_cast<size_t>(e - b));
      });
    }
  }
  map_elements<Act>(out, n, p, kForward, x);
}

template <template <class> class Act, class T>
void grad_kernel(const T* x, T* out, index_t n, const Params& p) {
  map_elements<Act>(out, n, p, kGrad, x);
}

template <template <class> class Act, class T>
void backward_from_input_kernel(const T* dy, const T* x, T* out, index_t n, const Params& p) {
  map_elements<Act>(out, n, p, kBackwardFromInput, dy, x);
}

template <template <class> class Act, class T>
void backward_from_output_kernel(const T* dy, const T* y, T* out, index_t n, const Params& p) {
  map_elements<Act>(out, n, p, kBackwardFromOutput, dy, y);
}

// ---- PReLU: y = x > 0 ? x : w[c] x over a (outer, channels, inner) view ----

// Calls body(begin, end, slopes, per_element) over runs of elements in parallel: a run shares
// the slope slopes[0] (one channel), or, when every element has its own slope (RReLU's sampled
// slopes, or x of shape (1, C)), element j uses slopes[j - begin]. per_element is a
// std::integral_constant, so each form compiles to its own vectorized loop.
template <class T, class Body>
void for_each_slope_run(ChannelShape s, const T* w, Body&& body) {
  const bool per_element = s.outer == 1 && s.inner == 1;
  parallel_for(s.outer * s.channels * s.inner, kGrainMemoryBound, [&](index_t b, index_t e) {
    if (per_element) return body(b, e, w + b, std::true_type{});
    for (index_t i = b; i < e;) {
      const index_t row = i / s.inner, end = std::min(e, (row + 1) * s.inner);
      body(i, end, w + row % s.channels, std::false_type{});
      i = end;
    }
  });
}

template <class T>
void prelu_forward(const T* x, const T* w, T* y, ChannelShape s) {
  for_each_slope_run(s, w, [&](index_t b, index_t e, const T* slopes, auto per_element) {
#pragma omp simd
    for (index_t j = b; j < e; ++j) {
      const T slope = slopes[decltype(per_element)::value ? j - b : 0];
      y[j] = x[j] > T(0) ? x[j] : slope * x[j];
    }
  });
}

// Elements per block of dw's partial sums: a constant of its own, so retuning a grain does not
// change dw's bits.
constexpr index_t kPreluBlock = 128 * 1024;

// dw[c] = sum of dy x over x <= 0 in channel c, partial sums per fixed block of outer rows,
// combined in block order: the same bits for any thread count.
template <class T>
void prelu_dweight(const T* dy, const T* x, T* dw, ChannelShape s) {
  const index_t per_block =
      std::max<index_t>(1, kPreluBlock / std::max<index_t>(1, s.channels * s.inner));
  const index_t blocks = (s.outer + per_block - 1) / per_block;
  std::vector<double> partial(static_cast<size_t>(blocks * s.channels), 0.0);
  parallel_for(blocks, 1, [&](index_t b0, index_t b1) {
    for (index_t blk = b0; blk < b1; ++blk) {
      double* acc = &partial[blk * s.channels];
      for (index_t o = blk * per_block; o < std::min(s.outer, (blk + 1) * per_block); ++o)
        for (index_t c = 0; c < s.channels; ++c) {
          const index_t base = (o * s.channels + c) * s.inner;
          double sum = 0;
#pragma omp simd reduction(+ : sum)
          for (index_t j = base; j < base + s.inner; ++j)
            sum += x[j] > T(0) ? 0.0 : double(dy[j]) * double(x[j]);
          acc[c] += sum;
        }
    }
  });
  for (index_t c = 0; c < s.channels; ++c) {
    double total = 0;
    for (index_t blk = 0; blk < blocks; ++blk) total += partial[blk * s.channels + c];
    dw[c] = T(total);
  }
}

// dx = dy (x > 0 ? 1 : w[c]); dw as above.
template <class T>
void prelu_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, ChannelShape s) {
  // dw first: dx may be dy or x itself (out=), and dw reads both.
  if (dw != nullptr) prelu_dweight(dy, x, dw, s);
  for_each_slope_run(s, w, [&](index_t b, index_t e, const T* slopes, auto per_element) {
#pragma omp simd
    for (index_t j = b; j < e; ++j) {
      const T slope = slopes[decltype(per_element)::value ? j - b : 0];
      dx[j] = dy[j] * (x[j] > T(0) ? T(1) : slope);
    }
  });
}

// ---- softmax / log_softmax along the middle axis of (outer, n, inner) ----
// Sums accumulate in double (also for float): rows of 50k classes stay within a few ulp.

// Calls row(o, i, stride) for every (outer, inner) pair; rows are independent, so threads split
// them. The common case, reducing along the last axis (inner == 1), passes the stride as a
// compile-time 1 so the row loops vectorize as contiguous ones.
template <class Row>
void for_each_row(ChannelShape s, index_t cost_per_row, Row&& row) {
  const index_t grain =
      std::max<index_t>(1, kGrainTranscendental / std::max<index_t>(1, cost_per_row));
  parallel_for(s.outer * s.inner, grain, [&](index_t b, index_t e) {
    if (s.inner == 1) {
      for (index_t r = b; r < e; ++r) row(r, 0, std::integral_constant<index_t, 1>{});
    } else {
      for (index_t r = b; r < e; ++r) row(r / s.inner, r % s.inner, s.inner);
    }
  });
}

// A NaN anywhere in a row reaches every output through the sum, so the max may skip it.
template <class T, class Stride>
NNK_INLINE T row_max_skipping_nan(const T* xr, index_t n, Stride st) {
  if constexpr (std::is_same_v<Stride, std::integral_constant<index_t, 1>>) {
    return vm::max_sweep<false>(xr, n);
  } else {
    T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
    for (index_t k = 0; k < n; ++k) m = xr[k * st] > m ? xr[k * st] : m;
    return m;
  }
}

// log_softmax of contiguous rows (the common case), a block of rows at a time: each row's max
// and its sweep (cross-entropy's, storing e^(z - m) in y, overwritten below: so y must not be
// x, and the binding runs in-place log_softmax on a copy of x), then log S for the whole block
// in one vector loop, then the outputs. A row's own scalar log1p is a chain of dependent
// operations (~50 cycles): (4096, 100) float32 ran 1.3x slower with it, (4096, 33) 1.4x.
template <class T>
void log_softmax_rows(const T* x, T* y, index_t rows, index_t n) {
  // Blocks of up to 32 rows and about 16K elements: the last sweep finds the block's x and y
  // still in L2 (32 rows of 32000 classes did not: (256, 32000) ran 10-25 % slower).
  constexpr index_t kRows = 32;
  const index_t grain = std::max<index_t>(1, kGrainTranscendental / std::max<index_t>(1, n));
  const index_t block = std::min(kRows, grain);
  parallel_for(rows, grain, [&](index_t b, index_t e) {
    T maxima[kRows];
    double logs[kRows];
    for (index_t r0 = b; r0 < e; r0 += block) {
      const index_t count = std::min(block, e - r0);
      for (index_t i = 0; i < count; ++i) {
        const T* xr = x + (r0 + i) * n;
        T* yr = y + (r0 + i) * n;
        maxima[i] = row_max_skipping_nan(xr, n, std::integral_constant<index_t, 1>{});
        const auto next = vm::next_row(xr, yr, n, r0 + i + 1 < e);
        const double sum = vm::exp_sum_store(xr, maxima[i], yr, n, next);
        logs[i] = vm::sum_minus_one<T>(sum, n, [&](index_t k) { return yr[k]; });
      }
#pragma omp simd
      for (index_t i = 0; i < count; ++i) logs[i] = vm::log1p(logs[i]);
      for (index_t i = 0; i < count; ++i) {
        const T* xr = x + (r0 + i) * n;
        T* yr = y + (r0 + i) * n;
        const T m = maxima[i], lse = T(logs[i]);
#pragma omp simd
        for (index_t k = 0; k < n; ++k) yr[k] = (xr[k] - m) - lse;
      }
    }
  });
}

template <bool Log, class T>
void softmax_kernel(const T* x, T* y, ChannelShape s) {
  const index_t n = s.channels;
  if (Log && s.inner == 1) return log_softmax_rows(x, y, s.outer, n);
  for_each_row(s, n, [&](index_t o, index_t i, auto st) {
    const T* xr = x + o * n * s.inner + i;
    T* yr = y + o * n * s.inner + i;
    const T m = row_max_skipping_nan(xr, n, st);
    // Contiguous softmax rows: cross-entropy's sweep, storing e^(z - m) in y.
    constexpr bool kContiguous = std::is_same_v<decltype(st), std::integral_constant<index_t, 1>>;
    double sum = 0;
    if constexpr (kContiguous && !Log) {
      sum = vm::exp_sum_store(xr, m, yr, n, vm::next_row(xr, yr, n, o + 1 < s.outer));
    } else {
#pragma omp simd reduction(+ : sum)
      for (index_t k = 0; k < n; ++k) {
        const T ek = vm::exp_nonpositive(xr[k * st] - m);
        if (!Log) yr[k * st] = ek;
        sum += double(ek);
      }
    }
    if (Log) {
      const double s1 = vm::sum_minus_one<T>(
          sum, n, [&](index_t k) { return vm::exp_nonpositive(xr[k * st] - m); });
      const T lse = T(vm::log1p(s1));
#pragma omp simd
      for (index_t k = 0; k < n; ++k) yr[k * st] = (xr[k * st] - m) - lse;
    } else {
      const T inv = T(1.0 / sum);
#pragma omp simd
      for (index_t k = 0; k < n; ++k) yr[k * st] *= inv;
    }
  });
}

// softmax: dx = y (dy - sum(dy y)); log_softmax: dx = dy - e^y sum(dy). Contiguous rows sum
// with vm::sum_sweep and run the second loop on AVX-512 explicit vectors where the level has
// them (a masked tail instead of the omp simd loop's peel and epilogue, and exp's vscalef):
// float32, 1 thread, softmax backward (4096, 100) 153 -> 115 us, log_softmax backward
// (4096, 100) 244 -> 152 us, (1024, 1000) 420 -> 296 us.
// (map_range's activation for the row loops below: they have no parameters.)
struct NoParameters {};

template <bool Log, class T>
void softmax_backward_kernel(const T* dy, const T* y, T* dx, ChannelShape s) {
  const index_t n = s.channels;
  const bool stream = simd::streams(dx, s.outer * n * s.inner, dy, y);
  for_each_row(s, n, [&](index_t o, index_t i, auto st) {
    // Row pointers as locals: loops that read the closure's pointers do not vectorize well.
    const index_t base = o * n * s.inner + i;
    const T* dyr = dy + base;
    const T* yr = y + base;
    T* dxr = dx + base;
    if constexpr (std::is_same_v<decltype(st), std::integral_constant<index_t, 1>>) {
      const T d = T(vm::sum_sweep<!Log>(dyr, yr, n));
      const auto dx_of = [d](const NoParameters&, auto dyk, auto yk) NNK_INLINE_LAMBDA {
        if constexpr (Log)
          return dyk - vm::exp(yk) * d;
        else
          return yk * (dyk - d);
      };
      map_range_streamed(stream, NoParameters{}, dx_of, 0, n, dxr, dyr, yr);
    } else {
      double dot = 0;
#pragma omp simd reduction(+ : dot)
      for (index_t k = 0; k < n; ++k)
        dot += Log ? double(dyr[k * st]) : double(dyr[k * st]) * double(yr[k * st]);
      const T d = T(dot);
#pragma omp simd
      for (index_t k = 0; k < n; ++k) {
        const index_t j = k * st;
        dxr[j] = Log ? dyr[j] - vm::exp(yr[j]) * d : yr[j] * (dyr[j] - d);
      }
    }
  });
}

template <class T>
TypedTable<T> make_typed_table() {
  TypedTable<T> t{};
#define NNK_FILL(name, Type)                                                    \
  t.forward[int(Act::name)] = &forward_kernel<Type, T>;                         \
  t.grad[int(Act::name)] = &grad_kernel<Type, T>;                               \
  t.backward_from_input[int(Act::name)] = &backward_from_input_kernel<Type, T>; \
  if constexpr (HasGradFromOutput<Type<T>, T>::value)                           \
    t.backward_from_output[int(Act::name)] = &backward_from_output_kernel<Type, T>;
  NNK_ELEMENTWISE_ACTIVATIONS(NNK_FILL)
#undef NNK_FILL
  t.prelu = &prelu_forward<T>;
  t.prelu_backward = &prelu_backward<T>;
  t.softmax = &softmax_kernel<false, T>;
  t.log_softmax = &softmax_kernel<true, T>;
  t.softmax_backward = &softmax_backward_kernel<false, T>;
  t.log_softmax_backward = &softmax_backward_kernel<true, T>;
  return t;
}

}  // namespace

// The other families' parts of this level's table, compiled with the same flags.
void fill_losses(KernelTable& k);  // losses.cpp
void fill_layers(KernelTable& k);  // layers.cpp
OptimTable optim_table();          // optimizers.cpp

namespace {

#define NNK_STR2(x) #x
#define NNK_STR(x) NNK_STR2(x)

KernelTable make_table() {
  KernelTable k{};
  k.isa = NNK_STR(NNK_ISA);
  k.f32 = make_typed_table<float>();
  k.f64 = make_typed_table<double>();
  k.optim = optim_table();
#define NNK_INFO(name, Type)                                               \
  k.info[int(Act::name)] = {#name, Type<float>::kUlp, Type<float>::kFloor, \
                            ulp_any_level<Type<float>>(),                  \
                            HasGradFromOutput<Type<float>, float>::value};
  NNK_ELEMENTWISE_ACTIVATIONS(NNK_INFO)
#undef NNK_INFO
  fill_losses(k);
  fill_layers(k);
  return k;
}

}  // namespace

const KernelTable& kernel_table() {
  static const KernelTable table = make_table();
  return table;
}

}  // namespace NNK_ISA
}  // namespace nnk
