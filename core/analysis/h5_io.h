// SPDX-License-Identifier: Apache-2.0
// Thin RAII helpers over the HDF5 C API for analysis_h5.cpp: handles that close themselves,
// typed attributes, compressed 1-D / 2-D datasets with units and description, string arrays.
// Every failure throws StatusError naming the file and the object (IoError when writing,
// InvalidInput when reading).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ostq::h5 {

class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: used like the raw id in API calls
  // Closes now; returns false when HDF5 reports an error (e.g. a failed flush).
  bool reset();

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// Turns off HDF5's automatic error printing to stderr while alive (errors become Status).
class QuietErrors {
 public:
  QuietErrors();
  ~QuietErrors();
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

struct ArrayInfo {
  const char* units = "";
  const char* shape = "";
  const char* description = "";
};

class Writer {
 public:
  explicit Writer(std::string file) : file_(std::move(file)) {}
  Handle group(hid_t parent, const std::string& name, const std::string& path) const;
  void attr(hid_t obj, const std::string& name, int64_t v, const std::string& where) const;
  void attr_u64(hid_t obj, const std::string& name, uint64_t v, const std::string& where) const;
  void attr(hid_t obj, const std::string& name, double v, const std::string& where) const;
  void attr(hid_t obj, const std::string& name, const std::string& v,
            const std::string& where) const;
  // dims: one or two sizes whose product is the element count; skipped when empty.
  void array(hid_t g, const std::string& name, const float* data, std::vector<hsize_t> dims,
             const ArrayInfo& info, const std::string& where) const;
  void array(hid_t g, const std::string& name, const double* data, std::vector<hsize_t> dims,
             const ArrayInfo& info, const std::string& where) const;
  void array(hid_t g, const std::string& name, const int64_t* data, std::vector<hsize_t> dims,
             const ArrayInfo& info, const std::string& where) const;
  void strings(hid_t g, const std::string& name, const std::vector<std::string>& v,
               const std::string& where) const;

 private:
  void array_impl(hid_t g, const std::string& name, const void* data, hid_t mem_type,
                  hid_t file_type, std::vector<hsize_t> dims, const ArrayInfo& info,
                  const std::string& where) const;
  std::string file_;
};

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}
  [[noreturn]] void fail(const std::string& what) const;
  Handle group(hid_t parent, const std::string& name, const std::string& path) const;
  bool has_link(hid_t parent, const std::string& name) const;
  bool has_attr(hid_t obj, const std::string& name) const;
  int64_t attr_i64(hid_t obj, const std::string& name, const std::string& where) const;
  uint64_t attr_u64(hid_t obj, const std::string& name, const std::string& where) const;
  double attr_f64(hid_t obj, const std::string& name, const std::string& where) const;
  std::string attr_str(hid_t obj, const std::string& name, const std::string& where) const;
  // Empty when absent; *dims receives the dataset's dimensions.
  std::vector<float> array_f32(hid_t g, const std::string& name, const std::string& where,
                               std::vector<hsize_t>* dims = nullptr) const;
  std::vector<double> array_f64(hid_t g, const std::string& name, const std::string& where,
                                std::vector<hsize_t>* dims = nullptr) const;
  std::vector<int64_t> array_i64(hid_t g, const std::string& name, const std::string& where,
                                 std::vector<hsize_t>* dims = nullptr) const;
  std::vector<std::string> strings(hid_t g, const std::string& name,
                                   const std::string& where) const;

 private:
  void array_impl(hid_t g, const std::string& name, hid_t mem_type, size_t elem,
                  std::vector<char>& out, std::vector<hsize_t>* dims,
                  const std::string& where) const;
  Handle attribute(hid_t obj, const std::string& name, const std::string& where) const;
  std::string file_;
};

}  // namespace ostq::h5
