// Layer kernel entry points (fused bias + activation, dropout family). Python's nnkernels.nn
// converts inputs and owns the buffers; these take C-contiguous arrays of one float dtype,
// check every argument before the first write, and run the kernel with the GIL released.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arrays.hpp"

namespace nnk {
namespace {

// `obj` as a C-contiguous ndarray of the dtype `dt` (f32 for float32, f64 for float64) and the
// given shape, or TypeError / ValueError naming the argument.
py::array strict(const Call& call, py::handle obj, const char* arg, DType& dt, bool dtype_known,
                 const std::vector<ssize_t>& shape) {
  if (!py::isinstance<py::array>(obj))
    call.type_error(std::string(arg) + " must be a numpy.ndarray, got " +
                    py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  auto a = py::reinterpret_borrow<py::array>(obj);
  // By value, not identity: unpickled or memory-mapped arrays carry their own dtype objects.
  const py::dtype d = a.dtype();
  const bool native_float = d.kind() == 'f' && d.attr("isnative").cast<bool>();
  const bool f32 = native_float && d.itemsize() == 4, f64 = native_float && d.itemsize() == 8;
  if (!f32 && !f64)
    call.type_error(std::string(arg) + " has dtype " + py::str(d).cast<std::string>() +
                    "; expected float32 or float64");
  const DType mine = f32 ? DType::f32 : DType::f64;
  if (dtype_known && mine != dt)
    call.type_error(std::string(arg) + " has dtype " + py::str(a.dtype()).cast<std::string>() +
                    " but the other arrays are " + (dt == DType::f32 ? "float32" : "float64"));
  dt = mine;
  bool same = a.ndim() == static_cast<ssize_t>(shape.size());
  for (size_t i = 0; same && i < shape.size(); ++i) same = shape[i] < 0 || a.shape(i) == shape[i];
  if (!same) {
    std::string want = "(";
    for (size_t i = 0; i < shape.size(); ++i)
      want += (shape[i] < 0 ? std::string("n") : std::to_string(shape[i])) +
              (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
    call.value_error(std::string(arg) + " has shape " + shape_str(a) + "; expected " + want + ")");
  }
  if (!(a.flags() & py::array::c_style))
    call.value_error(std::string(arg) + " must be C-contiguous");
  return a;
}

// An output: writeable, and either exactly one of `may_be` or disjoint from every input.
void check_output(const Call& call, const py::array& o, const char* arg,
                  std::initializer_list<const py::array*> may_be,
                  std::initializer_list<const py::array*> inputs) {
  if (!o.writeable()) call.value_error(std::string(arg) + " is read-only");
  for (const py::array* a : inputs) {
    if (a == nullptr || a->size() == 0 || o.size() == 0) continue;
    bool allowed = false;
    for (const py::array* m : may_be) allowed |= m == a && a->data() == o.data();
    if (!allowed && Numpy::get().shares_memory(o, *a).cast<bool>())
      call.value_error(std::string(arg) + " overlaps another array of the call");
  }
}

template <class T>
const LayerTable<T>& layer_table();
template <>
const LayerTable<float>& layer_table<float>() {
  return kernels().layer_f32;
}
template <>
const LayerTable<double>& layer_table<double>() {
  return kernels().layer_f64;
}

template <class Go>
void on_dtype(DType dt, Go&& go) {
  if (dt == DType::f32)
    go(float{});
  else
    go(double{});
}

void check_op(const Call& call, int op) {
  if (op < 0 || op >= kActCount) call.value_error("unknown activation id " + std::to_string(op));
}

void bias_act(int op, py::handle z, py::handle bias, py::handle pre, py::handle out, double p0,
              double p1, double p2, py::handle fn) {
  const Call call{fn};
  check_op(call, op);
  DType dt = DType::f32;
  py::array za = strict(call, z, "z", dt, false, {-1, -1});
  const ssize_t rows = za.shape(0), cols = za.shape(1);
  py::array ba = strict(call, bias, "bias", dt, true, {cols});
  py::array oa = strict(call, out, "out", dt, true, {rows, cols});
  std::optional<py::array> pa;  // not a default py::array: that allocates a NumPy array
  const bool has_pre = !pre.is_none();
  if (has_pre) {
    pa = strict(call, pre, "pre", dt, true, {rows, cols});
    check_output(call, *pa, "pre", {&za}, {&za, &ba});
  }
  check_output(call, oa, "out", {&za}, {&za, &ba, has_pre ? &*pa : nullptr});
  const Params p{{p0, p1, p2}};
  on_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const auto k = layer_table<T>().bias_act[op];
    T* prep = has_pre ? data_of<T>(*pa) : nullptr;
    const KernelGil gil(rows * cols);
    k(data_of<T>(za), data_of<T>(ba), prep, data_of<T>(oa), rows, cols, p);
  });
}

void bias_act_backward(int op, bool from_output, py::handle dy, py::handle saved, py::handle dz,
                       py::handle dbias, double p0, double p1, double p2, py::handle fn) {
  const Call call{fn};
  check_op(call, op);
  DType dt = DType::f32;
  py::array dya = strict(call, dy, "dy", dt, false, {-1, -1});
  const ssize_t rows = dya.shape(0), cols = dya.shape(1);
  py::array sa = strict(call, saved, from_output ? "y" : "x", dt, true, {rows, cols});
  py::array dza = strict(call, dz, "out", dt, true, {rows, cols});
  std::optional<py::array> dba;
  const bool has_db = !dbias.is_none();
  if (has_db) {
    dba = strict(call, dbias, "dbias", dt, true, {cols});
    check_output(call, *dba, "dbias", {}, {&dya, &sa, &dza});
  }
  check_output(call, dza, "out", {&dya, &sa}, {&dya, &sa});
  const Params p{{p0, p1, p2}};
  on_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const LayerTable<T>& t = layer_table<T>();
    const auto k =
        from_output ? t.bias_act_backward_from_output[op] : t.bias_act_backward_from_input[op];
    if (k == nullptr)
      call.type_error(std::string(kernels().info[op].name) +
                      "'s derivative is not a function of its output; pass x=");
    T* dbp = has_db ? data_of<T>(*dba) : nullptr;
    const KernelGil gil(rows * cols);
    k(data_of<T>(dya), data_of<T>(sa), data_of<T>(dza), dbp, rows, cols, p);
  });
}

void dropout(py::handle x, py::handle out, std::uint64_t seed, std::uint64_t threshold,
             ssize_t group, double scale, double shift, double dropped, py::handle fn) {
  const Call call{fn};
  DType dt = DType::f32;
  const ssize_t ndim =
      py::isinstance<py::array>(x) ? py::reinterpret_borrow<py::array>(x).ndim() : 0;
  py::array xa =
      strict(call, x, "x", dt, false, std::vector<ssize_t>(static_cast<size_t>(ndim), -1));
  std::vector<ssize_t> shape(xa.shape(), xa.shape() + xa.ndim());
  py::array oa = strict(call, out, "out", dt, true, shape);
  check_output(call, oa, "out", {&xa}, {&xa});
  if (group < 1 || (xa.size() > 0 && xa.size() % group != 0))
    call.value_error("group must be a positive divisor of the size, got " + std::to_string(group));
  const DropoutArgs a{seed, threshold, xa.size(), group, scale, shift, dropped};
  on_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const auto k = layer_table<T>().dropout;
    const KernelGil gil(xa.size());
    k(data_of<T>(xa), data_of<T>(oa), a);
  });
}

}  // namespace

void bind_layers(py::module_& m) {
  m.def("bias_act", &bias_act,
        "out = f(z + bias) over a C-contiguous (rows, cols) z; pre (optional) gets z + bias.",
        py::arg("op"), py::arg("z"), py::arg("bias"), py::arg("pre"), py::arg("out"), py::arg("p0"),
        py::arg("p1"), py::arg("p2"), py::arg("fn"));
  m.def("bias_act_backward", &bias_act_backward,
        "out = dy * f'(saved); dbias (optional) = column sums of out, deterministic.",
        py::arg("op"), py::arg("from_output"), py::arg("dy"), py::arg("saved"), py::arg("out"),
        py::arg("dbias"), py::arg("p0"), py::arg("p1"), py::arg("p2"), py::arg("fn"));
  m.def("dropout", &dropout,
        "out = x * (kept ? scale : 0) + (kept ? shift : dropped), kept drawn per group of "
        "elements from (seed, group index).",
        py::arg("x"), py::arg("out"), py::arg("seed"), py::arg("threshold"), py::arg("group"),
        py::arg("scale"), py::arg("shift"), py::arg("dropped"), py::arg("fn"));
}

}  // namespace nnk
