// Picks the kernel table of the best ISA level at import, and owns the thread settings that
// every ISA object's parallel_for reads.
#include "nnkernels/dispatch.hpp"

#include <omp.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>

namespace nnk {
namespace {

struct Level {
  const char* name;
  const KernelTable& (*table)();
  bool (*supported)();
};

bool always() { return true; }
#if defined(NNK_X86)
bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("bmi2");
}
bool has_avx512() {
  __builtin_cpu_init();
  return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512cd");
}
const Level kLevels[] = {{"baseline", &baseline::kernel_table, &always},
                         {"avx2", &avx2::kernel_table, &has_avx2},
                         {"avx512", &avx512::kernel_table, &has_avx512}};
#else
const Level kLevels[] = {{"baseline", &baseline::kernel_table, &always}};
#endif

const Level* find_level(const char* name) {
  for (const Level& l : kLevels)
    if (std::strcmp(l.name, name) == 0) return &l;
  return nullptr;
}

const Level* best_level() {
  const Level* best = &kLevels[0];
  for (const Level& l : kLevels)
    if (l.supported()) best = &l;
  return best;
}

std::atomic<const KernelTable*> g_table{nullptr};
std::atomic<int> g_requested_threads{0};  // set_num_threads(): every Python thread
thread_local int t_block_threads = 0;     // threads(n) blocks: the calling thread only
std::atomic<bool> g_forked_child{false};

}  // namespace

const KernelTable& kernels() {
  const KernelTable* t = g_table.load(std::memory_order_acquire);
  if (t == nullptr) {
    t = &best_level()->table();
    g_table.store(t, std::memory_order_release);
  }
  return *t;
}

const char* active_isa() { return kernels().isa; }
const char* best_isa() { return best_level()->name; }

bool isa_supported(const char* name) {
  const Level* l = find_level(name);
  return l != nullptr && l->supported();
}

void select_isa(const char* name) {
  const Level* l = find_level(name);
  if (l == nullptr || !l->supported()) {
    std::string known;
    for (const Level& k : kLevels)
      if (k.supported()) known += std::string(known.empty() ? "" : ", ") + k.name;
    throw std::invalid_argument(std::string("ISA level '") + name +
                                "' is not available on this CPU/build; available: " + known);
  }
  g_table.store(&l->table(), std::memory_order_release);
}

// Threads: a threads(n) block of the calling thread wins, then set_num_threads(), then OpenMP's
// default; the calling thread's OpenMP limit (OMP_NUM_THREADS, else the core count, lowered by
// threadpoolctl's threadpool_limits()) caps them all. nnkernels never sets that limit:
// omp_set_num_threads changes it for the calling thread only, and it is what threadpoolctl
// lowers, so setting it undid such a limit. A forked child runs serial: libgomp's pool does
// not survive fork().
int effective_threads() {
  if (g_forked_child.load(std::memory_order_relaxed)) return 1;
  const int omp_limit = omp_get_max_threads();
  const int requested = g_requested_threads.load(std::memory_order_relaxed);
  const int n = t_block_threads > 0 ? t_block_threads : requested;
  return std::max(1, n > 0 ? std::min(n, omp_limit) : omp_limit);
}

int requested_threads() { return g_requested_threads.load(std::memory_order_relaxed); }

void set_requested_threads(int n) { g_requested_threads.store(std::max(0, n)); }

int swap_block_threads(int n) {
  const int previous = t_block_threads;
  t_block_threads = std::max(0, n);
  return previous;
}

bool in_forked_child() { return g_forked_child.load(std::memory_order_relaxed); }

void install_fork_handler() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  pthread_atfork(nullptr, nullptr, [] { g_forked_child.store(true); });
}

// The size of the largest cache of CPU 0, from Linux's sysfs (sysconf's figure can be the
// whole package's: 384 MB on this VM, whose L3 is 32 MB), else sysconf, else 0.
index_t last_level_cache_bytes() {
  static const index_t bytes = [] {
    index_t largest = 0;
    for (int i = 0; i < 8; ++i) {
      std::ifstream size_file("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) +
                              "/size");
      std::string size;
      if (!(size_file >> size)) break;
      const int suffix = std::toupper(static_cast<unsigned char>(size.back()));
      const index_t unit = suffix == 'K'          ? index_t(1) << 10
                           : suffix == 'M'        ? index_t(1) << 20
                           : suffix == 'G'        ? index_t(1) << 30
                           : std::isdigit(suffix) ? 1
                                                  : 0;  // a unit we do not know: no figure
      largest = std::max<index_t>(largest, std::atoll(size.c_str()) * unit);
    }
#if defined(_SC_LEVEL3_CACHE_SIZE)
    if (largest == 0) largest = std::max<long>(0, sysconf(_SC_LEVEL3_CACHE_SIZE));
#endif
    return largest;
  }();
  return bytes;
}

// Outputs stream once the call's arrays together exceed twice the last-level cache: below
// that, what one call leaves in the cache serves the next (float32 relu, two threads: 4M
// elements 0.68x as fast with non-temporal stores, 8M 0.93x, 16M 1.13x). Unknown cache: never.
namespace {
index_t default_streaming_threshold() {
  const index_t llc = last_level_cache_bytes();
  return llc > 0 ? 2 * llc : std::numeric_limits<index_t>::max();
}
std::atomic<index_t> g_streaming_threshold{-1};
}  // namespace

index_t streaming_threshold() {
  const index_t t = g_streaming_threshold.load(std::memory_order_relaxed);
  return t >= 0 ? t : default_streaming_threshold();
}

void set_streaming_threshold(index_t bytes) {
  g_streaming_threshold.store(bytes < 0 ? -1 : bytes, std::memory_order_relaxed);
}

}  // namespace nnk
