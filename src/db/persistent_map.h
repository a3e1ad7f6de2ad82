// PersistentMap: an ordered map whose copies share structure, so the
// in-memory image can be cloned in O(1) per map (a task branch) and two
// related copies can be compared in time proportional to what differs.
//
// It is a B+-tree of fan-out kMaxEntries (32). Nodes are immutable once
// shared: they are held by CowPtr (cow_ptr.h), and a write copies the nodes
// on the path from the root to the entry it changes unless a node is held
// by this map alone (count 1), in which case it is changed in place. So a
// write to an unshared map copies no node, and a write to a fresh copy
// copies at most height nodes (path copying); everything else stays shared.
//
// Bounds, for n entries: every node but the root holds at least kMinEntries
// (8) entries or children, so the height is at most 1 + log_8(n) (7 for a
// million entries; 3 to 4 in practice since nodes are about 3/4 full), and
// Find, Set and Erase visit that many nodes with a binary search in each:
// constant time for any realistic database. Copying a map is O(1).
// Diff(a, b) visits O(d * height) nodes for d differing entries when b was
// derived from a (or both from a common copy): subtrees held by the same
// pointer on both sides are skipped without being read.
//
// Thread safety: a PersistentMap object is not synchronised (the Database
// holds its lock); two maps sharing nodes may be used from two threads at
// once, since shared nodes are never written.
#ifndef XGDB_DB_PERSISTENT_MAP_H_
#define XGDB_DB_PERSISTENT_MAP_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "db/cow_ptr.h"

namespace xgdb {
namespace db {

// Counters for tests that check the cost of clones and diffs by counting
// work instead of timing it. Relaxed atomics: cheap, and images on other
// threads may count too.
struct PersistentMapStats {
  static inline std::atomic<uint64_t> node_copies{0};  // nodes copied on write
  static inline std::atomic<uint64_t> diff_visits{0};  // nodes opened by Diff
};

// V must not be bool (std::vector<bool> has no addressable elements).
template <typename K, typename V, typename Less = std::less<K>>
class PersistentMap {
  static_assert(!std::is_same_v<V, bool>, "use char for a set");

 public:
  static constexpr size_t kMaxEntries = 32;
  static constexpr size_t kMinEntries = 8;

 private:
  struct Node;
  using NodePtr = CowPtr<Node>;
  struct Node {
    int level = 0;               // 0: leaf
    std::vector<K> keys;         // leaf: entry keys; inner: a lower bound of
                                 // each child (<= its least key, > the
                                 // greatest key of the child before it)
    std::vector<V> values;       // leaf only
    std::vector<NodePtr> children;  // inner only
    size_t size() const { return keys.size(); }
  };

 public:
  PersistentMap() = default;
  // Copies share every node: O(1).
  PersistentMap(const PersistentMap&) = default;
  PersistentMap& operator=(const PersistentMap&) = default;
  PersistentMap(PersistentMap&&) noexcept = default;
  PersistentMap& operator=(PersistentMap&&) noexcept = default;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() {
    root_.reset();
    size_ = 0;
  }

  // The value of `key`, or nullptr. Valid until the next write to this map.
  const V* Find(const K& key) const {
    const Node* n = root_.get();
    if (!n) return nullptr;
    while (n->level > 0) n = n->children[ChildFor(*n, key)].get();
    size_t i = LowerIndex(*n, key);
    if (i < n->size() && !less_(key, n->keys[i])) return &n->values[i];
    return nullptr;
  }
  bool Contains(const K& key) const { return Find(key) != nullptr; }

  // The value of `key` for writing (path-copied so it is this map's own), or
  // nullptr when absent (then nothing was copied). Valid until the next
  // insertion or erasure.
  V* FindMutable(const K& key) {
    if (!Find(key)) return nullptr;
    NodePtr* slot = &root_;
    for (;;) {
      MakeOwn(*slot);
      Node& n = **slot;
      if (n.level == 0) return &n.values[LowerIndex(n, key)];
      slot = &n.children[ChildFor(n, key)];
    }
  }

  // Inserts or replaces. Returns true when `key` was new.
  bool Set(const K& key, V value) {
    if (!root_) {
      root_ = NodePtr::Make();
      root_->keys.reserve(kMaxEntries + 1);
      root_->values.reserve(kMaxEntries + 1);
    }
    bool added = SetIn(root_, key, std::move(value));
    if (root_->size() > kMaxEntries) {  // the tree grows at the root
      auto top = NodePtr::Make();
      top->level = root_->level + 1;
      top->keys.push_back(root_->keys.front());
      top->children.push_back(std::move(root_));
      root_ = std::move(top);
      SplitChild(*root_, 0);
    }
    if (added) ++size_;
    return added;
  }

  // Removes `key`. Returns true when it was there.
  bool Erase(const K& key) {
    if (!Find(key)) return false;
    EraseIn(root_, key);
    --size_;
    if (root_->level > 0 && root_->size() == 1) {
      NodePtr child = root_->children[0];
      root_ = std::move(child);
    }
    if (size_ == 0) root_.reset();
    return true;
  }

  // Forward iteration in ascending key order.
  class Iterator {
   public:
    bool operator==(const Iterator& o) const {
      return stack_.empty() ? o.stack_.empty()
                            : !o.stack_.empty() && stack_.back() == o.stack_.back();
    }
    bool operator!=(const Iterator& o) const { return !(*this == o); }
    const K& key() const { return stack_.back().first->keys[stack_.back().second]; }
    const V& value() const { return stack_.back().first->values[stack_.back().second]; }
    Iterator& operator++() {
      ++stack_.back().second;
      Settle();
      return *this;
    }

   private:
    friend class PersistentMap;
    // Moves to the first entry at or after the position, descending into
    // inner nodes' children.
    void Settle() {
      while (!stack_.empty()) {
        auto& [n, i] = stack_.back();
        if (i >= n->size()) {
          stack_.pop_back();
          if (!stack_.empty()) ++stack_.back().second;
          continue;
        }
        if (n->level == 0) return;
        stack_.emplace_back(n->children[i].get(), 0);
      }
    }
    std::vector<std::pair<const Node*, size_t>> stack_;
  };
  Iterator begin() const {
    Iterator it;
    if (root_) {
      it.stack_.emplace_back(root_.get(), 0);
      it.Settle();
    }
    return it;
  }
  Iterator end() const { return Iterator(); }
  // The first entry whose key is not less than `key`.
  Iterator LowerBound(const K& key) const {
    Iterator it;
    const Node* n = root_.get();
    if (!n) return it;
    while (n->level > 0) {
      size_t i = ChildFor(*n, key);
      it.stack_.emplace_back(n, i);
      n = n->children[i].get();
    }
    it.stack_.emplace_back(n, LowerIndex(*n, key));
    it.Settle();
    return it;
  }
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (auto it = begin(); it != end(); ++it) fn(it.key(), it.value());
  }

  // Calls fn(key, before, after) for every key whose entry differs between
  // `before` and `after`, ascending: before == nullptr when the key is new,
  // after == nullptr when it is gone. Values are compared with `same`
  // (equal pointers are never compared). Subtrees that both maps hold by
  // the same pointer are skipped unread.
  template <typename Fn, typename Same = std::equal_to<V>>
  static void Diff(const PersistentMap& before, const PersistentMap& after, Fn&& fn,
                   Same same = Same()) {
    Cursor a(before.root_.get()), b(after.root_.get());
    Less less;
    while (!a.Done() || !b.Done()) {
      if (a.Done() || b.Done()) {
        Cursor& c = a.Done() ? b : a;
        if (c.FrontIsNode()) {
          c.Expand();
        } else {
          fn(c.Key(), a.Done() ? nullptr : &c.Value(), a.Done() ? &c.Value() : nullptr);
          c.Skip();
        }
        continue;
      }
      bool an = a.FrontIsNode(), bn = b.FrontIsNode();
      if (an && bn && a.FrontNode() == b.FrontNode()) {
        a.Skip();
        b.Skip();
      } else if (!an && !bn) {
        if (less(a.Key(), b.Key())) {
          fn(a.Key(), &a.Value(), nullptr);
          a.Skip();
        } else if (less(b.Key(), a.Key())) {
          fn(b.Key(), nullptr, &b.Value());
          b.Skip();
        } else {
          if (&a.Value() != &b.Value() && !same(a.Value(), b.Value()))
            fn(a.Key(), &a.Value(), &b.Value());
          a.Skip();
          b.Skip();
        }
      } else if (an != bn) {
        // An entry before everything the other side's subtree may hold is
        // one-sided; otherwise open the subtree.
        Cursor& node = an ? a : b;
        Cursor& entry = an ? b : a;
        const K* bound = node.FrontLowerBound();
        if (bound && less(entry.Key(), *bound)) {
          fn(entry.Key(), an ? nullptr : &entry.Value(), an ? &entry.Value() : nullptr);
          entry.Skip();
        } else {
          node.Expand();
        }
      } else {
        // Two different subtrees: open the one that starts first, or the
        // taller, or both.
        const K* ka = a.FrontLowerBound();
        const K* kb = b.FrontLowerBound();
        bool a_first = ka && kb ? less(*ka, *kb) : (!ka && kb);
        bool b_first = ka && kb ? less(*kb, *ka) : (ka && !kb);
        int la = a.FrontNode()->level, lb = b.FrontNode()->level;
        if (a_first || (!b_first && la > lb)) {
          a.Expand();
        } else if (b_first || lb > la) {
          b.Expand();
        } else {
          a.Expand();
          b.Expand();
        }
      }
    }
  }

  // For tests: the height (0: empty, 1: one leaf) and a structural check
  // (ordering, bounds, occupancy, levels). Returns false on a broken tree.
  int Height() const { return root_ ? root_->level + 1 : 0; }
  bool CheckInvariants() const {
    if (!root_) return size_ == 0;
    size_t count = 0;
    const K* prev = nullptr;
    return CheckNode(*root_, true, nullptr, &prev, &count) && count == size_;
  }

 private:
  // A position in a tree for Diff: the front item is either an entry of a
  // leaf or a child subtree of an inner node not yet opened.
  class Cursor {
   public:
    explicit Cursor(const Node* root) : root_item_(root) {}
    bool Done() const { return !root_item_ && stack_.empty(); }
    bool FrontIsNode() const { return root_item_ || stack_.back().first->level > 0; }
    const Node* FrontNode() const {
      return root_item_ ? root_item_ : Top().children[stack_.back().second].get();
    }
    // A lower bound of the front subtree's keys; nullptr: unbounded.
    const K* FrontLowerBound() const {
      return root_item_ ? nullptr : &Top().keys[stack_.back().second];
    }
    const K& Key() const { return Top().keys[stack_.back().second]; }
    const V& Value() const { return Top().values[stack_.back().second]; }
    void Skip() {
      if (root_item_) {
        root_item_ = nullptr;
        return;
      }
      ++stack_.back().second;
      Settle();
    }
    void Expand() {
      const Node* n = FrontNode();
      root_item_ = nullptr;
      PersistentMapStats::diff_visits.fetch_add(1, std::memory_order_relaxed);
      stack_.emplace_back(n, 0);
      Settle();
    }

   private:
    const Node& Top() const { return *stack_.back().first; }
    void Settle() {
      while (!stack_.empty() && stack_.back().second >= Top().size()) {
        stack_.pop_back();
        if (!stack_.empty()) ++stack_.back().second;
      }
    }
    const Node* root_item_;
    std::vector<std::pair<const Node*, size_t>> stack_;
  };

  size_t LowerIndex(const Node& n, const K& key) const {
    return std::lower_bound(n.keys.begin(), n.keys.end(), key, less_) - n.keys.begin();
  }
  // The child of inner node `n` whose range holds `key`: the last child
  // whose lower bound is <= key, or the first.
  size_t ChildFor(const Node& n, const K& key) const {
    size_t i = std::upper_bound(n.keys.begin(), n.keys.end(), key, less_) - n.keys.begin();
    return i == 0 ? 0 : i - 1;
  }

  static void MakeOwn(NodePtr& p) {
    if (p.Unique()) return;
    auto copy = NodePtr::Make();
    copy->level = p->level;
    copy->keys.reserve(kMaxEntries + 1);
    copy->keys.assign(p->keys.begin(), p->keys.end());
    if (copy->level == 0) {
      copy->values.reserve(kMaxEntries + 1);
      copy->values.assign(p->values.begin(), p->values.end());
    } else {
      copy->children.reserve(kMaxEntries + 1);
      copy->children.assign(p->children.begin(), p->children.end());
    }
    p = std::move(copy);
    PersistentMapStats::node_copies.fetch_add(1, std::memory_order_relaxed);
  }

  bool SetIn(NodePtr& slot, const K& key, V&& value) {
    MakeOwn(slot);
    Node& n = *slot;
    if (n.level == 0) {
      size_t i = LowerIndex(n, key);
      if (i < n.size() && !less_(key, n.keys[i])) {
        n.values[i] = std::move(value);
        return false;
      }
      n.keys.insert(n.keys.begin() + i, key);
      n.values.insert(n.values.begin() + i, std::move(value));
      return true;
    }
    size_t i = ChildFor(n, key);
    if (less_(key, n.keys[i])) n.keys[i] = key;  // new least key (child 0)
    bool added = SetIn(n.children[i], key, std::move(value));
    if (n.children[i]->size() > kMaxEntries) SplitChild(n, i);
    return added;
  }

  // Splits the (own, overfull) child i of `parent` into two halves.
  static void SplitChild(Node& parent, size_t i) {
    Node& left = *parent.children[i];
    auto right = NodePtr::Make();
    right->level = left.level;
    size_t half = left.size() / 2;
    right->keys.reserve(kMaxEntries + 1);
    right->keys.assign(std::make_move_iterator(left.keys.begin() + half),
                       std::make_move_iterator(left.keys.end()));
    left.keys.resize(half);
    if (left.level == 0) {
      right->values.reserve(kMaxEntries + 1);
      right->values.assign(std::make_move_iterator(left.values.begin() + half),
                           std::make_move_iterator(left.values.end()));
      left.values.resize(half);
    } else {
      right->children.reserve(kMaxEntries + 1);
      right->children.assign(std::make_move_iterator(left.children.begin() + half),
                             std::make_move_iterator(left.children.end()));
      left.children.resize(half);
    }
    parent.keys.insert(parent.keys.begin() + i + 1, right->keys.front());
    parent.children.insert(parent.children.begin() + i + 1, std::move(right));
  }

  // `key` is present below `slot`.
  void EraseIn(NodePtr& slot, const K& key) {
    MakeOwn(slot);
    Node& n = *slot;
    if (n.level == 0) {
      size_t i = LowerIndex(n, key);
      n.keys.erase(n.keys.begin() + i);
      n.values.erase(n.values.begin() + i);
      return;
    }
    size_t i = ChildFor(n, key);
    EraseIn(n.children[i], key);
    if (n.children[i]->size() >= kMinEntries || n.size() == 1) return;
    // Underfull: join with a neighbour, and split again if that overfills.
    size_t l = i + 1 < n.size() ? i : i - 1;
    MakeOwn(n.children[l]);
    Node& left = *n.children[l];
    const Node& right = *n.children[l + 1];
    left.keys.insert(left.keys.end(), right.keys.begin(), right.keys.end());
    if (left.level == 0)
      left.values.insert(left.values.end(), right.values.begin(), right.values.end());
    else
      left.children.insert(left.children.end(), right.children.begin(), right.children.end());
    n.keys.erase(n.keys.begin() + l + 1);
    n.children.erase(n.children.begin() + l + 1);
    if (left.size() > kMaxEntries) SplitChild(n, l);
  }

  bool CheckNode(const Node& n, bool is_root, const K* lower, const K** prev,
                 size_t* count) const {
    if (!is_root && (n.size() < kMinEntries || n.size() > kMaxEntries)) return false;
    if (n.size() == 0) return false;
    if (lower && less_(n.keys.front(), *lower)) return false;
    if (n.level == 0) {
      if (n.values.size() != n.size() || !n.children.empty()) return false;
      for (const K& k : n.keys) {
        if (*prev && !less_(**prev, k)) return false;
        *prev = &k;
        ++*count;
      }
      return true;
    }
    if (n.children.size() != n.size()) return false;
    for (size_t i = 0; i < n.size(); ++i) {
      const Node& c = *n.children[i];
      if (c.level != n.level - 1) return false;
      // Everything before child i is less than its bound.
      if (i > 0 && *prev && !less_(**prev, n.keys[i])) return false;
      if (!CheckNode(c, false, &n.keys[i], prev, count)) return false;
    }
    return true;
  }

  NodePtr root_;
  size_t size_ = 0;
  Less less_;
};

}  // namespace db
}  // namespace xgdb

#endif  // XGDB_DB_PERSISTENT_MAP_H_
