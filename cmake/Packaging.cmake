# SPDX-License-Identifier: Apache-2.0
# Debian package of the installed tree: `cmake --build build --target package` (or `cpack -G DEB`
# in the build directory) writes ostq-workbench_<version>_<arch>.deb with /usr/bin/ostq and, when
# the GUI is built, ostq-workbench with its desktop entry, icon and AppStream file.
# Debian's LibTorch, HDF5 and Qt 6 live in the system library directories, so the installed
# binaries need no RPATH and dpkg-shlibdeps derives Depends from what they really link.

# A LibTorch outside the system directories (a PyTorch wheel chosen with Torch_DIR) is found at
# run time through an install RPATH; it is no Debian package, so the .deb cannot depend on it.
set(_ostq_torch_libdir "")
foreach(_lib IN LISTS TORCH_LIBRARIES)
  if(_lib MATCHES "/libc10\\.so$")
    get_filename_component(_ostq_torch_libdir "${_lib}" DIRECTORY)
  endif()
endforeach()
set(_ostq_system_torch ON)
if(_ostq_torch_libdir AND NOT _ostq_torch_libdir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
  set(_ostq_system_torch OFF)
  foreach(_t ostq ostq-workbench)
    if(TARGET ${_t})
      set_property(TARGET ${_t} APPEND PROPERTY INSTALL_RPATH "${_ostq_torch_libdir}")
    endif()
  endforeach()
  message(STATUS "Packaging: LibTorch in ${_ostq_torch_libdir} (not a system directory): "
                 "installed binaries get it as RPATH; the .deb does not depend on it")
endif()

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "ostq-workbench")
set(CPACK_PACKAGE_VENDOR "OSTQ Workbench developers")
if(NOT CPACK_PACKAGE_CONTACT)  # the Maintainer field; override with -DCPACK_PACKAGE_CONTACT=...
  set(CPACK_PACKAGE_CONTACT "OSTQ Workbench developers <ostq-workbench@localhost>")
endif()
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Post-training quantization workbench for LLaMA-family models")
set(CPACK_PACKAGE_DESCRIPTION
    "OSTQuant and its baselines (RTN, SmoothQuant, GPTQ, QuaRot, SpinQuant) for LLaMA, Mistral and
Qwen2 models on LibTorch: activation analysis, learned transforms, quantization, evaluation and
exports for other runtimes. Contains the ostq command line and, when built, the Qt 6 workbench.")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <name>_<version>-<release>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
# libtorch only recommends OpenBLAS; without it fp32 matmul falls back to the reference BLAS
# (~20x slower, ENVIRONMENT.md §1), so the package asks for it explicitly.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-pthread")
find_program(OSTQ_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(OSTQ_DPKG_SHLIBDEPS AND _ostq_system_torch)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  # Without dpkg-shlibdeps: the Debian 12 packages the binaries link (ldd + dpkg -S).
  set(_ostq_deps "libc6, libstdc++6, libgcc-s1, libgomp1, libhdf5-103-1")
  if(_ostq_system_torch)
    string(APPEND _ostq_deps ", libtorch1.13")
  endif()
  if(TARGET ostq-workbench)
    string(APPEND _ostq_deps ", libqt6core6, libqt6gui6, libqt6widgets6, libqt6charts6, libqt6svg6")
  endif()
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", ${_ostq_deps}")
endif()

include(CPack)
