#include "ops/embedding.h"

#include <gtest/gtest.h>

#include <cstring>

#include "op_test_util.h"
#include "vramkit/error.h"

namespace vramkit {
namespace {

using test::expect_error;
using test::random_tensor;
using test::values;

Tensor indices_tensor(const Shape& shape, const std::vector<std::int64_t>& ids, DType dt) {
  Tensor t = Tensor::empty(shape, DType::i64);
  std::memcpy(t.data(), ids.data(), ids.size() * sizeof(std::int64_t));
  return t.to(dt);
}

// Expects y[..., :] == table[ids[...], :] exactly, comparing the stored bytes' values.
void expect_rows(const Tensor& y, const Tensor& table, const std::vector<std::int64_t>& ids) {
  ASSERT_EQ(y.dtype(), table.dtype());
  const std::int64_t d = table.size(1);
  const auto yv = values(y), tv = values(table);
  ASSERT_EQ(yv.size(), ids.size() * static_cast<std::size_t>(d));
  for (std::size_t i = 0; i < ids.size(); ++i)
    for (std::int64_t k = 0; k < d; ++k)
      ASSERT_EQ(yv[i * static_cast<std::size_t>(d) + static_cast<std::size_t>(k)],
                tv[static_cast<std::size_t>(ids[i] * d + k)])
          << "index " << i << " column " << k;
}

TEST(Embedding, EveryTableDTypeAndIndexDType) {
  const std::vector<std::int64_t> ids = {3, 0, 10, 3, 7, 1};
  for (DType tdt : {DType::f32, DType::f16, DType::bf16, DType::f8_e4m3fn, DType::f8_e5m2})
    for (DType idt : {DType::i32, DType::i64}) {
      SCOPED_TRACE(std::string(dtype_name(tdt)) + " " + std::string(dtype_name(idt)));
      const Tensor table = random_tensor({11, 9}, tdt, 1);
      const Tensor y = ops::embedding(indices_tensor({2, 3}, ids, idt), table);
      EXPECT_EQ(y.shape(), (Shape{2, 3, 9}));
      expect_rows(y, table, ids);
    }
}

TEST(Embedding, ScalarIndexStridedTableAndManyRows) {
  const Tensor table = random_tensor({6, 4}, DType::bf16, 2);
  const Tensor y = ops::embedding(indices_tensor({}, {5}, DType::i64), table);
  EXPECT_EQ(y.shape(), (Shape{4}));
  expect_rows(y, table, {5});
  // A transposed table (column stride 6) and a strided index view.
  const Tensor tt = random_tensor({5, 6}, DType::f32, 3).transpose(0, 1);
  const Tensor idx = indices_tensor({6}, {1, 9, 2, 9, 0, 9}, DType::i32).slice(0, 0, 6, 2);
  expect_rows(ops::embedding(idx, tt), tt, {1, 2, 0});
  // Enough rows for the threaded path.
  std::vector<std::int64_t> many(5000);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = static_cast<std::int64_t>((i * 7919) % 97);
  const Tensor big = random_tensor({97, 16}, DType::f16, 4);
  expect_rows(ops::embedding(indices_tensor({5000}, many, DType::i64), big), big, many);
}

TEST(Embedding, RejectsBadArguments) {
  const Tensor table = random_tensor({11, 9}, DType::bf16, 1);
  expect_error<ArgumentError>(
      [&] {
        ops::embedding(indices_tensor({3}, {1, 11, 2}, DType::i64), table);
      },
      {"embedding", "index 11", "[0, 11)", "bf16[11, 9]"});
  expect_error<ArgumentError>(
      [&] {
        ops::embedding(indices_tensor({2}, {-1, 0}, DType::i32), table);
      },
      {"embedding", "index -1", "[0, 11)"});
  expect_error<DTypeError>(
      [&] {
        ops::embedding(indices_tensor({2}, {1, 0}, DType::f32), table);
      },
      {"embedding", "indices"});
  expect_error<ShapeError>([&] { ops::embedding(indices_tensor({1}, {0}, DType::i64), table.reshape({99})); },
                           {"embedding", "table", "rank 2"});
  expect_error<DTypeError>([&] { ops::embedding(indices_tensor({1}, {0}, DType::i64), table.to(DType::i8)); },
                           {"embedding", "table"});
}

}  // namespace
}  // namespace vramkit
