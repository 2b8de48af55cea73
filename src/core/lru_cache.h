// A map of at most `capacity` entries that drops its least recently used entry to make room for a new one.
// The GPU libraries' per-shape plans (cuBLASLt matmul plans, cuDNN's compiled attention plans) live in these:
// their shapes follow the prompt's length, so a process that serves many prompts would otherwise keep a plan
// for every length it ever saw.
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <utility>

#include "vramkit/error.h"

namespace vramkit {

template <typename Key, typename Value>
class LruCache {
 public:
  // Throws ArgumentError for a capacity of 0.
  explicit LruCache(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw ArgumentError("LruCache: the capacity must be at least 1");
  }

  // The value of `key`, now the most recently used entry; null when absent.
  Value* find(const Key& key) {
    const auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    entries_.splice(entries_.begin(), entries_, it->second);
    return &it->second->second;
  }

  // Adds `key` (absent: ArgumentError otherwise) as the most recently used entry. When the cache is full, the
  // least recently used entry goes first: before_evict(its value) is called, then it is destroyed. A value's
  // address stays valid until `capacity` other keys have been inserted since it was last inserted or found.
  template <typename BeforeEvict>
  Value& insert(Key key, Value value, BeforeEvict&& before_evict) {
    if (index_.count(key)) throw ArgumentError("LruCache::insert: the key is already cached");
    if (entries_.size() == capacity_) {
      auto& oldest = entries_.back();
      before_evict(oldest.second);
      index_.erase(oldest.first);
      entries_.pop_back();
    }
    entries_.emplace_front(key, std::move(value));
    index_.emplace(std::move(key), entries_.begin());
    return entries_.front().second;
  }

  // Destroys every entry, the least recently used first.
  void clear() {
    index_.clear();
    while (!entries_.empty()) entries_.pop_back();
  }

  std::size_t size() const { return entries_.size(); }
  std::size_t capacity() const { return capacity_; }

  // Calls fn(key, value) on every entry, the most recently used first; the order of use is unchanged.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [key, value] : entries_) fn(key, value);
  }

 private:
  using Entries = std::list<std::pair<Key, Value>>;  // the most recently used first
  std::size_t capacity_;
  Entries entries_;
  std::map<Key, typename Entries::iterator> index_;
};

}  // namespace vramkit
