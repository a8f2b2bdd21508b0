// Optimizer entry points. Python's nnkernels.optim builds the classes (defaults, hyperparameter
// ranges, state, schedules) on top of these. Every array of the call is checked before the
// first write; on error nothing is updated.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "arrays.hpp"

namespace nnk {
namespace {

constexpr int kNpyFloat = 11, kNpyDouble = 12;  // NumPy type numbers

std::string item(const char* list, size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

// The hyperparameters a step may set, by name.
struct Field {
  const char* name;
  double OptimHyper::* value;
};
const Field kFields[] = {{"lr", &OptimHyper::lr},
                         {"beta1", &OptimHyper::beta1},
                         {"beta2", &OptimHyper::beta2},
                         {"eps", &OptimHyper::eps},
                         {"momentum", &OptimHyper::momentum},
                         {"dampening", &OptimHyper::dampening},
                         {"lr_decay", &OptimHyper::lr_decay},
                         {"weight_decay", &OptimHyper::weight_decay},
                         {"decay", &OptimHyper::decay},
                         {"l1", &OptimHyper::l1},
                         {"grad_scale", &OptimHyper::grad_scale},
                         {"clip_value", &OptimHyper::clip_value},
                         {"step", &OptimHyper::step},
                         {"mu", &OptimHyper::mu},
                         {"mu_next", &OptimHyper::mu_next},
                         {"mu_product", &OptimHyper::mu_product},
                         {"mu_product_next", &OptimHyper::mu_product_next}};
struct Flag {
  const char* name;
  bool OptimHyper::* value;
};
const Flag kFlags[] = {{"nesterov", &OptimHyper::nesterov},
                       {"centered", &OptimHyper::centered},
                       {"amsgrad", &OptimHyper::amsgrad}};

OptimHyper hyper_of(const Call& call, const py::dict& d) {
  OptimHyper h;
  for (auto kv : d) {
    const std::string key = py::str(kv.first);
    bool known = false;
    for (const Field& f : kFields)
      if (key == f.name) {
        h.*f.value = kv.second.cast<double>();
        known = true;
      }
    for (const Flag& f : kFlags)
      if (key == f.name) {
        h.*f.value = kv.second.cast<bool>();
        known = true;
      }
    if (!known) call.type_error("unknown hyperparameter '" + key + "'");
  }
  return h;
}

// State arrays per parameter, as the Python classes allocate them.
int slot_count(Optim op, const OptimHyper& h) {
  switch (op) {
    case Optim::sgd:
      return h.momentum != 0 ? 1 : 0;
    case Optim::rmsprop:
      return 3;  // square_avg, momentum_buffer, grad_avg (the last two only when used)
    case Optim::adam:
      return h.amsgrad ? 3 : 2;
    case Optim::adagrad:
    case Optim::lion:
      return 1;
    default:
      return 2;
  }
}
// Whether slot j is read (RMSprop leaves momentum_buffer and grad_avg out unless enabled).
bool slot_used(Optim op, const OptimHyper& h, int j) {
  if (op != Optim::rmsprop) return true;
  return j == 0 || (j == 1 && h.momentum != 0) || (j == 2 && h.centered);
}

const char* dtype_name(bool f64) { return f64 ? "float64" : "float32"; }

// An ndarray read through NumPy's struct (pybind11's proxy): the checks below run for every
// array of every step, so they make no Python calls and build no strings unless they fail.
struct Raw {
  PyObject* obj;
  const py::detail::PyArray_Proxy* a;
  int type_num() const { return py::detail::array_descriptor_proxy(a->descr)->type_num; }
  bool has(int flag) const { return (a->flags & flag) != 0; }
  bool same_shape(const Raw& o) const {
    if (a->nd != o.a->nd) return false;
    for (int i = 0; i < a->nd; ++i)
      if (a->dimensions[i] != o.a->dimensions[i]) return false;
    return true;
  }
  index_t size() const {
    index_t n = 1;
    for (int i = 0; i < a->nd; ++i) n *= a->dimensions[i];
    return n;
  }
  py::array array() const { return py::reinterpret_borrow<py::array>(obj); }
  std::string dtype_str() const { return py::str(array().dtype()).cast<std::string>(); }
};
constexpr int kCContiguous = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_;
constexpr int kWriteable = py::detail::npy_api::NPY_ARRAY_WRITEABLE_;

// A list or tuple's items without copies (PySequence_Fast).
struct Items {
  py::object seq;
  PyObject** item;
  size_t size;
  Items(const Call& call, py::handle obj, const char* what) {
    // A str is a sequence too: its characters would be reported as arrays, one by one.
    const bool text = PyUnicode_Check(obj.ptr()) || PyBytes_Check(obj.ptr());
    PyObject* fast = text ? nullptr : PySequence_Fast(obj.ptr(), "");
    if (fast == nullptr) {
      PyErr_Clear();
      call.type_error(std::string(what) + " must be a list of numpy arrays, got " +
                      Py_TYPE(obj.ptr())->tp_name);
    }
    seq = py::reinterpret_steal<py::object>(fast);
    item = PySequence_Fast_ITEMS(fast);
    size = static_cast<size_t>(PySequence_Fast_GET_SIZE(fast));
  }
};

// Checked and flattened arguments; `keep` holds contiguous copies of strided gradients.
struct Batch {
  std::vector<OptimTensor> t;
  std::vector<py::array> keep;
};

// Builds the batch; `names` says what the arrays are called in messages ("params", "grads").
class BatchChecker {
 public:
  BatchChecker(const Call& call, const char* pname, const char* gname)
      : call_(call), pname_(pname), gname_(gname) {}

  Raw array(PyObject* obj, const char* list, size_t i, int slot = -1) const {
    if (!py::isinstance<py::array>(obj))
      call_.type_error(name(list, i, slot) + " must be a numpy.ndarray, got " +
                       std::string(Py_TYPE(obj)->tp_name));
    return Raw{obj, py::detail::array_proxy(obj)};
  }
  // A writeable C-contiguous array the step writes (a parameter or a state slot).
  void target(const Raw& r, const char* list, size_t i, int slot = -1) const {
    if (!r.has(kWriteable)) call_.value_error(name(list, i, slot) + " is read-only");
    if (!r.has(kCContiguous)) call_.value_error(name(list, i, slot) + " is not C-contiguous");
  }
  std::string name(const char* list, size_t i, int slot) const {
    const std::string base = item(list, i);
    return slot < 0 ? base : "state " + std::to_string(slot) + " of " + item(pname_, i);
  }

  Batch check(Optim op, const OptimHyper& h, py::handle params, py::handle grads, py::handle slots,
              bool write) const {
    const Items ps(call_, params, pname_), gs(call_, grads, gname_);
    const size_t n = ps.size;
    if (gs.size != n)
      call_.value_error("got " + std::to_string(gs.size) + " gradients for " + std::to_string(n) +
                        " parameters");
    const int nslots = write ? slot_count(op, h) : 0;
    std::vector<Items> ss;
    if (write) {
      const Items sl(call_, slots, "slots");
      if (static_cast<int>(sl.size) != nslots)
        call_.value_error("expected " + std::to_string(nslots) + " state lists, got " +
                          std::to_string(sl.size));
      for (int j = 0; j < nslots; ++j) {
        ss.emplace_back(call_, sl.item[j], "a state list");
        if (slot_used(op, h, j) && ss[j].size != n)
          call_.value_error("state list " + std::to_string(j) + " has " +
                            std::to_string(ss[j].size) + " arrays for " + std::to_string(n) +
                            " parameters");
      }
    }
    Batch b;
    b.t.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const Raw p = array(ps.item[i], pname_, i);
      const int num = p.type_num();
      if (num != kNpyFloat && num != kNpyDouble)
        call_.type_error(item(pname_, i) + " has dtype " + p.dtype_str() +
                         "; expected float32 or float64");
      const bool f64 = num == kNpyDouble;
      if (write) target(p, pname_, i);
      Raw g = array(gs.item[i], gname_, i);
      if (write && !p.same_shape(g))
        call_.value_error(item(gname_, i) + " has shape " + shape_str(g.array()) + " but " +
                          item(pname_, i) + " has shape " + shape_str(p.array()));
      if (write && g.type_num() != num)
        call_.type_error(item(gname_, i) + " has dtype " + g.dtype_str() + " but " +
                         item(pname_, i) + " is " + dtype_name(f64));
      if (!g.has(kCContiguous)) {
        b.keep.push_back(Numpy::get().ascontiguousarray(g.array()));
        g = Raw{b.keep.back().ptr(), py::detail::array_proxy(b.keep.back().ptr())};
      }
      OptimTensor t{
          write ? p.a->data : nullptr, g.a->data, {nullptr, nullptr, nullptr}, p.size(), f64};
      for (int j = 0; j < nslots; ++j) {
        if (!slot_used(op, h, j)) continue;
        const Raw st = array(ss[j].item[i], pname_, i, j);
        if (!p.same_shape(st) || st.type_num() != num)
          call_.value_error(name(pname_, i, j) + " has shape " + shape_str(st.array()) +
                            " and dtype " + st.dtype_str() + "; expected " + shape_str(p.array()) +
                            " " + dtype_name(f64));
        target(st, pname_, i, j);
        t.slot[j] = st.a->data;
      }
      b.t.push_back(t);
    }
    if (write) disjoint_targets(b, nslots);
    return b;
  }

 private:
  // Every array the step writes (parameters and state) must be disjoint from the others: a
  // shared or overlapping piece would be updated twice, in an order that depends on threads.
  void disjoint_targets(const Batch& b, int nslots) const {
    struct Region {
      std::uintptr_t begin, end;
      size_t i;
      int slot;  // -1: the parameter
      bool operator<(const Region& o) const {
        return std::tie(begin, i, slot) < std::tie(o.begin, o.i, o.slot);
      }
    };
    std::vector<Region> regions;
    for (size_t i = 0; i < b.t.size(); ++i) {
      const OptimTensor& t = b.t[i];
      const auto bytes = static_cast<std::uintptr_t>(t.n) * (t.f64 ? 8 : 4);
      auto add = [&](const void* data, int slot) {
        const auto at = reinterpret_cast<std::uintptr_t>(data);
        if (data != nullptr && bytes > 0) regions.push_back({at, at + bytes, i, slot});
      };
      add(t.param, -1);
      for (int j = 0; j < nslots; ++j) add(t.slot[j], j);
    }
    std::sort(regions.begin(), regions.end());
    size_t reach = 0;  // the region ending furthest among those before k
    for (size_t k = 1; k < regions.size(); ++k) {
      const Region &r = regions[k], &o = regions[reach];
      if (r.begin < o.end)
        call_.value_error(name(pname_, r.i, r.slot) + " shares its data with " +
                          name(pname_, o.i, o.slot));
      if (r.end > o.end) reach = k;
    }
  }

  const Call& call_;
  const char* pname_;
  const char* gname_;
};

// One optimizer step over every array. Returns (applied, grad_norm): grad_norm is the global
// L2 norm of the (value-clipped) gradients when it was needed (max_norm or skip_nonfinite),
// else None; applied is False when skip_nonfinite found an inf/NaN gradient.
py::tuple step(int op_id, py::handle params, py::handle grads, py::handle slots, py::dict hyper,
               double max_norm, bool skip_nonfinite, py::handle fn) {
  const Call call{fn};
  if (op_id < 0 || op_id > static_cast<int>(Optim::lion)) call.value_error("unknown optimizer");
  const Optim op = static_cast<Optim>(op_id);
  OptimHyper h = hyper_of(call, hyper);
  const Batch b = BatchChecker(call, "params", "grads").check(op, h, params, grads, slots, true);
  const bool need_stats = max_norm > 0 || skip_nonfinite;
  bool applied = true;
  double norm = 0;
  {
    py::gil_scoped_release release;
    const OptimTable& k = kernels().optim;
    if (need_stats) {
      const GradStats st = k.grad_stats(b.t.data(), index_t(b.t.size()), h.clip_value);
      norm = std::sqrt(st.sumsq);
      applied = !(skip_nonfinite && st.nonfinite > 0);
      // As torch.nn.utils.clip_grad_norm_: scale by min(1, max_norm / (norm + 1e-6)).
      const double coef = max_norm / (norm + 1e-6);
      if (max_norm > 0 && std::isfinite(max_norm) && !(coef >= 1)) h.grad_scale *= coef;
    }
    if (applied) k.step(op, h, b.t.data(), index_t(b.t.size()));
  }
  return py::make_tuple(applied,
                        need_stats ? py::object(py::float_(norm)) : py::object(py::none()));
}

// (global L2 norm of clamp(g, -clip_value, clip_value) over every array, count of inf/NaN).
py::tuple grad_stats(py::handle grads, double clip_value, py::handle fn) {
  const Call call{fn};
  const Batch b =
      BatchChecker(call, "grads", "grads").check(Optim::sgd, {}, grads, grads, py::none(), false);
  GradStats st;
  {
    py::gil_scoped_release release;
    st = kernels().optim.grad_stats(b.t.data(), index_t(b.t.size()), clip_value);
  }
  return py::make_tuple(std::sqrt(st.sumsq), static_cast<long long>(st.nonfinite));
}

}  // namespace

void bind_optim(py::module_& m) {
  py::dict ops;
  const char* names[] = {"sgd",      "adagrad", "rmsprop", "adam", "adamax",
                         "adadelta", "nadam",   "radam",   "lion"};
  for (int i = 0; i <= static_cast<int>(Optim::lion); ++i) ops[names[i]] = i;
  m.attr("OPTIMIZERS") = ops;
  m.def("optim_step", &step,
        "One optimizer step over every array of the lists, in place (nnkernels.optim).",
        py::arg("op"), py::arg("params"), py::arg("grads"), py::arg("slots"), py::arg("hyper"),
        py::arg("max_norm"), py::arg("skip_nonfinite"), py::arg("fn"));
  m.def("grad_stats", &grad_stats,
        "(global L2 norm, non-finite count) of a list of gradient arrays, deterministic.",
        py::arg("grads"), py::arg("clip_value"), py::arg("fn"));
}

}  // namespace nnk
