// Layer kernels for nnkernels.nn, compiled once per ISA level: bias + activation fused into one
// pass over a matmul output (every elementwise activation of activations.hpp, through the same
// X-macro), its backward with the bias gradient, and the dropout family.
#include "nnkernels/layers.hpp"

#include <algorithm>
#include <vector>

namespace nnk {
namespace NNK_ISA {
namespace {

// Rows in parallel, each in one pass (simd::for_each: explicit vectors where the activation's
// kernels use them); each chunk constructs its own activation (parameters stay in registers).
template <template <class> class Act, class T>
void bias_act_kernel(const T* z, const T* bias, T* pre, T* y, index_t rows, index_t cols,
                     const Params& p) {
  constexpr bool kVectors = kOnVectors<decltype(kForward), Act<T>, T>;
  const index_t grain = std::max<index_t>(1, Act<T>::kGrain / std::max<index_t>(1, cols));
  parallel_for(rows, grain, [&](index_t r0, index_t r1) {
    const Act<T> act(p);
    for (index_t r = r0; r < r1; ++r) {
      const T* zr = z + r * cols;
      T* yr = y + r * cols;
      if (pre != nullptr) {
        T* pr = pre + r * cols;
        simd::for_each<kVectors, T>(0, cols, [&](index_t j, auto n) {
          const auto a = simd::load(zr + j, n) + simd::load(bias + j, n);
          simd::store(pr + j, a, n);
          simd::store(yr + j, act.forward(a), n);
        });
      } else {
        simd::for_each<kVectors, T>(0, cols, [&](index_t j, auto n) {
          simd::store(yr + j, act.forward(simd::load(zr + j, n) + simd::load(bias + j, n)), n);
        });
      }
    }
  });
}

// Rows per block of the bias-gradient sums: a function of cols only, so the partial sums, and
// the order they are combined in, are the same for any thread count.
constexpr index_t kBlockElems = 16 * 1024;

// dz = dy * f'(saved) (the element function of the activation's backward kernels) and its
// block's per-column sums in double.
template <template <class> class Act, class T, bool FromOutput>
void bias_act_backward_kernel(const T* dy, const T* saved, T* dz, T* dbias, index_t rows,
                              index_t cols, const Params& p) {
  constexpr auto f = [] {
    if constexpr (FromOutput)
      return kBackwardFromOutput;
    else
      return kBackwardFromInput;
  }();
  constexpr bool kVectors = kOnVectors<decltype(f), Act<T>, T, T>;
  const index_t per_block = std::max<index_t>(1, kBlockElems / std::max<index_t>(1, cols));
  const index_t blocks = (rows + per_block - 1) / per_block;
  std::vector<double> partial(dbias != nullptr ? static_cast<size_t>(blocks * cols) : 0, 0.0);
  const index_t grain =
      std::max<index_t>(1, Act<T>::kGrain / (per_block * std::max<index_t>(1, cols)));
  parallel_for(blocks, grain, [&](index_t b0, index_t b1) {
    const Act<T> act(p);
    for (index_t blk = b0; blk < b1; ++blk) {
      double* acc = dbias != nullptr ? &partial[blk * cols] : nullptr;
      for (index_t r = blk * per_block; r < std::min(rows, (blk + 1) * per_block); ++r) {
        const T* dyr = dy + r * cols;
        const T* sr = saved + r * cols;
        T* dzr = dz + r * cols;
        if (kVectors || acc == nullptr) {
          // On explicit vectors, dz first and then the row, still in cache, into the sums:
          // faster than widening each vector into them (measured).
          map_range(act, f, 0, cols, dzr, dyr, sr);
          if (acc != nullptr) {
#pragma omp simd
            for (index_t j = 0; j < cols; ++j) acc[j] += double(dzr[j]);
          }
        } else {  // one pass, as GCC vectorizes it
#pragma omp simd
          for (index_t j = 0; j < cols; ++j) {
            const T g = f(act, dyr[j], sr[j]);
            dzr[j] = g;
            acc[j] += double(g);
          }
        }
      }
    }
  });
  if (dbias == nullptr) return;
  std::vector<double> total(static_cast<size_t>(cols), 0.0);
  for (index_t blk = 0; blk < blocks; ++blk) {
    const double* acc = &partial[blk * cols];
#pragma omp simd
    for (index_t j = 0; j < cols; ++j) total[j] += acc[j];
  }
  for (index_t j = 0; j < cols; ++j) dbias[j] = T(total[j]);
}

// Elements (group 1) or whole groups (channels) in parallel. NaN stays NaN: a dropped element is
// x * 0 + dropped, as PyTorch's mask multiply.
template <class T>
void dropout_kernel(const T* x, T* y, const DropoutArgs& a) {
  // Copies captured by value: loop-invariant in registers, so the loops vectorize.
  const T scale = T(a.scale), shift = T(a.shift), dropped = T(a.dropped);
  const std::uint64_t seed = a.seed, threshold = a.threshold;
  const index_t n = a.n, group = a.group;
  if (group == 1) {
    parallel_for(n, kGrainTranscendental, [=](index_t b, index_t e) {
#pragma omp simd
      for (index_t i = b; i < e; ++i) {
        const bool keep = kept(seed, threshold, std::uint64_t(i));
        y[i] = x[i] * (keep ? scale : T(0)) + (keep ? shift : dropped);
      }
    });
    return;
  }
  const index_t groups = group > 0 ? (n + group - 1) / group : 0;
  parallel_for(groups, std::max<index_t>(1, kGrainMemoryBound / group),
               [=](index_t g0, index_t g1) {
                 for (index_t g = g0; g < g1; ++g) {
                   const bool keep = kept(seed, threshold, std::uint64_t(g));
                   const T m = keep ? scale : T(0), c = keep ? shift : dropped;
                   const index_t b = g * group, e = std::min(n, b + group);
#pragma omp simd
                   for (index_t i = b; i < e; ++i) y[i] = x[i] * m + c;
                 }
               });
}

template <class T>
LayerTable<T> make_layer_table() {
  LayerTable<T> t{};
#define NNK_FILL(name, Type)                                                                  \
  t.bias_act[int(Act::name)] = &bias_act_kernel<Type, T>;                                     \
  t.bias_act_backward_from_input[int(Act::name)] = &bias_act_backward_kernel<Type, T, false>; \
  if constexpr (HasGradFromOutput<Type<T>, T>::value)                                         \
    t.bias_act_backward_from_output[int(Act::name)] = &bias_act_backward_kernel<Type, T, true>;
  NNK_ELEMENTWISE_ACTIVATIONS(NNK_FILL)
#undef NNK_FILL
  t.dropout = &dropout_kernel<T>;
  return t;
}

}  // namespace

void fill_layers(KernelTable& k) {
  k.layer_f32 = make_layer_table<float>();
  k.layer_f64 = make_layer_table<double>();
}

}  // namespace NNK_ISA
}  // namespace nnk
