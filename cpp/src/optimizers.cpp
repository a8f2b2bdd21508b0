// Optimizer kernels: the loops around optimizers.hpp, compiled once per ISA level. One call
// updates a whole list of arrays in one parallel region: the arrays are cut into a work list of
// tasks of kTask elements each (a task may span many small arrays, a large array many tasks), so
// 2000 arrays of 100 elements cost about what one array of 200k does. Task boundaries depend
// only on the array sizes, which makes the per-task partial sums of grad_stats a deterministic
// reduction: the same bits for any thread count.
#include "nnkernels/optimizers.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "nnkernels/parallel.hpp"

namespace nnk {
namespace NNK_ISA {
namespace {

constexpr index_t kTask = 16 * 1024;  // elements per task (a multiple of a cache line)

struct Piece {
  index_t tensor, begin, end;
};

// Tasks as ranges of pieces: task k is pieces [first[k], first[k + 1]).
struct WorkList {
  std::vector<Piece> pieces;
  std::vector<index_t> first;
  index_t tasks() const { return static_cast<index_t>(first.size()) - 1; }

  WorkList(const OptimTensor* t, index_t count) {
    first.push_back(0);
    index_t room = kTask;  // elements left in the current task
    for (index_t k = 0; k < count; ++k)
      for (index_t b = 0; b < t[k].n;) {
        const index_t e = std::min(t[k].n, b + room);
        pieces.push_back({k, b, e});
        room -= e - b;
        b = e;
        if (room == 0) {
          first.push_back(static_cast<index_t>(pieces.size()));
          room = kTask;
        }
      }
    if (room != kTask) first.push_back(static_cast<index_t>(pieces.size()));
  }

  // Runs body(task, piece) for every piece of every task; tasks in parallel from two tasks
  // (32K elements: with 2 threads the optimizer rows measured faster than with the 128K of before).
  template <class Body>
  void run(Body&& body) const {
    const index_t grain = std::max<index_t>(1, kGrainMemoryBound / kTask / 2);
    parallel_for(tasks(), grain, [&](index_t k0, index_t k1) {
      for (index_t k = k0; k < k1; ++k)
        for (index_t p = first[k]; p < first[k + 1]; ++p) body(k, pieces[p]);
    });
  }
};

template <class T>
Slots<T> slots_of(const OptimTensor& t) {
  return {static_cast<T*>(t.slot[0]), static_cast<T*>(t.slot[1]), static_cast<T*>(t.slot[2])};
}

// One piece of one array: the shared gradient transform and decay (Common), the optimizer's own
// rule (U), the L1 proximal step. The structs are built once per call (their constructors take
// powers and square roots) and passed by value: their constants are locals kept in registers.
// Compiled without FMA contraction (CMakeLists.txt): peel, vector body and remainder round alike.
template <class T, class U>
void update_piece(const Common<T> c, const U u, const OptimTensor& t, index_t b, index_t e) {
  T* p = static_cast<T*>(t.param);
  const T* g = static_cast<const T*>(t.grad);
  const Slots<T> s = slots_of<T>(t);
  const auto loop = [&](index_t lo, index_t hi) {
#pragma omp simd
    for (index_t i = lo; i < hi; ++i) p[i] = c.prox(u(p[i] * c.decay, c.grad(g[i], p[i]), s, i));
  };
  // The head up to p's next cache line apart, so the main loop's loads and stores of p (and of
  // the other arrays, when they share its offset, as NumPy's allocations do) do not split lines.
  constexpr index_t kLine = 64 / sizeof(T);
  const index_t mis = index_t(reinterpret_cast<std::uintptr_t>(p + b) % 64 / sizeof(T));
  const index_t head = std::min(e - b, mis == 0 ? index_t(0) : kLine - mis);
  loop(b, b + head);
  loop(b + head, e);
}

// make(T{}) builds the optimizer struct for element type T.
template <class Make>
void run_step(const OptimHyper& h, const OptimTensor* t, index_t count, Make&& make) {
  const Common<float> cf(h);
  const Common<double> cd(h);
  const auto uf = make(float{});
  const auto ud = make(double{});
  WorkList(t, count).run([&](index_t, const Piece& pc) {
    const OptimTensor& x = t[pc.tensor];
    if (x.f64)
      update_piece(cd, ud, x, pc.begin, pc.end);
    else
      update_piece(cf, uf, x, pc.begin, pc.end);
  });
}

// Picks the struct (and its compile-time variant) of op.
void step(Optim op, const OptimHyper& h, const OptimTensor* t, index_t count) {
#define NNK_RUN(...) return run_step(h, t, count, [&](auto tag) { return __VA_ARGS__(h); })
  const bool mom = h.momentum != 0;
  switch (op) {
    case Optim::sgd:
      if (!mom) NNK_RUN(Sgd<decltype(tag), false, false>);
      if (h.nesterov) NNK_RUN(Sgd<decltype(tag), true, true>);
      NNK_RUN(Sgd<decltype(tag), true, false>);
    case Optim::adagrad:
      NNK_RUN(Adagrad<decltype(tag)>);
    case Optim::rmsprop:
      if (h.centered) {
        if (mom) NNK_RUN(Rmsprop<decltype(tag), true, true>);
        NNK_RUN(Rmsprop<decltype(tag), true, false>);
      }
      if (mom) NNK_RUN(Rmsprop<decltype(tag), false, true>);
      NNK_RUN(Rmsprop<decltype(tag), false, false>);
    case Optim::adam:
      if (h.amsgrad) NNK_RUN(Adam<decltype(tag), true>);
      NNK_RUN(Adam<decltype(tag), false>);
    case Optim::adamax:
      NNK_RUN(Adamax<decltype(tag)>);
    case Optim::adadelta:
      NNK_RUN(Adadelta<decltype(tag)>);
    case Optim::nadam:
      NNK_RUN(Nadam<decltype(tag)>);
    case Optim::radam:
      NNK_RUN(Radam<decltype(tag)>);
    case Optim::lion:
      NNK_RUN(Lion<decltype(tag)>);
  }
#undef NNK_RUN
}

// noinline: parallel_for runs its body inline when serial and outlined when parallel; one
// compiled copy keeps one summation order within a piece for any thread count.
template <class T>
__attribute__((noinline)) GradStats stats_piece(const T* g, index_t b, index_t e,
                                                double clip_value) {
  const T clip = T(clip_value);
  double sumsq = 0, bad = 0;
#pragma omp simd reduction(+ : sumsq, bad)
  for (index_t i = b; i < e; ++i) {
    const double v = double(vm::clamp_keep_nan(g[i], -clip, clip));
    sumsq += v * v;
    bad += (g[i] - g[i] != T(0)) ? 1.0 : 0.0;  // inf - inf and NaN - NaN are NaN
  }
  return {sumsq, bad};
}

GradStats grad_stats(const OptimTensor* t, index_t count, double clip_value) {
  const WorkList work(t, count);
  std::vector<GradStats> partial(static_cast<size_t>(std::max<index_t>(work.tasks(), 0)));
  work.run([&](index_t k, const Piece& pc) {
    const OptimTensor& x = t[pc.tensor];
    partial[k] +=
        x.f64 ? stats_piece(static_cast<const double*>(x.grad), pc.begin, pc.end, clip_value)
              : stats_piece(static_cast<const float*>(x.grad), pc.begin, pc.end, clip_value);
  });
  GradStats total;
  for (const GradStats& p : partial) total += p;
  return total;
}

}  // namespace

OptimTable optim_table() { return OptimTable{&step, &grad_stats}; }

}  // namespace NNK_ISA
}  // namespace nnk
