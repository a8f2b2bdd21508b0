// The nnkernels._core extension: configuration (ISA, threads) and the family bindings.
#include <omp.h>
#include <pybind11/pybind11.h>

#include <string>

#include "build_config.hpp"
#include "nnkernels/dispatch.hpp"

namespace py = pybind11;

namespace nnk {
void bind_activations(py::module_& m);
void bind_losses(py::module_& m);
void bind_optim(py::module_& m);
void bind_layers(py::module_& m);
}  // namespace nnk

PYBIND11_MODULE(_core, m) {
  m.doc() = "nnkernels C++ kernels (SIMD + OpenMP); use the nnkernels package, not this module.";
  nnk::install_fork_handler();

  m.def("isa", &nnk::active_isa, "The ISA level whose kernels run now.");
  m.def("best_isa", &nnk::best_isa, "The best ISA level this CPU and build support.");
  m.def(
      "isa_supported", [](const std::string& name) { return nnk::isa_supported(name.c_str()); },
      "Whether an ISA level is compiled in and supported by this CPU.", py::arg("name"));
  m.def(
      "select_isa", [](const std::string& name) { nnk::select_isa(name.c_str()); },
      "Switch every kernel to an ISA level (testing and benchmarking).", py::arg("name"));
  m.def("get_num_threads", &nnk::effective_threads,
        "Threads a kernel call from this Python thread may use.");
  m.def("requested_threads", &nnk::requested_threads,
        "The set_num_threads() setting (0: the default is in force).");
  m.def(
      "set_num_threads", [](int n) { nnk::set_requested_threads(n); },
      "Set the threads kernels use (0 restores the default).", py::arg("n"));
  m.def("swap_block_threads", &nnk::swap_block_threads,
        "Set this thread's threads() count (0: none); returns the previous one.", py::arg("n"));
  m.def("in_forked_child", &nnk::in_forked_child,
        "Whether this process is a fork() child of the importer (kernels then run serial).");
  m.def("last_level_cache_bytes", &nnk::last_level_cache_bytes,
        "The size of the largest CPU cache (0 when unknown).");
  m.def("streaming_threshold", &nnk::streaming_threshold,
        "Bytes of a call's arrays above which its output is written by non-temporal stores.");
  m.def(
      "set_streaming_threshold", [](nnk::index_t bytes) { nnk::set_streaming_threshold(bytes); },
      "Set streaming_threshold() (a negative value restores the default; tests, benchmarks).",
      py::arg("bytes"));
  m.attr("ISA_LEVELS") = NNK_ISA_LEVELS;
  m.attr("COMPILER") = NNK_COMPILER;
  m.attr("FLAGS") = NNK_FLAGS;
  m.attr("OPENMP") = _OPENMP;
  nnk::bind_activations(m);
  nnk::bind_losses(m);
  nnk::bind_optim(m);
  nnk::bind_layers(m);
}
