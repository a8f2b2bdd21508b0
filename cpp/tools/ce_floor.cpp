// The lower bound behind README's "5x at (1024, 1000) cannot be reached": times, in one process
// and one thread, the cross-entropy kernel on (1024, 1000) float32 logits and the two passes
// that any kernel at its accuracy must make, e^(z - m) computed and stored (vm::exp_nonpositive)
// and the scaling of the stored values into the gradient, each the median of 301 runs.
// A developer tool, not part of the build (AVX-512 machines):
//   g++ -std=c++17 -O3 -fno-math-errno -fno-trapping-math -march=x86-64-v4 \
//     -mprefer-vector-width=512 -fopenmp -DNNK_ISA=avx512 -Icpp/include cpp/tools/ce_floor.cpp \
//     -o /tmp/ce_floor && /tmp/ce_floor
namespace nnk {
int effective_threads() { return 1; }  // the kernels' thread count, from the Python layer
}  // namespace nnk
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "../src/losses.cpp"
#include "median_us.hpp"

using namespace nnk;
using namespace nnk::avx512;

int main() {
  const index_t rows = 1024, classes = 1000;
  std::vector<float> z(rows * classes), g(rows * classes), weight(classes, 1.0f), maxima(rows);
  std::vector<std::int64_t> labels(rows);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0, 3);  // as benchmarks/bench_losses.py
  for (float& v : z) v = normal(rng);
  for (std::int64_t& v : labels) v = std::int64_t(rng() % classes);
  for (index_t r = 0; r < rows; ++r)
    maxima[r] = *std::max_element(&z[r * classes], &z[r * classes] + classes);
  RowArgs<float> a{};
  a.pred = z.data();
  a.labels = labels.data();
  a.class_weight = weight.data();
  a.grad = g.data();
  a.rows = rows;
  a.classes = classes;
  a.scale = 1.0 / rows;
  a.p.v[2] = -100;  // ignore_index
  double sink = 0;
  const double kernel = median_us([&] { sink += row_kernel<loss::CrossEntropy, float>(a); }, 301);
  const double exps = median_us(
      [&] {
        for (index_t r = 0; r < rows; ++r) {
          const float *zr = &z[r * classes], m = maxima[r];
          float* gr = &g[r * classes];
          simd::for_each<true, float>(0, classes, [&](index_t i, auto lanes) {
            simd::store(gr + i, vm::exp_nonpositive(simd::load(zr + i, lanes) - m), lanes);
          });
        }
      },
      301);
  const double scaling = median_us(
      [&] {
        for (index_t r = 0; r < rows; ++r) {
          float* gr = &g[r * classes];
          const float c = 1.0f / float(r + 1);
          simd::for_each<true, float>(0, classes, [&](index_t i, auto lanes) {
            simd::store(gr + i, simd::load(gr + i, lanes) * c, lanes);
          });
        }
      },
      301);
  std::printf(
      "cross_entropy (1024, 1000) float32, 1 thread: kernel %.0f us; e^(z - m) stored %.0f us;"
      " scaling pass %.0f us; the two passes %.0f us\n",
      kernel, exps, scaling, exps + scaling);
  return sink < 0;  // keeps the kernel's result alive
}
