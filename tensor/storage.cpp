// storage.cpp: a Storage owns one block from the caching allocator.
#include "tensor/storage.h"

#include "tensor/allocator.h"

namespace ag {

Storage::Storage(size_t nbytes) : data_(allocate_bytes(nbytes)), nbytes_(nbytes) {}

Storage::~Storage() { free_bytes(data_, nbytes_); }

}  // namespace ag
