// Optimizer entry points. Python's nnkernels.optim builds the classes (defaults, hyperparameter
// ranges, state, schedules) on top of these. Every array of the call is checked before the
// first write; on error nothing is updated.
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>
#include <unordered_set>
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

bool same_shape(const py::array& a, const py::array& b) {
  if (a.ndim() != b.ndim()) return false;
  for (ssize_t i = 0; i < a.ndim(); ++i)
    if (a.shape(i) != b.shape(i)) return false;
  return true;
}

// Checked and flattened arguments; `keep` holds contiguous copies of strided gradients.
struct Batch {
  std::vector<OptimTensor> t;
  std::vector<py::array> keep;
};

py::array as_array(const Call& call, py::handle obj, const std::string& what) {
  if (!py::isinstance<py::array>(obj))
    call.type_error(what + " must be a numpy.ndarray, got " +
                    py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  return py::reinterpret_borrow<py::array>(obj);
}

// A writeable C-contiguous array of the parameter's shape and dtype (param itself, or a slot).
void check_target(const Call& call, const py::array& a, const std::string& what) {
  if (!a.writeable()) call.value_error(what + " is read-only");
  if (!(a.flags() & py::array::c_style)) call.value_error(what + " is not C-contiguous");
}

Batch checked_batch(const Call& call, Optim op, const OptimHyper& h, py::handle params,
                    py::handle grads, py::handle slots, bool need_slots) {
  const py::sequence ps = py::reinterpret_borrow<py::sequence>(params);
  const py::sequence gs = py::reinterpret_borrow<py::sequence>(grads);
  const size_t n = ps.size();
  if (gs.size() != n)
    call.value_error("got " + std::to_string(gs.size()) + " gradients for " + std::to_string(n) +
                     " parameters");
  const int nslots = need_slots ? slot_count(op, h) : 0;
  std::vector<py::sequence> ss;
  if (need_slots) {
    const py::sequence sl = py::reinterpret_borrow<py::sequence>(slots);
    if (static_cast<int>(sl.size()) != nslots)
      call.value_error("expected " + std::to_string(nslots) + " state lists, got " +
                       std::to_string(sl.size()));
    for (int j = 0; j < nslots; ++j) {
      ss.push_back(py::reinterpret_borrow<py::sequence>(sl[j]));
      if (slot_used(op, h, j) && ss[j].size() != n)
        call.value_error("state list " + std::to_string(j) + " has " +
                         std::to_string(ss[j].size()) + " arrays for " + std::to_string(n) +
                         " parameters");
    }
  }
  Batch b;
  b.t.reserve(n);
  std::unordered_set<const void*> seen;
  for (size_t i = 0; i < n; ++i) {
    const std::string pn = item("params", i), gn = item("grads", i);
    py::array p = as_array(call, ps[i], pn);
    const int num = p.dtype().num();
    if (num != kNpyFloat && num != kNpyDouble)
      call.type_error(pn + " has dtype " + py::str(p.dtype()).cast<std::string>() +
                      "; expected float32 or float64");
    const bool f64 = num == kNpyDouble;
    if (need_slots) check_target(call, p, pn);
    if (p.size() > 0 && !seen.insert(p.data()).second)
      call.value_error(pn + " shares its data with an earlier parameter");
    py::array g = as_array(call, gs[i], gn);
    if (!same_shape(p, g))
      call.value_error(gn + " has shape " + shape_str(g) + " but " + pn + " has shape " +
                       shape_str(p));
    if (g.dtype().num() != num)
      call.type_error(gn + " has dtype " + py::str(g.dtype()).cast<std::string>() + " but " + pn +
                      " is " + dtype_name(f64));
    if (!(g.flags() & py::array::c_style)) {
      g = Numpy::get().ascontiguousarray(g);
      b.keep.push_back(g);
    }
    OptimTensor t{p.mutable_data(), g.data(), {nullptr, nullptr, nullptr}, p.size(), f64};
    if (!need_slots) t.param = nullptr;
    for (int j = 0; j < nslots; ++j) {
      if (!slot_used(op, h, j)) continue;
      const std::string sn = "state " + std::to_string(j) + " of " + pn;
      py::array s = as_array(call, ss[j][i], sn);
      if (!same_shape(p, s) || s.dtype().num() != num)
        call.value_error(sn + " has shape " + shape_str(s) + " and dtype " +
                         py::str(s.dtype()).cast<std::string>() + "; expected " + shape_str(p) +
                         " " + dtype_name(f64));
      check_target(call, s, sn);
      if (p.size() > 0 && s.data() == p.data()) call.value_error(sn + " is the parameter itself");
      t.slot[j] = s.mutable_data();
    }
    b.t.push_back(t);
  }
  return b;
}

// One optimizer step over every array. Returns (applied, grad_norm): grad_norm is the global
// L2 norm of the (value-clipped) gradients when it was needed (max_norm or skip_nonfinite),
// else None; applied is False when skip_nonfinite found an inf/NaN gradient.
py::tuple step(int op_id, py::handle params, py::handle grads, py::handle slots, py::dict hyper,
               double max_norm, bool skip_nonfinite, py::handle fn) {
  const Call call{fn};
  if (op_id < 0 || op_id > static_cast<int>(Optim::lion)) call.value_error("unknown optimizer");
  const Optim op = static_cast<Optim>(op_id);
  OptimHyper h = hyper_of(call, hyper);
  const Batch b = checked_batch(call, op, h, params, grads, slots, true);
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
  const Batch b = checked_batch(call, Optim::sgd, OptimHyper{}, grads, grads, py::none(), false);
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
