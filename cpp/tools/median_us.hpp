// The developer tools' timer: the median of `runs` calls of f, in microseconds (the empty asm
// keeps the compiler from moving f's stores past the clock).
#pragma once
#include <algorithm>
#include <chrono>
#include <vector>

template <class F>
double median_us(F f, int runs) {
  std::vector<double> times;
  for (int rep = 0; rep < runs; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    asm volatile("" ::: "memory");
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(times.begin(), times.begin() + runs / 2, times.end());
  return times[runs / 2] * 1e6;
}
