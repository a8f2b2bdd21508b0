#include "arrays.hpp"

#include <algorithm>
#include <cstdint>

namespace nnk {

const Numpy& Numpy::get() {
  // Leaked on purpose: destroying Python objects at process exit, after the interpreter, crashes.
  static const Numpy* np = [] {
    py::module_ m = py::module_::import("numpy");
    return new Numpy{m.attr("asarray"), m.attr("ascontiguousarray"), m.attr("empty_like"),
                     m.attr("copyto"), m.attr("shares_memory")};
  }();
  return *np;
}

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (ssize_t i = 0; i < a.ndim(); ++i) {
    s += std::to_string(a.shape(i));
    if (a.ndim() == 1 || i + 1 < a.ndim()) s += ",";
    if (i + 1 < a.ndim()) s += " ";
  }
  return s + ")";
}

std::string Call::name() const { return py::str(fn).cast<std::string>(); }
void Call::type_error(const std::string& msg) const { throw py::type_error(name() + ": " + msg); }
void Call::value_error(const std::string& msg) const { throw py::value_error(name() + ": " + msg); }

py::dtype numpy_dtype(DType dt) {
  return dt == DType::f32 ? py::dtype::of<float>() : py::dtype::of<double>();
}

// obj itself when it is an ndarray, else np.asarray(obj).
static py::array as_array(const Call& call, py::handle obj, const char* arg) {
  if (py::isinstance<py::array>(obj)) return py::reinterpret_borrow<py::array>(obj);
  if (obj.is_none())
    call.type_error(std::string(arg) + " is None; expected an array of real numbers");
  try {
    return Numpy::get().asarray(obj);
  } catch (py::error_already_set& e) {
    call.type_error(std::string(arg) + " cannot be converted to an array: " + e.what());
  }
}

py::array real_array(const Call& call, py::handle obj, const char* arg, DType& result) {
  // Never a default-constructed py::array: pybind11 makes it an empty float64 NumPy array,
  // about a fifth of a small call.
  py::array a = as_array(call, obj, arg);
  const py::dtype dt = a.dtype();
  const char kind = dt.kind();
  const ssize_t size = dt.itemsize();
  if (kind == 'f' && size == 4) return a;
  if (kind == 'f' && size == 8) {
    result = DType::f64;
    return a;
  }
  if (kind == 'f' && size == 2) return a;
  if (kind == 'b' || kind == 'i' || kind == 'u') {
    result = DType::f64;
    return a;
  }
  call.type_error(std::string(arg) + " has dtype " + py::str(dt).cast<std::string>() +
                  "; expected float32, float64, or an integer or bool array (computed in float64)");
}

bool is_dense(const py::array& a) {
  return (a.flags() & (py::array::c_style | py::array::f_style)) != 0;
}

bool same_layout(const py::array& a, const py::array& b) {
  if (a.ndim() != b.ndim()) return false;
  for (ssize_t i = 0; i < a.ndim(); ++i)
    if (a.shape(i) != b.shape(i) || (a.shape(i) > 1 && a.strides(i) != b.strides(i))) return false;
  return true;
}

py::array dense_as(const py::array& a, DType dt) {
  const bool right_type = has_dtype(a, numpy_dtype(dt));
  if (right_type && is_dense(a)) return a;
  if (is_dense(a)) return a.attr("astype")(numpy_dtype(dt), py::arg("order") = "K");
  return Numpy::get().ascontiguousarray(a, numpy_dtype(dt));
}

py::array c_order_as(const py::array& a, DType dt) {
  const py::dtype want = numpy_dtype(dt);
  if (has_dtype(a, want) && (a.flags() & py::array::c_style)) return a;
  return Numpy::get().asarray(a, want, py::arg("order") = "C");
}

// [first byte, one past the last byte] the array can touch.
static std::pair<std::uintptr_t, std::uintptr_t> extent(const py::array& a) {
  auto lo = reinterpret_cast<std::uintptr_t>(a.data()), hi = lo;
  for (ssize_t i = 0; i < a.ndim(); ++i) {
    const ssize_t span = (a.shape(i) - 1) * a.strides(i);
    (span < 0 ? lo : hi) += span;
  }
  return {lo, hi + a.itemsize()};
}

py::array checked_out(const Call& call, py::handle out, DType dt, const std::vector<ssize_t>& shape,
                      std::initializer_list<const py::array*> inputs) {
  if (!py::isinstance<py::array>(out))
    call.type_error(std::string("out must be a numpy.ndarray, got ") +
                    py::str(py::type::of(out).attr("__name__")).cast<std::string>());
  auto o = py::reinterpret_borrow<py::array>(out);
  if (!has_dtype(o, numpy_dtype(dt)))
    call.type_error("out has dtype " + py::str(o.dtype()).cast<std::string>() +
                    " but the result is " + (dt == DType::f32 ? "float32" : "float64"));
  bool same_shape = o.ndim() == static_cast<ssize_t>(shape.size());
  for (size_t i = 0; same_shape && i < shape.size(); ++i) same_shape = o.shape(i) == shape[i];
  if (!same_shape) {
    std::string want = "(";
    for (size_t i = 0; i < shape.size(); ++i)
      want +=
          std::to_string(shape[i]) + (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
    call.value_error("out has shape " + shape_str(o) + " but the result has shape " + want + ")");
  }
  if (!o.writeable()) call.value_error("out is read-only");
  if (o.size() == 0) return o;
  const auto oe = extent(o);
  for (const py::array* in : inputs) {
    if (in == nullptr || in->size() == 0) continue;
    const auto ie = extent(*in);
    if (ie.first >= oe.second || oe.first >= ie.second) continue;
    if (in->data() == o.data() && same_layout(*in, o)) continue;  // exactly in place: allowed
    if (Numpy::get().shares_memory(o, *in).cast<bool>())
      call.value_error(
          "out overlaps an input without being it; pass the input itself for in-place");
  }
  return o;
}

py::array result_buffer(const py::array& like, const py::object& out) {
  if (!out.is_none()) {
    auto o = py::reinterpret_borrow<py::array>(out);
    if (same_layout(o, like)) return o;
  }
  // `like` is dense (C or F order): a fresh array with its strides has the same layout. Made
  // through NumPy's C API (as pybind11's py::array constructor does, without its copies of
  // shape and strides): np.empty_like through Python costs more than a 4K-element kernel.
  const auto& api = py::detail::npy_api::get();
  auto* shape = const_cast<Py_intptr_t*>(reinterpret_cast<const Py_intptr_t*>(like.shape()));
  auto* strides = const_cast<Py_intptr_t*>(reinterpret_cast<const Py_intptr_t*>(like.strides()));
  PyObject* fresh =
      api.PyArray_NewFromDescr_(api.PyArray_Type_, like.dtype().release().ptr(), int(like.ndim()),
                                shape, strides, nullptr, 0, nullptr);
  if (fresh == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(fresh);
}

py::object finish(const py::array& result, const py::object& out, bool scalar_result) {
  if (!out.is_none()) {
    if (!result.is(out)) Numpy::get().copyto(out, result);
    return out;
  }
  if (scalar_result) return result[py::tuple()];
  return result;
}

}  // namespace nnk
