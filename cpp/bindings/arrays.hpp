// The input contract of every binding, in one place: dtype rules, shape and `out=` checks,
// layouts. Arguments are taken as plain Python objects (never pybind11's converting array_t,
// which would write results into a silent temporary copy) and every check runs before the
// first write.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <string>
#include <vector>

#include "nnkernels/dispatch.hpp"

namespace nnk {
namespace py = pybind11;

enum class DType { f32, f64 };

// NumPy functions the bindings call on slow paths (conversions, copies), looked up once.
struct Numpy {
  py::object asarray, ascontiguousarray, empty_like, copyto, shares_memory;
  static const Numpy& get();
};

std::string shape_str(const py::array& a);

// `fn` is the public function name used in messages (a Python str, formatted only on error).
struct Call {
  py::handle fn;
  std::string name() const;
  [[noreturn]] void type_error(const std::string& msg) const;
  [[noreturn]] void value_error(const std::string& msg) const;
};

// obj as an ndarray of real numbers, or TypeError naming the argument and its dtype.
// `result` is updated to the result dtype: float32 only while every input is float32 (or
// float16); integers and bools compute in float64, as NumPy does.
py::array real_array(const Call& call, py::handle obj, const char* arg, DType& result);

// Whether `a` has dtype `d`. Compared by value: an unpickled or user-built float32 descriptor
// is a different object from NumPy's canonical one (byte order still counts).
inline bool has_dtype(const py::array& a, const py::dtype& d) {
  return a.dtype().is(d) || a.dtype().equal(d);
}

py::dtype numpy_dtype(DType dt);

// A (C- or F-) contiguous array of dtype dt: `a` itself when it already is one.
py::array dense_as(const py::array& a, DType dt);
// A C-contiguous array of dtype dt and a's shape: `a` itself when it already is one. Not
// np.ascontiguousarray, which turns a 0-d array into shape (1,) (and so the result as well).
py::array c_order_as(const py::array& a, DType dt);

// Checks `out` (ndarray, exact dtype and shape, writeable, not partly overlapping an input;
// null inputs are skipped).
py::array checked_out(const Call& call, py::handle out, DType dt, const std::vector<ssize_t>& shape,
                      std::initializer_list<const py::array*> inputs);

bool same_layout(const py::array& a, const py::array& b);
bool is_dense(const py::array& a);

// The array the kernel writes: `out` itself when its layout matches `like`, else a fresh array
// laid out as `like` (copied into `out` by finish()).
py::array result_buffer(const py::array& like, const py::object& out);
py::object finish(const py::array& result, const py::object& out, bool scalar_result);

// Releases the GIL around a kernel of `work` elements when it is long enough for another
// Python thread to use the time: below 16K elements a kernel takes a few microseconds, and
// releasing and re-taking the GIL would cost a tenth of a 4K-element call. (NumPy's ufuncs
// likewise keep it for small arrays.)
class KernelGil {
 public:
  explicit KernelGil(ssize_t work) {
    if (work >= 16384) release_.emplace();
  }

 private:
  std::optional<py::gil_scoped_release> release_;
};

template <class T>
T* data_of(const py::array& a) {
  return static_cast<T*>(const_cast<void*>(a.data()));
}

}  // namespace nnk
