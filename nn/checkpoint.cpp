// checkpoint.cpp: safetensors save and load (format and promises in checkpoint.h).
// Saving is lay out, write the header, stream each tensor's bytes into a temporary file, fsync,
// rename. Loading is the reverse with a wall of checks in front: the header is parsed and every
// entry is checked against the file's real size before any tensor is allocated, so a corrupt
// or hostile file costs at most its own size in memory and never a read out of bounds.
#include "nn/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <system_error>
#include <vector>

#include "nn/checkpoint_json.h"
#include "tensor/kernels.h"

namespace ag {

// The data section is the tensors' memory as it is; that equals the format's little-endian
// bytes only on a little-endian machine (every machine attograd targets).
static_assert(std::endian::native == std::endian::little,
              "checkpoint.cpp writes tensors' bytes as they are; add byte swapping first");

namespace {

// The reference implementation's limit: the largest real headers are a few MB.
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

std::atomic<int64_t> fail_after_bytes{-1};  // testing::fail_next_save_after; -1 = off

std::string_view dtype_tag(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

bool dtype_from_tag(std::string_view tag, DType& out) {
  for (DType d : {kFloat32, kFloat64, kInt64, kBool})
    if (dtype_tag(d) == tag) {
      out = d;
      return true;
    }
  return false;
}

// Closes a file descriptor on every path out.
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

// ---- saving -------------------------------------------------------------------------------------

struct SaveEntry {
  std::string name;
  Tensor data;  // contiguous
  uint64_t begin = 0, end = 0;
};

// Writes everything or throws with errno set; a budget simulates a disk that fills up.
class Writer {
 public:
  Writer(int fd, int64_t budget) : fd_(fd), budget_(budget) {}
  void write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      size_t chunk = std::min<size_t>(n, size_t{1} << 30);
      if (budget_ >= 0) {
        if (written_ >= static_cast<uint64_t>(budget_)) {
          errno = ENOSPC;
          throw std::system_error(errno, std::generic_category());
        }
        chunk = std::min<size_t>(chunk, static_cast<uint64_t>(budget_) - written_);
      }
      const ssize_t r = ::write(fd_, p, chunk);
      if (r < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category());
      }
      p += r;
      n -= static_cast<size_t>(r);
      written_ += static_cast<uint64_t>(r);
    }
  }
  uint64_t written() const { return written_; }

 private:
  int fd_;
  int64_t budget_;
  uint64_t written_ = 0;
};

// Appends every part to out. Used instead of chains of "literal" + string, which read the
// same but make GCC 12 print false -Wrestrict warnings (GCC bug 105329).
template <typename... Parts>
void append(std::string& out, const Parts&... parts) {
  (out.append(parts), ...);
}

std::string header_json(const std::vector<SaveEntry>& by_name,
                        const std::map<std::string, std::string>& metadata) {
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      append(h, first ? "" : ",", json::quote(key), ":", json::quote(value));
      first = false;
    }
    h += "}";
  }
  for (const SaveEntry& e : by_name) {
    if (h.size() > 1) h += ",";
    append(h, json::quote(e.name), ":{\"dtype\":\"", dtype_tag(e.data.dtype()), "\",\"shape\":[");
    for (size_t d = 0; d < e.data.shape().size(); ++d)
      append(h, d ? "," : "", std::to_string(e.data.shape()[d]));
    append(h, "],\"data_offsets\":[", std::to_string(e.begin), ",", std::to_string(e.end), "]}");
  }
  h += "}";
  // Pad with spaces (JSON whitespace) so the data section starts at a multiple of 8.
  while ((8 + h.size()) % 8 != 0) h += ' ';
  return h;
}

// ---- loading ------------------------------------------------------------------------------------

struct LoadEntry {
  std::string name;
  DType dtype = kFloat32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// Reads exactly n bytes at offset, or returns false (the file ended or could not be read).
bool read_at(int fd, uint64_t offset, void* out, uint64_t n) {
  char* p = static_cast<char*>(out);
  while (n > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 30));
    const ssize_t r = ::pread(fd, p, chunk, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    offset += static_cast<uint64_t>(r);
    n -= static_cast<uint64_t>(r);
  }
  return true;
}

std::string offsets_str(const LoadEntry& e) {
  std::string out;
  append(out, "[", std::to_string(e.begin), ", ", std::to_string(e.end), "]");
  return out;
}

}  // namespace

// ---- public -------------------------------------------------------------------------------------

bool Checkpoint::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& e) { return e.first == name; });
}

const Tensor& Checkpoint::at(const std::string& name) const {
  for (const auto& [key, tensor] : tensors)
    if (key == name) return tensor;
  throw Error("load", "the checkpoint has no tensor named \"", name, "\"");
}

void testing::fail_next_save_after(uint64_t bytes) {
  fail_after_bytes.store(static_cast<int64_t>(bytes));
}

void save(const std::string& path, const nn::NamedTensors& tensors,
          const std::map<std::string, std::string>& metadata) {
  const int64_t budget = fail_after_bytes.exchange(-1);  // one-shot, so no test leaks it

  // 1. Check names and gather contiguous data.
  std::vector<SaveEntry> entries;
  std::set<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty()) throw Error("save", "a tensor name is empty");
    if (name == "__metadata__")
      throw Error("save", "\"__metadata__\" is reserved for metadata and cannot name a tensor");
    if (!json::is_valid_utf8(name)) throw Error("save", "tensor name \"", name, "\" is not UTF-8");
    if (!names.insert(name).second) throw Error("save", "the name \"", name, "\" appears twice");
    if (!tensor.defined()) throw Error("save", "tensor \"", name, "\" is undefined");
    entries.push_back({name, kernels::contiguous(tensor.detach())});
  }
  for (const auto& [key, value] : metadata)
    if (!json::is_valid_utf8(key) || !json::is_valid_utf8(value))
      throw Error("save", "metadata \"", key, "\" is not UTF-8");

  // The header lists tensors by name. Sorted now, before by_layout below takes pointers.
  std::sort(entries.begin(), entries.end(),
            [](const SaveEntry& a, const SaveEntry& b) { return a.name < b.name; });

  // 2. Lay out the data section: widest elements first keeps every tensor aligned to its
  //    element size (offsets are sums of multiples of 8, then 4, then 1 bytes).
  std::vector<SaveEntry*> by_layout;
  for (auto& e : entries) by_layout.push_back(&e);
  std::sort(by_layout.begin(), by_layout.end(), [](const SaveEntry* a, const SaveEntry* b) {
    const size_t sa = element_size(a->data.dtype()), sb = element_size(b->data.dtype());
    return sa != sb ? sa > sb : a->name < b->name;
  });
  uint64_t offset = 0;
  for (SaveEntry* e : by_layout) {
    e->begin = offset;
    offset += static_cast<uint64_t>(e->data.numel()) * element_size(e->data.dtype());
    e->end = offset;
  }
  const std::string header = header_json(entries, metadata);
  const uint64_t header_length = header.size();
  const uint64_t total = 8 + header_length + offset;

  // 3. Write a temporary file beside the target, then rename it into place.
  std::string tmp;
  append(tmp, path, ".tmp-", std::to_string(::getpid()));
  FileDescriptor file;
  file.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (file.fd < 0)
    throw Error("save", "cannot create \"", tmp, "\": ", std::strerror(errno));
  Writer writer(file.fd, budget);
  try {
    writer.write(&header_length, 8);
    writer.write(header.data(), header.size());
    for (const SaveEntry* e : by_layout)
      writer.write(e->data.raw_data(), static_cast<size_t>(e->end - e->begin));
    // The rename must not reach the disk before the data does, or a crash could leave the
    // new name pointing at unwritten blocks.
    if (::fsync(file.fd) != 0) throw std::system_error(errno, std::generic_category());
    const int fd = file.fd;
    file.fd = -1;
    if (::close(fd) != 0) throw std::system_error(errno, std::generic_category());
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw std::system_error(errno, std::generic_category());
  } catch (const std::system_error& e) {
    ::unlink(tmp.c_str());
    throw Error("save", "could not write \"", path, "\": ", e.code().message(), " (after ",
                writer.written(), " of ", total, " bytes); any previous file there is untouched");
  }
  // Make the rename itself durable. Best effort: the new file is complete and in place either
  // way, and a failure here would only mean a crash might bring the old one back.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  FileDescriptor dir_fd;
  dir_fd.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd.fd >= 0) ::fsync(dir_fd.fd);
}

Checkpoint load(const std::string& path) {
  auto fail = [&](const auto&... parts) { return Error("load", "\"", path, "\": ", parts...); };

  FileDescriptor file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) throw fail("cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) throw fail("cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw fail("not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);

  // 1. The header length.
  if (size < 8)
    throw fail("the file is ", size, " bytes, shorter than the 8-byte header length "
               "(not a safetensors file, or truncated)");
  uint64_t header_length = 0;
  if (!read_at(file.fd, 0, &header_length, 8)) throw fail("cannot read the header length");
  if (header_length > kMaxHeaderBytes)
    throw fail("the header length ", header_length, " is absurd (the limit is ", kMaxHeaderBytes,
               " bytes): not a safetensors file?");
  if (header_length > size - 8)
    throw fail("the header length ", header_length, " runs past the end of the file (",
               size, " bytes, so at most ", size - 8, " of header)");

  // 2. The header JSON.
  std::string header(header_length, '\0');
  if (!read_at(file.fd, 8, header.data(), header_length)) throw fail("cannot read the header");
  json::Value root;
  try {
    root = json::parse(header);
  } catch (const json::ParseError& e) {
    throw fail("the header is not valid JSON: ", e.what(), " at byte ", e.offset(),
               " of the header");
  }
  if (root.kind != json::Value::Kind::Object) throw fail("the header is not a JSON object");

  // 3. Each entry, checked on its own.
  Checkpoint out;
  std::vector<LoadEntry> entries;
  for (const auto& [key, value] : root.members) {
    if (key == "__metadata__") {
      if (value.kind != json::Value::Kind::Object)
        throw fail("\"__metadata__\" must be an object of strings");
      for (const auto& [meta_key, meta_value] : value.members) {
        if (meta_value.kind != json::Value::Kind::String)
          throw fail("metadata \"", meta_key, "\" is not a string (the format allows only strings)");
        out.metadata[meta_key] = meta_value.text;
      }
      continue;
    }
    std::string what;
    append(what, "tensor \"", key, "\"");
    if (value.kind != json::Value::Kind::Object) throw fail(what, " is not a JSON object");
    const json::Value* dtype = nullptr;
    const json::Value* shape = nullptr;
    const json::Value* offsets = nullptr;
    for (const auto& [field, field_value] : value.members) {
      if (field == "dtype") dtype = &field_value;
      else if (field == "shape") shape = &field_value;
      else if (field == "data_offsets") offsets = &field_value;
      else throw fail(what, " has an unknown field \"", field, "\"");
    }
    if (!dtype || !shape || !offsets)
      throw fail(what, " lacks \"", !dtype ? "dtype" : !shape ? "shape" : "data_offsets", "\"");

    LoadEntry e;
    e.name = key;
    if (dtype->kind != json::Value::Kind::String) throw fail(what, " has a dtype that is not a string");
    if (!dtype_from_tag(dtype->text, e.dtype))
      throw fail(what, " has dtype \"", dtype->text, "\", which attograd cannot hold (it reads "
                 "F32, F64, I64 and BOOL)");
    if (shape->kind != json::Value::Kind::Array) throw fail(what, " has a shape that is not a list");
    for (const json::Value& size_value : shape->items) {
      uint64_t dim = 0;
      if (!json::to_uint64(size_value, std::numeric_limits<int64_t>::max(), dim))
        throw fail(what, " has a shape entry \"", size_value.text,
                   "\" that is not a non-negative integer");
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    if (offsets->kind != json::Value::Kind::Array || offsets->items.size() != 2 ||
        !json::to_uint64(offsets->items[0], std::numeric_limits<uint64_t>::max(), e.begin) ||
        !json::to_uint64(offsets->items[1], std::numeric_limits<uint64_t>::max(), e.end))
      throw fail(what, " has data_offsets that are not two non-negative integers [begin, end]");
    if (e.begin > e.end) throw fail(what, " has data_offsets ", offsets_str(e), " that end before they begin");
    // numel * element size, refusing to overflow (a shape of [2^40, 2^40] must not wrap to 0).
    uint64_t bytes = element_size(e.dtype);
    for (int64_t dim : e.shape) {
      const auto d = static_cast<uint64_t>(dim);
      if (d != 0 && bytes > std::numeric_limits<uint64_t>::max() / d) {
        bytes = std::numeric_limits<uint64_t>::max();  // will not match any offsets
        break;
      }
      bytes *= d;
    }
    if (std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end()) bytes = 0;
    if (bytes != e.end - e.begin)
      throw fail(what, ": shape ", e.shape, " of ", dtype->text, " needs ", bytes,
                 " bytes, but data_offsets ", offsets_str(e), " hold ", e.end - e.begin);
    entries.push_back(std::move(e));
  }

  // 4. The ranges against each other and the file: they must tile the data section.
  const uint64_t data_start = 8 + header_length;
  const uint64_t data_size = size - data_start;
  for (const LoadEntry& e : entries)
    if (e.end > data_size)
      throw fail("tensor \"", e.name, "\" has data_offsets ", offsets_str(e),
                 " past the end of the data section (", data_size, " bytes; truncated file?)");
  std::vector<const LoadEntry*> by_offset;
  for (const LoadEntry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const LoadEntry* a, const LoadEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expected = 0;
  const LoadEntry* previous = nullptr;
  for (const LoadEntry* e : by_offset) {
    if (e->begin < expected)
      throw fail("tensors \"", previous->name, "\" ", offsets_str(*previous), " and \"", e->name,
                 "\" ", offsets_str(*e), " overlap");
    if (e->begin > expected)
      throw fail("a gap of ", e->begin - expected, " bytes before tensor \"", e->name, "\" ",
                 offsets_str(*e), ": the data section must be tiled exactly");
    expected = e->end;
    previous = e;
  }
  if (expected != data_size)
    throw fail(data_size - expected, " bytes of trailing garbage after the last tensor (the data "
               "section is ", data_size, " bytes, the tensors cover ", expected, ")");

  // 5. Everything fits: read the data.
  std::sort(entries.begin(), entries.end(),
            [](const LoadEntry& a, const LoadEntry& b) { return a.name < b.name; });
  for (const LoadEntry& e : entries) {
    Tensor t = empty(e.shape, e.dtype);
    const uint64_t bytes = e.end - e.begin;
    if (bytes > 0 && !read_at(file.fd, data_start + e.begin, t.raw_data(), bytes))
      throw fail("the file ended while reading tensor \"", e.name, "\"");
    if (e.dtype == kBool) {
      // A C++ bool holding anything but 0 or 1 is undefined behaviour; check the bytes.
      const auto* p = static_cast<const unsigned char*>(t.raw_data());
      for (uint64_t i = 0; i < bytes; ++i)
        if (p[i] > 1)
          throw fail("tensor \"", e.name, "\" is BOOL but its byte ", i, " is ",
                     static_cast<int>(p[i]), " (must be 0 or 1)");
    }
    out.tensors.emplace_back(e.name, t);
  }
  return out;
}

}  // namespace ag
