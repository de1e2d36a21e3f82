#pragma once
// A fixed-size array of T for the per-flow tables (flow-table records and
// buckets, flow records): allocated once, 2 MiB aligned and advised to the
// kernel as huge pages (transparent huge pages in `madvise` mode, Debian's
// default) before it is first touched. A lookup at 1M flows is a random
// access into ~100 MB: with 4 KiB pages nearly every one is a TLB miss as
// well as a cache miss, and the prefetches of a burst cannot hide the page
// walks (perf/README.md "Burst size and prefetch"). Slow path only: the
// constructor allocates and may make a system call.

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace ftz::engine {

template <typename T>
class HugeArray {
 public:
  static constexpr size_t kHugePage = size_t{2} << 20;

  explicit HugeArray(size_t n) : size_(n) {
    if (n == 0) return;
    const size_t bytes = n * sizeof(T);
    const bool huge = bytes >= kHugePage;
    const size_t align = huge ? kHugePage : alignof(T) < 64 ? 64 : alignof(T);
    void* p = std::aligned_alloc(align, (bytes + align - 1) / align * align);
    if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    // Advice only: without huge pages the array works the same, slower.
    if (huge) (void)madvise(p, (bytes + align - 1) / align * align, MADV_HUGEPAGE);
#endif
    data_.reset(static_cast<T*>(p));
    std::uninitialized_value_construct_n(data_.get(), n);
  }
  ~HugeArray() {
    if (data_) std::destroy_n(data_.get(), size_);
  }
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;

  T& operator[](size_t i) noexcept {
    return data_[i];
  }
  const T& operator[](size_t i) const noexcept {
    return data_[i];
  }
  T* data() noexcept {
    return data_.get();
  }
  const T* data() const noexcept {
    return data_.get();
  }
  [[nodiscard]] size_t size() const noexcept {
    return size_;
  }
  T* begin() noexcept {
    return data_.get();
  }
  T* end() noexcept {
    return data_.get() + size_;
  }

 private:
  struct Free {
    void operator()(T* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<T[], Free> data_;
  size_t size_ = 0;
};

}  // namespace ftz::engine
