// CowPtr<T>: a reference-counted pointer to a value that is shared between
// images and copied on write. Like std::shared_ptr without weak references,
// but Unique() reads the count with acquire order: when it says "only
// holder", everything other holders did with the value happened before, so
// the caller may change the value in place. (shared_ptr::use_count() is a
// relaxed load, which would need a separate fence that thread sanitizers do
// not model.)
#ifndef XGDB_DB_COW_PTR_H_
#define XGDB_DB_COW_PTR_H_

#include <atomic>
#include <utility>

namespace xgdb {
namespace db {

template <typename T>
class CowPtr {
 public:
  CowPtr() = default;
  CowPtr(std::nullptr_t) {}  // NOLINT: like shared_ptr
  template <typename... Args>
  static CowPtr Make(Args&&... args) {
    CowPtr p;
    p.box_ = new Box{1, T(std::forward<Args>(args)...)};
    return p;
  }
  CowPtr(const CowPtr& o) : box_(o.box_) {
    if (box_) box_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  CowPtr(CowPtr&& o) noexcept : box_(std::exchange(o.box_, nullptr)) {}
  CowPtr& operator=(const CowPtr& o) {
    CowPtr copy(o);
    swap(copy);
    return *this;
  }
  CowPtr& operator=(CowPtr&& o) noexcept {
    CowPtr taken(std::move(o));
    swap(taken);
    return *this;
  }
  ~CowPtr() { reset(); }

  void reset() {
    Box* b = std::exchange(box_, nullptr);
    // acq_rel: our uses of the value happen before whoever frees or
    // (after Unique()) writes it.
    if (b && b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete b;
  }
  void swap(CowPtr& o) noexcept { std::swap(box_, o.box_); }

  // True when this is the only holder: the value may be changed in place.
  bool Unique() const { return box_ && box_->refs.load(std::memory_order_acquire) == 1; }

  T* get() const { return box_ ? &box_->value : nullptr; }
  T& operator*() const { return box_->value; }
  T* operator->() const { return &box_->value; }
  explicit operator bool() const { return box_ != nullptr; }
  bool operator==(const CowPtr& o) const { return box_ == o.box_; }
  bool operator!=(const CowPtr& o) const { return box_ != o.box_; }

 private:
  struct Box {
    std::atomic<long> refs;
    T value;
  };
  Box* box_ = nullptr;
};

}  // namespace db
}  // namespace xgdb

#endif  // XGDB_DB_COW_PTR_H_
