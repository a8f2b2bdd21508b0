// The measurement behind simd::streams (cpp/include/nnkernels/simd.hpp) and the default
// threshold (dispatch.cpp): float32 relu (one input) and dy * relu'(x) (two inputs) out of
// place, and relu in place, with plain and with non-temporal stores, for arrays from 4 MB to
// 64 MB, on the OpenMP threads given (default 1); medians of 41 runs, microseconds.
// A developer tool, not part of the build (AVX-512 machines):
//   g++ -O2 -fopenmp -march=x86-64-v4 cpp/tools/stream_stores.cpp -o /tmp/stream_stores &&
//     /tmp/stream_stores 1 && /tmp/stream_stores 2
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "median_us.hpp"

// out[i] = op(i) over n elements, 16 at a time, by plain or non-temporal stores.
template <class Op>
void write_all(float* out, long n, int threads, bool streaming, Op op) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (long i = 0; i < n; i += 16) {
    if (streaming)
      _mm512_stream_ps(out + i, op(i));
    else
      _mm512_storeu_ps(out + i, op(i));
  }
  _mm_sfence();
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  for (const long mb : {4, 8, 12, 16, 24, 32, 64}) {
    const long n = mb << 18;  // float32 elements
    auto* x = static_cast<float*>(std::aligned_alloc(64, n * 4));
    auto* dy = static_cast<float*>(std::aligned_alloc(64, n * 4));
    auto* y = static_cast<float*>(std::aligned_alloc(64, n * 4));
    for (long i = 0; i < n; ++i) x[i] = float(i % 7) - 3, dy[i] = 1, y[i] = 0;
    const __m512 zero = _mm512_setzero_ps();
    const auto relu = [&](long i) { return _mm512_max_ps(_mm512_loadu_ps(x + i), zero); };
    const auto backward = [&](long i) {
      const __mmask16 positive = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), zero, _CMP_GT_OQ);
      return _mm512_maskz_mov_ps(positive, _mm512_loadu_ps(dy + i));
    };
    double us[6];
    for (int streaming = 0; streaming < 2; ++streaming) {
      us[streaming] = median_us([&] { write_all(y, n, threads, streaming, relu); }, 41);
      us[2 + streaming] = median_us([&] { write_all(y, n, threads, streaming, backward); }, 41);
      us[4 + streaming] = median_us([&] { write_all(x, n, threads, streaming, relu); }, 41);
    }
    std::printf(
        "%d thread(s), %2ld MB per array: relu %6.0f -> %6.0f us (%.2fx), backward %6.0f -> %6.0f "
        "(%.2fx), relu in place %6.0f -> %6.0f (%.2fx)\n",
        threads, mb, us[0], us[1], us[0] / us[1], us[2], us[3], us[2] / us[3], us[4], us[5],
        us[4] / us[5]);
    std::free(x), std::free(dy), std::free(y);
  }
}
