// Loss entry points. Python's nnkernels.losses validates everything (shapes, dtypes, labels,
// reductions) and hands over C-contiguous arrays of one dtype; these check that contract (a
// violation is a bug in the Python layer) and run the kernel with the GIL released.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "arrays.hpp"

namespace nnk {
namespace {

bool is_f32(const py::array& a) { return has_dtype(a, py::dtype::of<float>()); }

// `obj` as a C-contiguous array of T with `n` elements, or null for None.
template <class T>
T* operand(py::handle obj, const char* what, index_t n) {
  if (obj.is_none()) return nullptr;
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!has_dtype(a, py::dtype::of<T>()) || !(a.flags() & py::array::c_style) || a.size() != n)
    throw std::invalid_argument(std::string("internal: bad operand ") + what);
  if (!a.writeable() && (std::string(what) == "grad" || std::string(what) == "values"))
    throw std::invalid_argument(std::string("internal: read-only ") + what);
  return data_of<T>(a);
}

// Python checks the labels with a message naming the function; this keeps every kernel read
// within its row for callers that skip those checks (nnkernels.nn's trainer, whose labels come
// from its own encoding).
void check_labels(const std::int64_t* labels, index_t rows, index_t classes, double ignore_index) {
  if (labels == nullptr) return;
  const auto ignore = static_cast<std::int64_t>(ignore_index);
  for (index_t r = 0; r < rows; ++r)
    if ((labels[r] < 0 || labels[r] >= classes) && labels[r] != ignore)
      throw py::index_error("target index " + std::to_string(labels[r]) + " at row " +
                            std::to_string(r) + " is out of range for " + std::to_string(classes) +
                            " classes");
}

double pointwise(int op, py::array pred, py::array target, py::object weight, py::object grad,
                 py::object values, double scale, double p0, double p1, double p2) {
  if (op < 0 || op >= int(PointLoss::count)) throw std::invalid_argument("internal: loss op");
  const index_t n = pred.size();
  auto go = [&](auto tag, const LossTable<decltype(tag)>& table) {
    using T = decltype(tag);
    const PointArgs<T> a{operand<T>(pred, "pred", n),
                         operand<T>(target, "target", n),
                         operand<T>(weight, "weight", n),
                         operand<T>(grad, "grad", n),
                         operand<T>(values, "values", n),
                         n,
                         scale,
                         Params{{p0, p1, p2}}};
    const KernelGil gil(n);
    return table.pointwise[op](a);
  };
  return is_f32(pred) ? go(float{}, kernels().loss_f32) : go(double{}, kernels().loss_f64);
}

double rowwise(int op, py::array pred, py::object target, py::object labels,
               py::object class_weight, py::object sample_weight, py::object grad,
               py::object values, double scale, double p0, double p1, double p2) {
  if (op < 0 || op >= int(RowLoss::count)) throw std::invalid_argument("internal: loss op");
  if (pred.ndim() != 2) throw std::invalid_argument("internal: pred must be 2-D");
  const index_t rows = pred.shape(0), classes = pred.shape(1), n = rows * classes;
  auto go = [&](auto tag, const LossTable<decltype(tag)>& table) {
    using T = decltype(tag);
    const RowArgs<T> a{operand<T>(pred, "pred", n),
                       operand<T>(target, "target", n),
                       operand<std::int64_t>(labels, "labels", rows),
                       operand<T>(class_weight, "class_weight", classes),
                       operand<T>(sample_weight, "sample_weight", rows),
                       operand<T>(grad, "grad", n),
                       operand<T>(values, "values", rows),
                       rows,
                       classes,
                       scale,
                       Params{{p0, p1, p2}}};
    if (a.labels == nullptr && a.target == nullptr)
      throw std::invalid_argument("internal: no target");
    check_labels(a.labels, rows, classes, p2);
    if (a.class_weight == nullptr) throw std::invalid_argument("internal: no class weight");
    const KernelGil gil(n);
    return table.rowwise[op](a);
  };
  return is_f32(pred) ? go(float{}, kernels().loss_f32) : go(double{}, kernels().loss_f64);
}

}  // namespace

void bind_losses(py::module_& m) {
  py::dict point, row;
#define NNK_NAME(name, Type) point[#name] = int(PointLoss::name);
  NNK_POINTWISE_LOSSES(NNK_NAME)
#undef NNK_NAME
#define NNK_NAME(name, Type) row[#name] = int(RowLoss::name);
  NNK_ROW_LOSSES(NNK_NAME)
#undef NNK_NAME
  m.attr("POINTWISE_LOSSES") = point;
  m.attr("ROW_LOSSES") = row;
  m.def("loss_pointwise", &pointwise,
        "One pass of pointwise loss op: writes grad (scaled) and values when given; returns "
        "the sum of the values.",
        py::arg("op"), py::arg("pred"), py::arg("target"), py::arg("weight"), py::arg("grad"),
        py::arg("values"), py::arg("scale"), py::arg("p0"), py::arg("p1"), py::arg("p2"));
  m.def("loss_rowwise", &rowwise,
        "One pass of row-wise loss op over a C-contiguous (rows, classes) pred.", py::arg("op"),
        py::arg("pred"), py::arg("target"), py::arg("labels"), py::arg("class_weight"),
        py::arg("sample_weight"), py::arg("grad"), py::arg("values"), py::arg("scale"),
        py::arg("p0"), py::arg("p1"), py::arg("p2"));
}

}  // namespace nnk
