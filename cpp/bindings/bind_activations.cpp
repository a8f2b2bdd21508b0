// Activation entry points. Python's nnkernels.activations builds the public functions (names,
// keyword defaults, docstrings, parameter checks) on top of these.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "arrays.hpp"

namespace nnk {
namespace {

enum Mode : int { kForward = 0, kGrad = 1 };

Params params_of(double a, double b, double c) { return Params{{a, b, c}}; }

// Calls go(T{}, table) with the float or the double kernel table.
template <class Go>
void on_table(DType dt, Go&& go) {
  if (dt == DType::f32)
    go(float{}, kernels().f32);
  else
    go(double{}, kernels().f64);
}

py::object unary(int op, int mode, py::handle x, py::object out, double p0, double p1, double p2,
                 py::handle fn) {
  const Call call{fn};
  DType dt = DType::f32;
  py::array xa = real_array(call, x, "x", dt);
  std::vector<ssize_t> shape(xa.shape(), xa.shape() + xa.ndim());
  if (!out.is_none()) checked_out(call, out, dt, shape, {&xa});
  py::array xin = dense_as(xa, dt);
  py::array res = result_buffer(xin, out);
  const Params p = params_of(p0, p1, p2);
  on_table(dt, [&](auto tag, const auto& table) {
    using T = decltype(tag);
    const auto k = mode == kForward ? table.forward[op] : table.grad[op];
    const KernelGil gil(xin.size());
    k(data_of<T>(xin), data_of<T>(res), xin.size(), p);
  });
  return finish(res, out, xa.ndim() == 0);
}

// Two same-shape inputs in a common dtype and layout (C order unless both already share one).
struct Pair {
  py::array a, b;
  DType dt = DType::f32;
};
Pair pair_of(const Call& call, py::handle a, const char* an, py::handle b, const char* bn) {
  DType dt = DType::f32;
  py::array aa = real_array(call, a, an, dt), ba = real_array(call, b, bn, dt);
  bool same = aa.ndim() == ba.ndim();
  for (ssize_t i = 0; same && i < aa.ndim(); ++i) same = aa.shape(i) == ba.shape(i);
  if (!same)
    call.value_error(std::string(an) + " has shape " + shape_str(aa) + " but " + bn +
                     " has shape " + shape_str(ba));
  return Pair{std::move(aa), std::move(ba), dt};
}
void densify(Pair& p) {
  p.a = dense_as(p.a, p.dt);
  p.b = dense_as(p.b, p.dt);
  if (!same_layout(p.a, p.b)) {
    p.a = c_order_as(p.a, p.dt);
    p.b = c_order_as(p.b, p.dt);
  }
}

py::object backward(int op, bool from_output, py::handle dy, py::handle saved, py::object out,
                    double p0, double p1, double p2, py::handle fn) {
  const Call call{fn};
  Pair in = pair_of(call, dy, "dy", saved, from_output ? "y" : "x");
  std::vector<ssize_t> shape(in.a.shape(), in.a.shape() + in.a.ndim());
  if (!out.is_none()) checked_out(call, out, in.dt, shape, {&in.a, &in.b});
  densify(in);
  py::array res = result_buffer(in.a, out);
  const Params p = params_of(p0, p1, p2);
  const index_t n = in.a.size();
  on_table(in.dt, [&](auto tag, const auto& table) {
    using T = decltype(tag);
    const auto k = from_output ? table.backward_from_output[op] : table.backward_from_input[op];
    const KernelGil gil(n);
    k(data_of<T>(in.a), data_of<T>(in.b), data_of<T>(res), n, p);
  });
  return finish(res, out, in.a.ndim() == 0);
}

// (outer, channels, inner) of a C-ordered shape around `axis`.
ChannelShape around_axis(const py::array& a, ssize_t axis) {
  ChannelShape s{1, a.ndim() == 0 ? 1 : a.shape(axis), 1};
  for (ssize_t i = 0; i < axis; ++i) s.outer *= a.shape(i);
  for (ssize_t i = axis + 1; i < a.ndim(); ++i) s.inner *= a.shape(i);
  return s;
}

ssize_t normalize_axis(const Call& call, ssize_t axis, ssize_t ndim) {
  const ssize_t n = std::max<ssize_t>(ndim, 1);
  if (axis < -n || axis >= n)
    throw py::index_error(call.name() + ": axis " + std::to_string(axis) +
                          " is out of bounds for an array of dimension " + std::to_string(ndim));
  return axis < 0 ? axis + n : axis;
}

// PReLU with one slope per channel (axis 1; a single slope for every element when weight has
// one element), or, per_element, one slope per element (RReLU's sampled slopes).
ChannelShape prelu_shape(const Call& call, const py::array& x, const py::array& w,
                         bool per_element) {
  if (per_element) {
    bool same = w.ndim() == x.ndim();
    for (ssize_t i = 0; same && i < x.ndim(); ++i) same = w.shape(i) == x.shape(i);
    if (!same)
      call.value_error("slopes has shape " + shape_str(w) + " but x has shape " + shape_str(x));
    return ChannelShape{1, x.size(), 1};
  }
  if (w.ndim() != 1) call.value_error("weight must be 1-D, got shape " + shape_str(w));
  if (w.size() == 1) return ChannelShape{1, 1, x.size()};
  const ssize_t channels = x.ndim() >= 2 ? x.shape(1) : 1;
  if (w.size() != channels)
    call.value_error("weight has " + std::to_string(w.size()) + " elements but x of shape " +
                     shape_str(x) + " has " + std::to_string(channels) +
                     " channels (axis 1); pass 1 or that many");
  return around_axis(x, 1);
}

// weight may instead be rrelu(training=True)'s draw(shape, dtype) -> slopes, called once x and
// out have passed their checks (an error leaves the caller's Generator untouched); the call
// then returns (y, slopes).
py::object prelu(py::handle x, py::handle weight, py::object out, bool per_element, py::handle fn) {
  const Call call{fn};
  DType dt = DType::f32;
  py::array xa = real_array(call, x, "x", dt);
  std::vector<ssize_t> shape(xa.shape(), xa.shape() + xa.ndim());
  std::optional<py::array> w;
  ChannelShape s{};
  const auto take = [&](py::handle slopes) {
    w = real_array(call, slopes, per_element ? "slopes" : "weight", dt);
    s = prelu_shape(call, xa, *w, per_element);
  };
  const bool draw = per_element && PyCallable_Check(weight.ptr());
  if (!draw) take(weight);
  // Drawn slopes are fresh: nothing for out to overlap.
  if (!out.is_none()) checked_out(call, out, dt, shape, {&xa, w ? &*w : nullptr});
  if (draw) take(weight(py::tuple(py::cast(shape)), numpy_dtype(dt)));
  const py::array xin = c_order_as(xa, dt), wc = c_order_as(*w, dt);
  py::array res = result_buffer(xin, out);
  on_table(dt, [&](auto tag, const auto& table) {
    using T = decltype(tag);
    const KernelGil gil(xin.size());
    table.prelu(data_of<T>(xin), data_of<T>(wc), data_of<T>(res), s);
  });
  py::object y = finish(res, out, xa.ndim() == 0);
  return draw ? py::make_tuple(y, *w) : y;
}

py::tuple prelu_backward(py::handle dy, py::handle x, py::handle weight, py::object out,
                         bool per_element, bool need_dweight, py::handle fn) {
  const Call call{fn};
  Pair in = pair_of(call, dy, "dy", x, "x");
  py::array w = real_array(call, weight, per_element ? "slopes" : "weight", in.dt);
  const ChannelShape s = prelu_shape(call, in.b, w, per_element);
  std::vector<ssize_t> shape(in.a.shape(), in.a.shape() + in.a.ndim());
  if (!out.is_none()) checked_out(call, out, in.dt, shape, {&in.a, &in.b, &w});
  const py::array dyc = c_order_as(in.a, in.dt), xc = c_order_as(in.b, in.dt);
  w = c_order_as(w, in.dt);
  py::array res = result_buffer(xc, out);
  py::object dw = need_dweight ? py::object(Numpy::get().empty_like(w)) : py::none();
  on_table(in.dt, [&](auto tag, const auto& table) {
    using T = decltype(tag);
    T* dwp = need_dweight ? data_of<T>(py::reinterpret_borrow<py::array>(dw)) : nullptr;
    const KernelGil gil(xc.size());
    table.prelu_backward(data_of<T>(dyc), data_of<T>(xc), data_of<T>(w), data_of<T>(res), dwp, s);
  });
  return py::make_tuple(finish(res, out, in.a.ndim() == 0), dw);
}

// Softmax (or log-softmax) of the C-contiguous xc into res.
void softmax_into(DType dt, bool log, const py::array& xc, const py::array& res,
                  const ChannelShape& s) {
  on_table(dt, [&](auto tag, const auto& table) {
    using T = decltype(tag);
    const auto k = log ? table.log_softmax : table.softmax;
    const KernelGil gil(xc.size());
    k(data_of<T>(xc), data_of<T>(res), s);
  });
}

py::object softmax(py::handle x, ssize_t axis, py::object out, bool log, py::handle fn) {
  const Call call{fn};
  DType dt = DType::f32;
  py::array xa = real_array(call, x, "x", dt);
  axis = normalize_axis(call, axis, xa.ndim());
  std::vector<ssize_t> shape(xa.shape(), xa.shape() + xa.ndim());
  if (!out.is_none()) checked_out(call, out, dt, shape, {&xa});
  py::array xc = c_order_as(xa, dt);
  const ChannelShape s = around_axis(xc, axis);
  py::array res = result_buffer(xc, out);
  // log_softmax in place reads x after the sweep that stores e^(x - max) into y: it runs on a
  // copy of x, so its bits are those of the out-of-place call. Same memory, not the same object
  // (out may be x[:] or x.view(); checked_out allows exactly x's memory or none of it).
  if (log && res.data() == xc.data()) xc = xc.attr("copy")();
  softmax_into(dt, log, xc, res, s);
  return finish(res, out, xa.ndim() == 0);
}

// From the output y, or from the input x: y is then recomputed into a fresh array, after out
// has been checked against x itself (so out may be x, but no part of it).
py::object softmax_backward(py::handle dy, py::handle saved, bool from_output, ssize_t axis,
                            py::object out, bool log, py::handle fn) {
  const Call call{fn};
  Pair in = pair_of(call, dy, "dy", saved, from_output ? "y" : "x");
  axis = normalize_axis(call, axis, in.a.ndim());
  std::vector<ssize_t> shape(in.a.shape(), in.a.shape() + in.a.ndim());
  if (!out.is_none()) checked_out(call, out, in.dt, shape, {&in.a, &in.b});
  const py::array dyc = c_order_as(in.a, in.dt);
  py::array yc = c_order_as(in.b, in.dt);
  const ChannelShape s = around_axis(yc, axis);
  if (!from_output) {
    py::array y = result_buffer(yc, py::none());
    softmax_into(in.dt, log, yc, y, s);
    yc = y;
  }
  py::array res = result_buffer(yc, out);
  on_table(in.dt, [&](auto tag, const auto& table) {
    using T = decltype(tag);
    const auto k = log ? table.log_softmax_backward : table.softmax_backward;
    const KernelGil gil(yc.size());
    k(data_of<T>(dyc), data_of<T>(yc), data_of<T>(res), s);
  });
  return finish(res, out, in.a.ndim() == 0);
}

}  // namespace

void bind_activations(py::module_& m) {
  py::dict ops;
  for (int i = 0; i < kActCount; ++i) {
    const ActInfo& a = kernels().info[i];
    ops[a.name] = py::dict(py::arg("id") = i, py::arg("ulp") = a.ulp_any_level,
                           py::arg("floor") = a.floor, py::arg("from_output") = a.from_output);
  }
  m.attr("ELEMENTWISE") = ops;
  // The bounds of the level that runs now: GELU, gelu(tanh) and mish compute float in float on
  // AVX-512 and in double elsewhere, tighter (ELEMENTWISE's ulp is the largest over the levels,
  // the documented bound).
  m.def(
      "bound",
      [](const std::string& name) {
        for (int i = 0; i < kActCount; ++i) {
          const ActInfo& a = kernels().info[i];
          if (name == a.name) return std::make_pair(a.ulp, a.floor);
        }
        throw py::key_error(name);
      },
      py::arg("name"), "(ulp, floor) of an elementwise kernel at the active ISA level.");
  m.def("unary", &unary, "Elementwise forward (mode 0) or derivative (mode 1) of activation op.",
        py::arg("op"), py::arg("mode"), py::arg("x"), py::arg("out"), py::arg("p0"), py::arg("p1"),
        py::arg("p2"), py::arg("fn"));
  m.def("backward", &backward, "dy * f'(x), from the input x or the output y.", py::arg("op"),
        py::arg("from_output"), py::arg("dy"), py::arg("saved"), py::arg("out"), py::arg("p0"),
        py::arg("p1"), py::arg("p2"), py::arg("fn"));
  m.def("prelu", &prelu,
        "PReLU (one slope per channel) or, per_element, RReLU's sampled slopes (or a "
        "draw(shape, dtype) of them: returns (y, slopes)).",
        py::arg("x"), py::arg("weight"), py::arg("out"), py::arg("per_element"), py::arg("fn"));
  m.def("prelu_backward", &prelu_backward, "(dx, dweight or None) of prelu in one pass.",
        py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("out"), py::arg("per_element"),
        py::arg("need_dweight"), py::arg("fn"));
  m.def("softmax", &softmax, "Softmax (or log-softmax) along axis.", py::arg("x"), py::arg("axis"),
        py::arg("out"), py::arg("log"), py::arg("fn"));
  m.def("softmax_backward", &softmax_backward,
        "Backward of softmax (or log-softmax) from y, or from_output=False from x.", py::arg("dy"),
        py::arg("saved"), py::arg("from_output"), py::arg("axis"), py::arg("out"), py::arg("log"),
        py::arg("fn"));
}

}  // namespace nnk
