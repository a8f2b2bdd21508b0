// Loss kernels: the loops around losses.hpp, compiled once per ISA level, and this level's part
// of the kernel table. Every kernel makes one pass over its inputs, writes the gradient (and
// the per-element or per-row values for reduction "none") and returns the sum of the values.
// Sums are deterministic: fixed blocks (their size depends only on the shape), partial sums in
// double combined in block order, so the bits do not depend on the thread count.
#include "nnkernels/losses.hpp"

#include <algorithm>
#include <type_traits>
#include <vector>

namespace nnk {
namespace NNK_ISA {
namespace {

constexpr index_t kBlock = 4096;  // elements per partial sum

// Whether a loss runs on explicit vectors: where its operator() is a template over scalar or
// vector and the level has vscalef (AVX-512), as for activations. float32, 1M, 1 thread:
// binary_cross_entropy_with_logits 529 -> 474 us; log_cosh within noise (543-565 us both ways).
template <class L, class T, class V = simd::Vec<T>>
inline constexpr bool kLossOnVectors =
    simd::kHasScalef<V> && std::is_invocable_v<const L&, V, V, V&>;

// The loop with its optional operands resolved at compile time, so it vectorizes.
template <template <class> class L, class T, bool HasW, bool HasG, bool HasV>
double pointwise_block(const PointArgs<T>& a, index_t b, index_t e) {
  const L<T> loss(a.p);
  const T s = T(a.scale);
  const T *p = a.pred, *t = a.target, *w = a.weight;
  T *grad = a.grad, *values = a.values;
  if constexpr (kLossOnVectors<L<T>, T>) {
    using V = simd::Vec<T>;
    struct Result {
      V value, grad;
    };
    vm::VectorSum<T> acc;
    simd::for_each_grouped<4, T>(
        b, e,
        [&](index_t i, auto n) NNK_INLINE_LAMBDA {
          Result r;
          r.value = loss(simd::load(p + i, n), simd::load(t + i, n), r.grad);
          if (HasW) {
            const V wi = simd::load(w + i, n);
            r.value *= wi;
            r.grad *= wi;
          }
          return r;
        },
        [&](index_t i, auto n, const Result& r) NNK_INLINE_LAMBDA {
          if (HasG) simd::store(grad + i, r.grad * s, n);
          if (HasV) simd::store(values + i, r.value, n);
          acc.add(simd::first(r.value, n));
        });
    return acc.sum();
  } else {
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (index_t i = b; i < e; ++i) {
      T g;
      T v = loss(p[i], t[i], g);
      if (HasW) {
        v *= w[i];
        g *= w[i];
      }
      if (HasG) grad[i] = g * s;
      if (HasV) values[i] = v;
      acc += double(v);
    }
    return acc;
  }
}

template <template <class> class L, class T>
double pointwise_kernel(const PointArgs<T>& a) {
  using Block = double (*)(const PointArgs<T>&, index_t, index_t);
  static constexpr Block kVariants[8] = {
      &pointwise_block<L, T, false, false, false>, &pointwise_block<L, T, false, false, true>,
      &pointwise_block<L, T, false, true, false>,  &pointwise_block<L, T, false, true, true>,
      &pointwise_block<L, T, true, false, false>,  &pointwise_block<L, T, true, false, true>,
      &pointwise_block<L, T, true, true, false>,   &pointwise_block<L, T, true, true, true>};
  const Block block = kVariants[(a.weight ? 4 : 0) + (a.grad ? 2 : 0) + (a.values ? 1 : 0)];
  return deterministic_sum(a.n, kBlock, 0.0, [&](index_t b, index_t e) { return block(a, b, e); });
}

// Losses that prepare a block of rows at once (exps(), then row_from() per row).
template <class L, class = void>
struct HasBlocks : std::false_type {};
template <class L>
struct HasBlocks<L, std::void_t<typename L::Block>> : std::true_type {};

// Rows in blocks of about 16K elements; label rows equal to ignore_index (p.v[2]) give 0.
template <template <class> class L, class T>
double row_kernel(const RowArgs<T>& a) {
  const index_t C = std::max<index_t>(a.classes, 1);
  const index_t rows_per_block = std::max<index_t>(1, kGrainTranscendental / C);
  const auto ignore = static_cast<std::int64_t>(a.p.v[2]);
  return deterministic_sum(a.rows * C, rows_per_block * C, 0.0, [&](index_t b, index_t e) {
    const L<T> loss(a);
    const index_t r0 = b / C, r1 = e / C;
    // Runs one row's bookkeeping (ignored rows, sample weight, values) around eval(r, g, gs).
    double acc = 0;
    auto each_row = [&](auto&& eval) {
      for (index_t r = r0; r < r1; ++r) {
        T* g = a.grad ? a.grad + r * C : nullptr;
        const double sw = a.sample_weight ? double(a.sample_weight[r]) : 1.0;
        double v = 0;
        if (a.labels && a.labels[r] == ignore) {
          if (g) std::fill(g, g + C, T(0));
        } else {
          v = sw * eval(r, g, a.scale * sw);
        }
        if (a.values) a.values[r] = T(v);
        acc += v;
      }
    };
    if constexpr (HasBlocks<L<T>>::value) {
      typename L<T>::Block block;
      loss.exps(r0, r1, block);
      each_row([&](index_t r, T* g, double gs) { return loss.row_from(r, g, gs, block, r - r0); });
    } else {
      each_row([&](index_t r, T* g, double gs) { return loss.row(r, g, gs); });
    }
    return acc;
  });
}

template <class T>
LossTable<T> make_loss_table() {
  LossTable<T> t{};
#define NNK_FILL(name, Type) t.pointwise[int(PointLoss::name)] = &pointwise_kernel<loss::Type, T>;
  NNK_POINTWISE_LOSSES(NNK_FILL)
#undef NNK_FILL
#define NNK_FILL(name, Type) t.rowwise[int(RowLoss::name)] = &row_kernel<loss::Type, T>;
  NNK_ROW_LOSSES(NNK_FILL)
#undef NNK_FILL
  return t;
}

}  // namespace

void fill_losses(KernelTable& k) {
  k.loss_f32 = make_loss_table<float>();
  k.loss_f64 = make_loss_table<double>();
}

}  // namespace NNK_ISA
}  // namespace nnk
