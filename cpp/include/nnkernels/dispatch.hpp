// ISA levels and the kernel table. This header is shared by the per-ISA kernel objects and the
// bindings, so it holds only plain declarations: no SIMD code, nothing compiled per ISA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>

namespace nnk {

using index_t = std::ptrdiff_t;

// Every elementwise activation, in one list: (python name, C++ struct). The enum, the kernel
// table and the Python registry are all generated from it.
#define NNK_ELEMENTWISE_ACTIVATIONS(X) \
  X(identity, Identity)                \
  X(binary_step, BinaryStep)           \
  X(sigmoid, Sigmoid)                  \
  X(bipolar_sigmoid, BipolarSigmoid)   \
  X(tanh, Tanh)                        \
  X(hardtanh, Hardtanh)                \
  X(relu, Relu)                        \
  X(relu6, Relu6)                      \
  X(leaky_relu, LeakyRelu)             \
  X(elu, Elu)                          \
  X(selu, Selu)                        \
  X(celu, Celu)                        \
  X(gelu, Gelu)                        \
  X(gelu_tanh, GeluTanh)               \
  X(silu, Silu)                        \
  X(swish, Swish)                      \
  X(mish, Mish)                        \
  X(softplus, Softplus)                \
  X(softplus_beta, SoftplusBeta)       \
  X(softsign, Softsign)                \
  X(hardsigmoid, Hardsigmoid)          \
  X(hardswish, Hardswish)              \
  X(logsigmoid, Logsigmoid)

enum class Act : int {
#define NNK_ENUM(name, type) name,
  NNK_ELEMENTWISE_ACTIVATIONS(NNK_ENUM)
#undef NNK_ENUM
      count
};
constexpr int kActCount = static_cast<int>(Act::count);

// Scalar hyperparameters of an activation (alpha, beta, threshold, ...), in the order the
// Python face documents them. Each struct reads the ones it needs.
struct Params {
  double v[3] = {0, 0, 0};
};

template <class T>
using UnaryKernel = void (*)(const T* x, T* out, index_t n, const Params& p);
template <class T>
using BinaryKernel = void (*)(const T* a, const T* b, T* out, index_t n, const Params& p);

// Per-channel slope kernels (PReLU, and RReLU's per-element random slopes), over a
// (outer, channels, inner) view of a C-contiguous array.
struct ChannelShape {
  index_t outer, channels, inner;
};
template <class T>
using PreluForward = void (*)(const T* x, const T* w, T* y, ChannelShape s);
// dx = dy * (x > 0 ? 1 : w);  dw[c] = sum(dy * x * (x <= 0)) over the channel (if dw != null).
template <class T>
using PreluBackward = void (*)(const T* dy, const T* x, const T* w, T* dx, T* dw, ChannelShape s);

// Row-wise softmax family over a (outer, n, inner) view; reduction along n.
template <class T>
using RowKernel = void (*)(const T* x, T* y, ChannelShape s);
template <class T>
using RowBackward = void (*)(const T* dy, const T* y, T* dx, ChannelShape s);

template <class T>
struct TypedTable {
  UnaryKernel<T> forward[kActCount];
  UnaryKernel<T> grad[kActCount];
  BinaryKernel<T> backward_from_input[kActCount];
  BinaryKernel<T> backward_from_output[kActCount];  // null where f' is not a function of f
  PreluForward<T> prelu;
  PreluBackward<T> prelu_backward;
  RowKernel<T> softmax, log_softmax;
  RowBackward<T> softmax_backward, log_softmax_backward;
};

// ---- losses (losses.hpp, cpp/src/losses.cpp) ----
// Pointwise losses: (python name, C++ struct). Each kernel returns the sum of the (weighted)
// per-element values, accumulated in double over fixed blocks combined in order.
#define NNK_POINTWISE_LOSSES(X)                      \
  X(mse, Mse)                                        \
  X(mae, Mae)                                        \
  X(mbe, Mbe)                                        \
  X(huber, Huber)                                    \
  X(smooth_l1, SmoothL1)                             \
  X(log_cosh, LogCosh)                               \
  X(mape, Mape)                                      \
  X(msle, Msle)                                      \
  X(poisson, Poisson)                                \
  X(binary_cross_entropy, BinaryCrossEntropy)        \
  X(binary_cross_entropy_with_logits, BceWithLogits) \
  X(hinge, Hinge)                                    \
  X(squared_hinge, SquaredHinge)                     \
  X(binary_focal_loss, BinaryFocal)                  \
  X(kl_div, KlDiv)
// Row-wise losses over a C-contiguous (rows, classes) array.
#define NNK_ROW_LOSSES(X)                               \
  X(cross_entropy, CrossEntropy)                        \
  X(nll_loss, NllLoss)                                  \
  X(categorical_cross_entropy, CategoricalCrossEntropy) \
  X(cosine_similarity, CosineSimilarity)                \
  X(categorical_hinge, CategoricalHinge)

enum class PointLoss : int {
#define NNK_ENUM(name, type) name,
  NNK_POINTWISE_LOSSES(NNK_ENUM)
#undef NNK_ENUM
      count
};
enum class RowLoss : int {
#define NNK_ENUM(name, type) name,
  NNK_ROW_LOSSES(NNK_ENUM)
#undef NNK_ENUM
      count
};

// One pass: value and gradient. weight (per element), grad and values (per-element values, for
// reduction "none") may be null; grad is scaled by `scale` (1/count for "mean").
template <class T>
struct PointArgs {
  const T *pred, *target, *weight;
  T *grad, *values;
  index_t n;
  double scale;
  Params p;
};
// Targets are class labels (labels != null; rows equal to ignore_index contribute nothing) or a
// (rows, classes) array; class_weight has `classes` entries, sample_weight and values `rows`.
template <class T>
struct RowArgs {
  const T *pred, *target;
  const std::int64_t* labels;
  const T *class_weight, *sample_weight;
  T *grad, *values;
  index_t rows, classes;
  double scale;
  Params p;
};
template <class T>
struct LossTable {
  double (*pointwise[static_cast<int>(PointLoss::count)])(const PointArgs<T>&);
  double (*rowwise[static_cast<int>(RowLoss::count)])(const RowArgs<T>&);
};

struct ActInfo {
  const char* name;
  double ulp, floor;     // float32 accuracy bound at this level: ulps, absolute floor in epsilons
  double ulp_any_level;  // the ulps at the level where they are largest (the documented bound)
  bool from_output;      // f' is a function of y = f(x)
};

// ---- optimizers (optimizers.hpp, cpp/src/optimizers.cpp): one call updates a list of arrays ----
enum class Optim : int { sgd, adagrad, rmsprop, adam, adamax, adadelta, nadam, radam, lion };

// One step's hyperparameters, shared by every array of the call. Each optimizer reads its own.
struct OptimHyper {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0;  // beta2 is also RMSprop's alpha, Adadelta's rho
  double momentum = 0, dampening = 0, lr_decay = 0;
  double weight_decay = 0;  // coupled (L2): g += weight_decay * p
  double decay = 1;         // decoupled: p *= decay (= 1 - lr * wd) before the update
  double l1 = 0;            // proximal L1 threshold of this step (lr * l1)
  double grad_scale = 1;    // -1 to maximize, times the global-norm clipping factor
  double clip_value = std::numeric_limits<double>::infinity();
  double step = 1;                                                  // 1-based index of this update
  double mu = 0, mu_next = 0, mu_product = 1, mu_product_next = 1;  // NAdam
  bool nesterov = false, centered = false, amsgrad = false;
};

// One parameter array with its gradient and state slots (the optimizer's; unused ones null).
struct OptimTensor {
  void* param;
  const void* grad;
  void* slot[3];
  index_t n;
  bool f64;
};

struct GradStats {
  double sumsq = 0;      // sum of squares of the (value-clipped) gradients
  double nonfinite = 0;  // count of inf/NaN gradient elements
  GradStats& operator+=(const GradStats& o) {
    sumsq += o.sumsq;
    nonfinite += o.nonfinite;
    return *this;
  }
};

struct OptimTable {
  void (*step)(Optim op, const OptimHyper& h, const OptimTensor* t, index_t count);
  // Deterministic over all arrays: the same bits for any thread count.
  GradStats (*grad_stats)(const OptimTensor* t, index_t count, double clip_value);
};

// ---- layers (layers.hpp, cpp/src/layers.cpp): the fused kernels of nnkernels.nn ----
// y = f(z + bias[col]) over a C-contiguous (rows, cols) z; pre (if not null) receives z + bias.
// pre may be z and y may be z (in place), not both.
template <class T>
using BiasActKernel = void (*)(const T* z, const T* bias, T* pre, T* y, index_t rows, index_t cols,
                               const Params& p);
// dz = dy * f'(saved) (saved the input z + bias, or the output y) and, if dbias is not null,
// dbias[col] = sum of dz over the rows (fixed row blocks: the same bits for any thread count).
// dz may be dy or saved.
template <class T>
using BiasActBackward = void (*)(const T* dy, const T* saved, T* dz, T* dbias, index_t rows,
                                 index_t cols, const Params& p);
// The dropout family over n elements in groups of `group` consecutive ones (1 for dropout, the
// spatial size for dropout2d/3d): group g is kept when its counter-based random draw from
// (seed, g) clears `threshold`; y = x * (kept ? scale : 0) + (kept ? shift : dropped).
struct DropoutArgs {
  std::uint64_t seed, threshold;  // keep when (bits >> 11) >= threshold, threshold = p 2^53
  index_t n, group;
  double scale, shift, dropped;
};
template <class T>
using DropoutKernel = void (*)(const T* x, T* y, const DropoutArgs& a);
template <class T>
struct LayerTable {
  BiasActKernel<T> bias_act[kActCount];
  BiasActBackward<T> bias_act_backward_from_input[kActCount];
  BiasActBackward<T> bias_act_backward_from_output[kActCount];  // null where f' is not of f
  DropoutKernel<T> dropout;
};

struct KernelTable {
  const char* isa;
  ActInfo info[kActCount];
  TypedTable<float> f32;
  TypedTable<double> f64;
  LossTable<float> loss_f32;
  LossTable<double> loss_f64;
  OptimTable optim;
  LayerTable<float> layer_f32;
  LayerTable<double> layer_f64;
  template <class T>
  const TypedTable<T>& typed() const;
};
template <>
inline const TypedTable<float>& KernelTable::typed<float>() const {
  return f32;
}
template <>
inline const TypedTable<double>& KernelTable::typed<double>() const {
  return f64;
}

// Each ISA object defines one of these (compiled with its own -march).
// Each family file fills its part of the table (losses.cpp: fill_losses).
namespace baseline {
const KernelTable& kernel_table();
}
namespace avx2 {
const KernelTable& kernel_table();
}
namespace avx512 {
const KernelTable& kernel_table();
}

// ---- runtime selection (dispatch.cpp) ----
const KernelTable& kernels();          // the active table
const char* active_isa();              // "baseline" | "avx2" | "avx512"
bool isa_supported(const char* name);  // compiled in and supported by this CPU
void select_isa(const char* name);     // throws std::invalid_argument when unsupported
const char* best_isa();

// ---- threads (dispatch.cpp); used by parallel.hpp inside every ISA object ----
int effective_threads();          // threads a kernel call from the calling thread may use
int requested_threads();          // set_num_threads()'s setting, 0 = default
void set_requested_threads(int);  // every thread's count (0: back to the default)
int swap_block_threads(int);      // the calling thread's threads(n) count (0: none); the old one
void install_fork_handler();
bool in_forked_child();

// ---- non-temporal stores (dispatch.cpp); used by simd::streams inside every ISA object ----
index_t last_level_cache_bytes();       // the largest cache's size, 0 when unknown
index_t streaming_threshold();          // bytes of a call's arrays above which its output streams
void set_streaming_threshold(index_t);  // < 0: back to the default (tests and benchmarks)

}  // namespace nnk
