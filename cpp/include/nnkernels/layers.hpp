// The math of the layer kernels that is not an activation: the counter-based random bits behind
// the dropout family. Included only by kernel sources, inside the per-ISA namespace; the loops
// live in cpp/src/layers.cpp (fused bias + activation reuses the structs of activations.hpp).
#pragma once
#include <cstdint>

#include "nnkernels/activations.hpp"

namespace nnk {
namespace NNK_ISA {

// 64 random bits for counter i of stream `seed`: the i-th output of SplitMix64 seeded with
// `seed` (its Weyl sequence step, then its mixing function), computed directly from i. A pure
// function of (seed, i), so a mask does not depend on how threads split the work, and the
// backward pass regenerates it instead of storing it. Vectorizes (64-bit multiplies).
NNK_INLINE std::uint64_t counter_bits(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Kept with probability 1 - p: the top 53 bits, uniform on [0, 2^53), against p 2^53. Takes
// values, not the DropoutArgs: loads through a reference inside a loop block vectorization.
NNK_INLINE bool kept(std::uint64_t seed, std::uint64_t threshold, std::uint64_t i) {
  return (counter_bits(seed, i) >> 11) >= threshold;
}

}  // namespace NNK_ISA
}  // namespace nnk
