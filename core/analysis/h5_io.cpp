// SPDX-License-Identifier: Apache-2.0
#include "core/analysis/h5_io.h"

#include <algorithm>
#include <cstring>

#include "core/util/status.h"

namespace ostq::h5 {

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}

bool Handle::reset() {
  bool ok = true;
  if (id_ >= 0 && close_ != nullptr) ok = close_(id_) >= 0;
  id_ = -1;
  return ok;
}

QuietErrors::QuietErrors() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

QuietErrors::~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

namespace {

// A fixed-length UTF-8 string type of `size` bytes (≥ 1).
Handle string_type(size_t size) {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t, std::max<size_t>(1, size));
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

std::string shape_text(const std::vector<hsize_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

// ---- Writer ----------------------------------------------------------------------------------

Handle Writer::group(hid_t parent, const std::string& name, const std::string& path) const {
  Handle g(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (g.get() < 0) throw_io(file_ + ": cannot create group " + path);
  return g;
}

namespace {

void write_scalar_attr(hid_t obj, const std::string& name, hid_t file_type, hid_t mem_type,
                       const void* v, const std::string& file, const std::string& where) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate2(obj, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (a.get() < 0 || H5Awrite(a, mem_type, v) < 0)
    throw_io(file + ": cannot write attribute " + where + "@" + name);
}

}  // namespace

void Writer::attr(hid_t obj, const std::string& name, int64_t v, const std::string& where) const {
  write_scalar_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, file_, where);
}

void Writer::attr_u64(hid_t obj, const std::string& name, uint64_t v,
                      const std::string& where) const {
  write_scalar_attr(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v, file_, where);
}

void Writer::attr(hid_t obj, const std::string& name, double v, const std::string& where) const {
  write_scalar_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, file_, where);
}

void Writer::attr(hid_t obj, const std::string& name, const std::string& v,
                  const std::string& where) const {
  Handle t = string_type(v.size());
  std::vector<char> buf(std::max<size_t>(1, v.size()), '\0');
  std::memcpy(buf.data(), v.data(), v.size());
  write_scalar_attr(obj, name, t, t, buf.data(), file_, where);
}

void Writer::array_impl(hid_t g, const std::string& name, const void* data, hid_t mem_type,
                        hid_t file_type, std::vector<hsize_t> dims, const ArrayInfo& info,
                        const std::string& where) const {
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  if (n == 0) return;
  const std::string path = where + "/" + name;
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  // Chunks of at most ~256k elements along the first dimension.
  std::vector<hsize_t> chunk = dims;
  hsize_t inner = n / dims[0];
  chunk[0] = std::max<hsize_t>(
      1, std::min<hsize_t>(dims[0], (hsize_t{1} << 18) / std::max<hsize_t>(1, inner)));
  if (H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()) < 0 ||
      H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 4) < 0) {
    throw_io(file_ + ": cannot set up compression for " + path);
  }
  Handle ds(H5Dcreate2(g, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
            H5Dclose);
  if (ds.get() < 0 || H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    throw_io(file_ + ": cannot write dataset " + path);
  }
  attr(ds, "units", std::string(info.units), path);
  attr(ds, "shape", std::string(info.shape) + " = " + shape_text(dims), path);
  attr(ds, "description", std::string(info.description), path);
}

void Writer::array(hid_t g, const std::string& name, const float* data, std::vector<hsize_t> dims,
                   const ArrayInfo& info, const std::string& where) const {
  array_impl(g, name, data, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, std::move(dims), info, where);
}

void Writer::array(hid_t g, const std::string& name, const double* data, std::vector<hsize_t> dims,
                   const ArrayInfo& info, const std::string& where) const {
  array_impl(g, name, data, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, std::move(dims), info, where);
}

void Writer::array(hid_t g, const std::string& name, const int64_t* data, std::vector<hsize_t> dims,
                   const ArrayInfo& info, const std::string& where) const {
  array_impl(g, name, data, H5T_NATIVE_INT64, H5T_STD_I64LE, std::move(dims), info, where);
}

void Writer::strings(hid_t g, const std::string& name, const std::vector<std::string>& v,
                     const std::string& where) const {
  if (v.empty()) return;
  size_t width = 1;
  for (const std::string& s : v) width = std::max(width, s.size());
  std::vector<char> buf(width * v.size(), '\0');
  for (size_t i = 0; i < v.size(); ++i)
    std::memcpy(buf.data() + i * width, v[i].data(), v[i].size());
  Handle t = string_type(width);
  hsize_t dims[1] = {v.size()};
  Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  Handle ds(H5Dcreate2(g, name.c_str(), t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0 || H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) {
    throw_io(file_ + ": cannot write dataset " + where + "/" + name);
  }
}

// ---- Reader ----------------------------------------------------------------------------------

void Reader::fail(const std::string& what) const { throw_invalid(file_ + ": " + what); }

Handle Reader::group(hid_t parent, const std::string& name, const std::string& path) const {
  if (!has_link(parent, name))
    fail("missing group " + path + " (corrupt or incomplete analysis file)");
  Handle g(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), H5Gclose);
  if (g.get() < 0) fail("cannot open group " + path + " (corrupt file)");
  return g;
}

bool Reader::has_link(hid_t parent, const std::string& name) const {
  return H5Lexists(parent, name.c_str(), H5P_DEFAULT) > 0;
}

bool Reader::has_attr(hid_t obj, const std::string& name) const {
  return H5Aexists(obj, name.c_str()) > 0;
}

Handle Reader::attribute(hid_t obj, const std::string& name, const std::string& where) const {
  if (!has_attr(obj, name)) fail("missing attribute " + where + "@" + name);
  Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (a.get() < 0) fail("cannot open attribute " + where + "@" + name);
  return a;
}

namespace {

template <typename T>
T read_scalar(const Reader& r, Handle a, hid_t mem_type, H5T_class_t cls, const std::string& what) {
  Handle t(H5Aget_type(a), H5Tclose);
  Handle space(H5Aget_space(a), H5Sclose);
  if (H5Tget_class(t) != cls || H5Sget_simple_extent_npoints(space) != 1)
    r.fail("attribute " + what + " has the wrong type");
  T v{};
  if (H5Aread(a, mem_type, &v) < 0) r.fail("cannot read attribute " + what);
  return v;
}

}  // namespace

int64_t Reader::attr_i64(hid_t obj, const std::string& name, const std::string& where) const {
  return read_scalar<int64_t>(*this, attribute(obj, name, where), H5T_NATIVE_INT64, H5T_INTEGER,
                              where + "@" + name);
}

uint64_t Reader::attr_u64(hid_t obj, const std::string& name, const std::string& where) const {
  return read_scalar<uint64_t>(*this, attribute(obj, name, where), H5T_NATIVE_UINT64, H5T_INTEGER,
                               where + "@" + name);
}

double Reader::attr_f64(hid_t obj, const std::string& name, const std::string& where) const {
  return read_scalar<double>(*this, attribute(obj, name, where), H5T_NATIVE_DOUBLE, H5T_FLOAT,
                             where + "@" + name);
}

std::string Reader::attr_str(hid_t obj, const std::string& name, const std::string& where) const {
  Handle a = attribute(obj, name, where);
  Handle t(H5Aget_type(a), H5Tclose);
  if (H5Tget_class(t) != H5T_STRING) fail("attribute " + where + "@" + name + " is not a string");
  if (H5Tis_variable_str(t) > 0) {  // as other writers (h5py) store strings
    Handle mt(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mt, H5T_VARIABLE);
    char* p = nullptr;
    if (H5Aread(a, mt, &p) < 0) fail("cannot read attribute " + where + "@" + name);
    std::string s = p != nullptr ? p : "";
    H5free_memory(p);
    return s;
  }
  const size_t size = H5Tget_size(t);
  std::vector<char> buf(size + 1, '\0');
  if (H5Aread(a, t, buf.data()) < 0) fail("cannot read attribute " + where + "@" + name);
  return std::string(buf.data(), strnlen(buf.data(), size));
}

void Reader::array_impl(hid_t g, const std::string& name, hid_t mem_type, size_t elem,
                        std::vector<char>& out, std::vector<hsize_t>* dims,
                        const std::string& where) const {
  out.clear();
  if (dims != nullptr) dims->clear();
  if (!has_link(g, name)) return;
  const std::string path = where + "/" + name;
  Handle ds(H5Dopen2(g, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0) fail("cannot open dataset " + path);
  Handle space(H5Dget_space(ds), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 1 || rank > 2) fail("dataset " + path + " has an unexpected rank");
  std::vector<hsize_t> d(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space, d.data(), nullptr);
  hsize_t n = 1;
  for (hsize_t x : d) n *= x;
  out.resize(n * elem);
  if (n > 0 && H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) {
    fail("cannot read dataset " + path + " (truncated or corrupt)");
  }
  if (dims != nullptr) *dims = d;
}

namespace {

template <typename T>
std::vector<T> from_bytes(const std::vector<char>& b) {
  std::vector<T> v(b.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), b.data(), v.size() * sizeof(T));
  return v;
}

}  // namespace

std::vector<float> Reader::array_f32(hid_t g, const std::string& name, const std::string& where,
                                     std::vector<hsize_t>* dims) const {
  std::vector<char> b;
  array_impl(g, name, H5T_NATIVE_FLOAT, sizeof(float), b, dims, where);
  return from_bytes<float>(b);
}

std::vector<double> Reader::array_f64(hid_t g, const std::string& name, const std::string& where,
                                      std::vector<hsize_t>* dims) const {
  std::vector<char> b;
  array_impl(g, name, H5T_NATIVE_DOUBLE, sizeof(double), b, dims, where);
  return from_bytes<double>(b);
}

std::vector<int64_t> Reader::array_i64(hid_t g, const std::string& name, const std::string& where,
                                       std::vector<hsize_t>* dims) const {
  std::vector<char> b;
  array_impl(g, name, H5T_NATIVE_INT64, sizeof(int64_t), b, dims, where);
  return from_bytes<int64_t>(b);
}

std::vector<std::string> Reader::strings(hid_t g, const std::string& name,
                                         const std::string& where) const {
  std::vector<std::string> v;
  if (!has_link(g, name)) return v;
  const std::string path = where + "/" + name;
  Handle ds(H5Dopen2(g, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0) fail("cannot open dataset " + path);
  Handle t(H5Dget_type(ds), H5Tclose);
  Handle space(H5Dget_space(ds), H5Sclose);
  if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) > 0 ||
      H5Sget_simple_extent_ndims(space) != 1) {
    fail("dataset " + path + " is not a fixed-length string array");
  }
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  const size_t width = H5Tget_size(t);
  std::vector<char> buf(width * n + 1, '\0');
  if (n > 0 && H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
    fail("cannot read dataset " + path);
  for (hsize_t i = 0; i < n; ++i) {
    const char* p = buf.data() + i * width;
    v.emplace_back(p, strnlen(p, width));
  }
  return v;
}

}  // namespace ostq::h5
