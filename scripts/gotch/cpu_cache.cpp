// A caching CPU allocator for libtorch, installed by bench/torchrt (copied into gotch's libtch package
// by scripts/setup.sh, patch 12, so it compiles with libtch's libtorch flags).
//
// Why: a training step of a small model allocates and frees a few hundred tensors of the same few sizes.
// libtorch's default CPU allocator hands each to posix_memalign/free, and glibc's bins for those sizes
// (kilobytes: past the per-thread cache) cost _int_malloc/_int_free/malloc_consolidate work and first-touch
// page faults on every step (~10 % of a DMI cell's CPU time). This allocator keeps freed blocks in
// per-size-class free lists and hands them back on the next request of that class, as PyTorch's CUDA
// caching allocator does on the GPU. It changes no value a tensor holds: a block is uninitialised memory
// either way.
//
// Size classes: 64 bytes, then four per octave (2^k·{5/4, 3/2, 7/4, 2}), so a block wastes under 25 %.
// Each block has a 64-byte header (its class) before the 64-byte-aligned data, so the deleter needs no
// lookup. Free blocks are cached up to a byte budget (blocks past it go back to the system); the cache
// can be emptied at any time (bench_cpu_cache_release: the trainer does it when a cell ends).
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace {

constexpr size_t kAlign = 64;   // as c10's gAlignment
constexpr size_t kHeader = 64;  // keeps the data aligned
constexpr int kClasses = 4 * 48; // up to 2^49 bytes
constexpr uint32_t kMagic = 0xbe7c0de5u;

struct Header {
  uint32_t magic;
  int32_t cls;
  uint64_t bytes;  // the class's size (data bytes)
};

// classOf returns the size class of n > 0 bytes and its size.
int classOf(size_t n, size_t* size) {
  if (n <= 64) {
    *size = 64;
    return 0;
  }
  int k = 63 - __builtin_clzll(n - 1);  // 2^k < n ≤ 2^(k+1)
  size_t base = size_t(1) << k, quarter = base / 4;
  size_t steps = (n - base + quarter - 1) / quarter;  // 1..4
  *size = base + steps * quarter;
  return 1 + (k - 6) * 4 + int(steps - 1);
}

struct CachingCPUAllocator final : public c10::Allocator {
  mutable std::mutex mu;
  mutable std::vector<void*> free[kClasses];  // free blocks (header addresses), per class
  mutable size_t cached = 0;                  // bytes held in the free lists
  std::atomic<size_t> budget{0};              // most bytes cached; 0 caches nothing

  static void* block(size_t bytes) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlign, kHeader + bytes) != 0) {
      return nullptr;
    }
    return p;
  }

  c10::DataPtr allocate(size_t n) const override {
    if (n == 0) {
      return {nullptr, nullptr, &Delete, c10::Device(c10::DeviceType::CPU)};
    }
    size_t bytes = 0;
    int cls = classOf(n, &bytes);
    void* h = nullptr;
    if (cls < kClasses) {
      std::lock_guard<std::mutex> g(mu);
      auto& list = free[cls];
      if (!list.empty()) {
        h = list.back();
        list.pop_back();
        cached -= bytes;
      }
    }
    if (h == nullptr) {
      h = block(bytes);
      if (h == nullptr) {
        Release();  // cached blocks may be what stands in the way
        h = block(bytes);
      }
      TORCH_CHECK(h != nullptr, "bench CPU allocator: out of memory allocating ", n, " bytes");
      auto* hd = static_cast<Header*>(h);
      hd->magic = kMagic;
      hd->cls = cls;
      hd->bytes = bytes;
    }
    void* data = static_cast<char*>(h) + kHeader;
    return {data, data, &Delete, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &Delete; }

  static void Delete(void* data);

  // Release frees every cached block.
  void Release() const {
    std::vector<void*> out;
    {
      std::lock_guard<std::mutex> g(mu);
      for (auto& list : free) {
        out.insert(out.end(), list.begin(), list.end());
        list.clear();
        list.shrink_to_fit();
      }
      cached = 0;
    }
    for (void* h : out) {
      std::free(h);
    }
  }
};

CachingCPUAllocator* instance() {
  static auto* a = new CachingCPUAllocator();  // never destroyed: tensors may outlive static destructors
  return a;
}

void CachingCPUAllocator::Delete(void* data) {
  if (data == nullptr) {
    return;
  }
  void* h = static_cast<char*>(data) - kHeader;
  auto* hd = static_cast<Header*>(h);
  TORCH_CHECK(hd->magic == kMagic, "bench CPU allocator: freeing a block it did not allocate");
  auto* a = instance();
  if (hd->cls < kClasses) {
    std::lock_guard<std::mutex> g(a->mu);
    if (a->cached + hd->bytes <= a->budget.load(std::memory_order_relaxed)) {
      a->free[hd->cls].push_back(h);
      a->cached += hd->bytes;
      return;
    }
  }
  std::free(h);
}

}  // namespace

extern "C" {

// bench_cpu_cache_install makes the caching allocator libtorch's CPU allocator with a budget of
// budget_bytes cached free bytes (0: blocks are freed at once, the cache holds nothing). Tensors made
// before keep the allocator that made them (each block carries its deleter).
void bench_cpu_cache_install(uint64_t budget_bytes) {
  auto* a = instance();
  a->budget.store(budget_bytes);
  if (budget_bytes == 0) {
    a->Release();
  }
  c10::SetCPUAllocator(a, /*priority=*/1);
}

// bench_cpu_cache_release frees every cached block.
void bench_cpu_cache_release() { instance()->Release(); }

// bench_cpu_cache_bytes reports the bytes held in the free lists.
uint64_t bench_cpu_cache_bytes() {
  auto* a = instance();
  std::lock_guard<std::mutex> g(a->mu);
  return a->cached;
}

// bench_cpu_cache_active reports whether libtorch's CPU allocator is this one.
int bench_cpu_cache_active() { return c10::GetCPUAllocator() == instance() ? 1 : 0; }

}  // extern "C"
