// parallel_for and deterministic reductions. Included only by kernel sources, inside the
// per-ISA namespace (NNK_ISA), so each ISA object has its own copy.
#pragma once
#include <algorithm>
#include <vector>

#include "nnkernels/dispatch.hpp"
#include "nnkernels/simd.hpp"

namespace nnk {
namespace NNK_ISA {

// Work below 2 * `grain` elements runs on the calling thread: waking OpenMP workers costs a few
// microseconds, more than the work itself. Grains are measured in bench_activations.py: with
// memory-bound ops from 64K elements (2 * 32K; PyTorch splits above 32K) two threads were
// 1.4-1.8x faster than one on the 2-core machine.
enum Grain : index_t {
  kGrainTranscendental = 16 * 1024,
  kGrainMemoryBound = 32 * 1024,
};

// Runs body(begin, end) over [0, n). Chunks are about eight per thread, scheduled dynamically,
// so a core that is busy with another process does not stall the call; element ranges (grain
// >= 64) start on cache-line multiples, row ranges (small grains) may be as short as one row.
// Every chunk ends with simd::fence_streaming (sfence), so the non-temporal stores of a streamed
// output (simd::streams) are ordered before the stores of OpenMP's barrier and visible once the
// call returns; cheap where nothing streamed. Once per chunk, not per row: an sfence waits for
// the weakly ordered stores before it (one per row made softmax backward at (4096, 100) 11x
// slower).
template <class Body>
void parallel_for(index_t n, index_t grain, Body&& body) {
  int threads = n >= 2 * grain ? effective_threads() : 1;
  if (threads <= 1) {
    if (n > 0) body(index_t(0), n);
    simd::fence_streaming();
    return;
  }
  const index_t align = grain >= 64 ? 64 : 1;
  index_t chunk = std::max<index_t>({n / (index_t(threads) * 8), grain / 4, 1});
  chunk = (chunk + align - 1) / align * align;
  const index_t chunks = (n + chunk - 1) / chunk;
  threads = static_cast<int>(std::min<index_t>(threads, chunks));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (index_t c = 0; c < chunks; ++c) {
    body(c * chunk, std::min(n, (c + 1) * chunk));
    simd::fence_streaming();
  }
}

// Sums f(begin, end) over fixed blocks of [0, n) and combines the partial sums in block order:
// the same bits for any thread count. Acc is the accumulator type (double, or an array type).
template <class Acc, class Body>
Acc deterministic_sum(index_t n, index_t block, Acc zero, Body&& body) {
  const index_t blocks = (n + block - 1) / block;
  std::vector<Acc> partial(static_cast<size_t>(blocks), zero);
  parallel_for(blocks, std::max<index_t>(1, kGrainTranscendental / block),
               [&](index_t b, index_t e) {
                 for (index_t i = b; i < e; ++i)
                   partial[i] = body(i * block, std::min(n, (i + 1) * block));
               });
  Acc total = zero;
  for (const Acc& p : partial) total += p;
  return total;
}

}  // namespace NNK_ISA
}  // namespace nnk
