// LruCache (core/lru_cache.h): the least recently used entry (by insert or find) is the one dropped, after
// before_evict saw it; bad uses are errors.
#include "core/lru_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ops/op_test_util.h"

namespace vramkit {
namespace {

std::vector<int> keys_by_recency(const LruCache<int, std::string>& cache) {
  std::vector<int> keys;
  cache.for_each([&](int key, const std::string&) { keys.push_back(key); });
  return keys;
}

TEST(LruCache, DropsTheLeastRecentlyUsedEntryWhenFull) {
  LruCache<int, std::string> cache(3);
  std::vector<std::string> evicted;
  const auto note = [&](std::string& value) { evicted.push_back(value); };
  cache.insert(1, "one", note);
  cache.insert(2, "two", note);
  cache.insert(3, "three", note);
  EXPECT_TRUE(evicted.empty());
  ASSERT_NE(cache.find(1), nullptr);  // 1 is now the most recent: 2 is the oldest
  EXPECT_EQ(keys_by_recency(cache), (std::vector<int>{1, 3, 2}));
  cache.insert(4, "four", note);
  EXPECT_EQ(evicted, std::vector<std::string>{"two"});
  EXPECT_EQ(cache.find(2), nullptr);
  EXPECT_EQ(*cache.find(3), "three");
  cache.insert(5, "five", note);
  EXPECT_EQ(evicted, (std::vector<std::string>{"two", "one"}));
  EXPECT_EQ(keys_by_recency(cache), (std::vector<int>{5, 3, 4}));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.capacity(), 3u);
}

TEST(LruCache, KeepsValuesInPlaceUntilTheyAreDropped) {
  LruCache<int, std::unique_ptr<int>> cache(2);
  const auto ignore = [](std::unique_ptr<int>&) {};
  std::unique_ptr<int>& first = cache.insert(1, std::make_unique<int>(10), ignore);
  const int* first_value = first.get();
  cache.insert(2, std::make_unique<int>(20), ignore);
  EXPECT_EQ(&first, cache.find(1));  // found again: the same object at the same address
  EXPECT_EQ(cache.find(1)->get(), first_value);
  cache.insert(3, std::make_unique<int>(30), ignore);  // drops 2, the least recent
  EXPECT_EQ(cache.find(2), nullptr);
  EXPECT_EQ(**cache.find(1), 10);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find(1), nullptr);
}

TEST(LruCache, RefusesAZeroCapacityAndADuplicateKey) {
  test::expect_error<ArgumentError>([] { LruCache<int, int> cache(0); }, {"capacity must be at least 1"});
  LruCache<int, int> cache(1);
  const auto ignore = [](int&) {};
  cache.insert(7, 70, ignore);
  test::expect_error<ArgumentError>([&] { cache.insert(7, 71, ignore); }, {"already cached"});
  EXPECT_EQ(*cache.find(7), 70);
  int evicted = 0;
  cache.insert(8, 80, [&](int& value) { evicted = value; });
  EXPECT_EQ(evicted, 70);
  EXPECT_EQ(*cache.find(8), 80);
}

}  // namespace
}  // namespace vramkit
