"""
nnkernels C++ kernels (SIMD + OpenMP); use the nnkernels package, not this module.
"""
from __future__ import annotations
import numpy
import typing
def backward(op: typing.SupportsInt | typing.SupportsIndex, from_output: bool, dy: typing.Any, saved: typing.Any, out: typing.Any, p0: typing.SupportsFloat | typing.SupportsIndex, p1: typing.SupportsFloat | typing.SupportsIndex, p2: typing.SupportsFloat | typing.SupportsIndex, fn: typing.Any) -> typing.Any:
    """
    dy * f'(x), from the input x or the output y.
    """
def best_isa() -> str:
    """
    The best ISA level this CPU and build support.
    """
def bias_act(op: typing.SupportsInt | typing.SupportsIndex, z: typing.Any, bias: typing.Any, pre: typing.Any, out: typing.Any, p0: typing.SupportsFloat | typing.SupportsIndex, p1: typing.SupportsFloat | typing.SupportsIndex, p2: typing.SupportsFloat | typing.SupportsIndex, fn: typing.Any) -> None:
    """
    out = f(z + bias) over a C-contiguous (rows, cols) z; pre (optional) gets z + bias.
    """
def bias_act_backward(op: typing.SupportsInt | typing.SupportsIndex, from_output: bool, dy: typing.Any, saved: typing.Any, out: typing.Any, dbias: typing.Any, p0: typing.SupportsFloat | typing.SupportsIndex, p1: typing.SupportsFloat | typing.SupportsIndex, p2: typing.SupportsFloat | typing.SupportsIndex, fn: typing.Any) -> None:
    """
    out = dy * f'(saved); dbias (optional) = column sums of out, deterministic.
    """
def bound(name: str) -> tuple[float, float]:
    """
    (ulp, floor) of an elementwise kernel at the active ISA level.
    """
def dropout(x: typing.Any, out: typing.Any, seed: typing.SupportsInt | typing.SupportsIndex, threshold: typing.SupportsInt | typing.SupportsIndex, group: typing.SupportsInt | typing.SupportsIndex, scale: typing.SupportsFloat | typing.SupportsIndex, shift: typing.SupportsFloat | typing.SupportsIndex, dropped: typing.SupportsFloat | typing.SupportsIndex, fn: typing.Any) -> None:
    """
    out = x * (kept ? scale : 0) + (kept ? shift : dropped), kept drawn per group of elements from (seed, group index).
    """
def get_num_threads() -> int:
    """
    Threads a kernel call from this Python thread may use.
    """
def grad_stats(grads: typing.Any, clip_value: typing.SupportsFloat | typing.SupportsIndex, fn: typing.Any) -> tuple:
    """
    (global L2 norm, non-finite count) of a list of gradient arrays, deterministic.
    """
def in_forked_child() -> bool:
    """
    Whether this process is a fork() child of the importer (kernels then run serial).
    """
def isa() -> str:
    """
    The ISA level whose kernels run now.
    """
def isa_supported(name: str) -> bool:
    """
    Whether an ISA level is compiled in and supported by this CPU.
    """
def last_level_cache_bytes() -> int:
    """
    The size of the largest CPU cache (0 when unknown).
    """
def loss_pointwise(op: typing.SupportsInt | typing.SupportsIndex, pred: numpy.ndarray, target: numpy.ndarray, weight: typing.Any, grad: typing.Any, values: typing.Any, scale: typing.SupportsFloat | typing.SupportsIndex, p0: typing.SupportsFloat | typing.SupportsIndex, p1: typing.SupportsFloat | typing.SupportsIndex, p2: typing.SupportsFloat | typing.SupportsIndex) -> float:
    """
    One pass of pointwise loss op: writes grad (scaled) and values when given; returns the sum of the values.
    """
def loss_rowwise(op: typing.SupportsInt | typing.SupportsIndex, pred: numpy.ndarray, target: typing.Any, labels: typing.Any, class_weight: typing.Any, sample_weight: typing.Any, grad: typing.Any, values: typing.Any, scale: typing.SupportsFloat | typing.SupportsIndex, p0: typing.SupportsFloat | typing.SupportsIndex, p1: typing.SupportsFloat | typing.SupportsIndex, p2: typing.SupportsFloat | typing.SupportsIndex) -> float:
    """
    One pass of row-wise loss op over a C-contiguous (rows, classes) pred.
    """
def optim_step(op: typing.SupportsInt | typing.SupportsIndex, params: typing.Any, grads: typing.Any, slots: typing.Any, hyper: dict, max_norm: typing.SupportsFloat | typing.SupportsIndex, skip_nonfinite: bool, fn: typing.Any) -> tuple:
    """
    One optimizer step over every array of the lists, in place (nnkernels.optim).
    """
def prelu(x: typing.Any, weight: typing.Any, out: typing.Any, per_element: bool, fn: typing.Any) -> typing.Any:
    """
    PReLU (one slope per channel) or, per_element, RReLU's sampled slopes (or a draw(shape, dtype) of them: returns (y, slopes)).
    """
def prelu_backward(dy: typing.Any, x: typing.Any, weight: typing.Any, out: typing.Any, per_element: bool, need_dweight: bool, fn: typing.Any) -> tuple:
    """
    (dx, dweight or None) of prelu in one pass.
    """
def requested_threads() -> int:
    """
    The set_num_threads() setting (0: the default is in force).
    """
def select_isa(name: str) -> None:
    """
    Switch every kernel to an ISA level (testing and benchmarking).
    """
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the threads kernels use (0 restores the default).
    """
def set_streaming_threshold(bytes: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set streaming_threshold() (a negative value restores the default; tests, benchmarks).
    """
def softmax(x: typing.Any, axis: typing.SupportsInt | typing.SupportsIndex, out: typing.Any, log: bool, fn: typing.Any) -> typing.Any:
    """
    Softmax (or log-softmax) along axis.
    """
def softmax_backward(dy: typing.Any, saved: typing.Any, from_output: bool, axis: typing.SupportsInt | typing.SupportsIndex, out: typing.Any, log: bool, fn: typing.Any) -> typing.Any:
    """
    Backward of softmax (or log-softmax) from y, or from_output=False from x.
    """
def streaming_threshold() -> int:
    """
    Bytes of a call's arrays above which its output is written by non-temporal stores.
    """
def swap_block_threads(n: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    Set this thread's threads() count (0: none); returns the previous one.
    """
def unary(op: typing.SupportsInt | typing.SupportsIndex, mode: typing.SupportsInt | typing.SupportsIndex, x: typing.Any, out: typing.Any, p0: typing.SupportsFloat | typing.SupportsIndex, p1: typing.SupportsFloat | typing.SupportsIndex, p2: typing.SupportsFloat | typing.SupportsIndex, fn: typing.Any) -> typing.Any:
    """
    Elementwise forward (mode 0) or derivative (mode 1) of activation op.
    """
COMPILER: str
ELEMENTWISE: dict
FLAGS: str
ISA_LEVELS: str
OPENMP: int
OPTIMIZERS: dict
POINTWISE_LOSSES: dict
ROW_LOSSES: dict
