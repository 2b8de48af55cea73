// Conversions against ml_dtypes/numpy golden vectors (every code decoded, a dense f32 sweep encoded), and the
// integer, bool, f64 and strided paths against values worked out by hand.
#include "core/convert.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <vector>

#include "convert_golden.h"
#include "core/convert_simd.h"

namespace vramkit {
namespace {

using convert_test::decode;
using convert_test::encode_sweep;
using convert_test::read_golden;
using convert_test::same_code;
using convert_test::same_float;
using convert_test::saturated_fp8;

constexpr DType kNarrow[] = {DType::bf16, DType::f16, DType::f8_e4m3fn, DType::f8_e5m2};

const char* golden_name(DType dt) {
  switch (dt) {
    case DType::bf16:
      return "bf16";
    case DType::f16:
      return "f16";
    case DType::f8_e4m3fn:
      return "f8_e4m3fn";
    default:
      return "f8_e5m2";
  }
}

std::uint32_t encode(DType dt, float f, bool saturate) {
  switch (dt) {
    case DType::bf16:
      return f32_to_bf16(f);
    case DType::f16:
      return f32_to_f16(f);
    case DType::f8_e4m3fn:
      return f32_to_f8_e4m3fn(f, saturate);
    default:
      return f32_to_f8_e5m2(f, saturate);
  }
}

// Expected code of sweep input i in dt (saturate only matters for fp8).
std::uint32_t expected_code(DType dt, std::size_t i, bool saturate) {
  const auto& s = encode_sweep();
  switch (dt) {
    case DType::bf16:
      return s.bf16[i];
    case DType::f16:
      return s.f16[i];
    case DType::f8_e4m3fn:
      return saturate ? saturated_fp8(dt, s.inputs[i], s.e4m3fn[i]) : s.e4m3fn[i];
    default:
      return saturate ? saturated_fp8(dt, s.inputs[i], s.e5m2[i]) : s.e5m2[i];
  }
}

std::uint32_t code_at(const std::vector<std::uint8_t>& buf, DType dt, std::size_t i) {
  std::uint32_t code = 0;
  std::memcpy(&code, buf.data() + i * dtype_size(dt), dtype_size(dt));
  return code;
}

std::string hex(std::uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

// Runs body with the kernels convert() picks on this CPU, then with the scalar kernels forced.
template <typename Body>
void with_each_kernel_set(Body body) {
  {
    SCOPED_TRACE(std::string("kernels: ") + detail::active_convert_kernels().name);
    body();
  }
  detail::ScalarConvertScope scalar;
  SCOPED_TRACE("kernels: scalar (forced)");
  body();
}

TEST(ConvertDecode, EveryCodeMatchesReferenceInScalarAndBulk) {
  for (DType dt : kNarrow) {
    SCOPED_TRACE(golden_name(dt));
    const auto want = read_golden<std::uint32_t>(std::string("decode_") + golden_name(dt) + ".u32");
    const std::size_t n = dtype_size(dt) == 2 ? 65536 : 256;
    ASSERT_EQ(want.size(), n);
    std::vector<std::uint8_t> codes(n * dtype_size(dt));
    for (std::size_t c = 0; c < n; ++c) std::memcpy(&codes[c * dtype_size(dt)], &c, dtype_size(dt));
    int bad = 0;
    for (std::size_t c = 0; c < n; ++c) {
      const float w = std::bit_cast<float>(want[c]);
      if (!same_float(decode(dt, static_cast<std::uint32_t>(c)), w) && ++bad <= 5)
        ADD_FAILURE() << "scalar decode of " << hex(static_cast<std::uint32_t>(c)) << " gives "
                      << decode(dt, static_cast<std::uint32_t>(c)) << ", reference " << w;
    }
    with_each_kernel_set([&] {
      std::vector<float> got(n);
      convert(codes.data(), dt, got.data(), DType::f32, n);
      int bulk_bad = 0;
      for (std::size_t c = 0; c < n; ++c)
        if (!same_float(got[c], std::bit_cast<float>(want[c])) && ++bulk_bad <= 5)
          ADD_FAILURE() << "bulk decode of " << hex(static_cast<std::uint32_t>(c)) << " gives " << got[c];
    });
  }
}

TEST(ConvertDecode, SpecialCodes) {
  EXPECT_EQ(f8_e4m3fn_to_f32(0x7e), kF8E4M3FnMax);
  EXPECT_EQ(f8_e4m3fn_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(f8_e4m3fn_to_f32(0xff)) && std::signbit(f8_e4m3fn_to_f32(0xff)));
  EXPECT_EQ(f8_e5m2_to_f32(0x7b), kF8E5M2Max);
  EXPECT_EQ(f8_e5m2_to_f32(0x7c), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f8_e5m2_to_f32(0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::signbit(bf16_to_f32(0x8000)) && bf16_to_f32(0x8000) == 0.0f);
}

TEST(ConvertEncode, SweepMatchesReferenceInScalarFunctions) {
  const auto& s = encode_sweep();
  ASSERT_GT(s.inputs.size(), 50000u);
  for (DType dt : kNarrow) {
    for (bool saturate : {true, false}) {
      SCOPED_TRACE(std::string(golden_name(dt)) + (saturate ? " saturating" : " plain"));
      int bad = 0;
      for (std::size_t i = 0; i < s.inputs.size(); ++i) {
        const std::uint32_t got = encode(dt, s.inputs[i], saturate), want = expected_code(dt, i, saturate);
        if (!same_code(dt, got, want) && ++bad <= 8)
          ADD_FAILURE() << "input " << s.inputs[i] << " (" << hex(std::bit_cast<std::uint32_t>(s.inputs[i]))
                        << ") encodes to " << hex(got) << ", reference " << hex(want);
      }
    }
  }
}

TEST(ConvertEncode, SweepMatchesReferenceInBulkConvert) {
  const auto& s = encode_sweep();
  for (DType dt : kNarrow) {
    for (bool saturate : {true, false}) {
      SCOPED_TRACE(std::string(golden_name(dt)) + (saturate ? " saturating" : " plain"));
      with_each_kernel_set([&] {
        std::vector<std::uint8_t> out(s.inputs.size() * dtype_size(dt));
        convert(s.inputs.data(), DType::f32, out.data(), dt, s.inputs.size(), ConvertOptions{saturate});
        int bad = 0;
        for (std::size_t i = 0; i < s.inputs.size(); ++i) {
          const std::uint32_t got = code_at(out, dt, i), want = expected_code(dt, i, saturate);
          if (!same_code(dt, got, want) && ++bad <= 8)
            ADD_FAILURE() << "input " << hex(std::bit_cast<std::uint32_t>(s.inputs[i])) << " encodes to "
                          << hex(got) << ", reference " << hex(want);
        }
      });
    }
  }
}

TEST(ConvertEncode, OverflowBoundaries) {
  EXPECT_EQ(f32_to_f8_e4m3fn(464.0f, false), 0x7e);  // tie between 448 and 480 goes to 448 (even mantissa)
  EXPECT_EQ(f32_to_f8_e4m3fn(std::nextafter(464.0f, 1e9f), false), 0x7f);
  EXPECT_EQ(f32_to_f8_e4m3fn(1e9f, true), 0x7e);
  EXPECT_EQ(f32_to_f8_e4m3fn(-INFINITY, true), 0xfe);
  EXPECT_EQ(f32_to_f8_e4m3fn(-INFINITY, false), 0xff);
  EXPECT_EQ(f32_to_f8_e5m2(61440.0f, false), 0x7c);  // tie between 57344 (odd) and 65536 goes up: Inf
  EXPECT_EQ(f32_to_f8_e5m2(61440.0f, true), 0x7b);
  EXPECT_EQ(f32_to_f8_e5m2(std::nextafter(61440.0f, 0.0f), false), 0x7b);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_f16(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x7f7f8000u)), 0x7f80);
  EXPECT_EQ(f32_to_f8_e5m2(-NAN, true), 0xfe);
  EXPECT_EQ(f32_to_f8_e4m3fn(NAN, true), 0x7f);
}

// Every finite code decodes and encodes back to itself; NaN codes come back as NaN of the same sign; the e5m2
// infinities come back as themselves, or as ±max when saturating.
TEST(ConvertRoundTrip, EveryCodeSurvivesDecodeThenEncode) {
  for (DType dt : kNarrow) {
    SCOPED_TRACE(golden_name(dt));
    const std::uint32_t n = dtype_size(dt) == 2 ? 65536 : 256;
    for (bool saturate : {true, false}) {
      int bad = 0;
      for (std::uint32_t c = 0; c < n; ++c) {
        const float value = decode(dt, c);
        const bool saturated_inf = saturate && dt == DType::f8_e5m2 && std::isinf(value);
        const std::uint32_t want = saturated_inf ? (c & 0x80u) | 0x7bu : c;
        const std::uint32_t back = encode(dt, value, saturate);
        if (!same_code(dt, back, want) && ++bad <= 5)
          ADD_FAILURE() << hex(c) << " comes back as " << hex(back);
      }
    }
  }
}

// Narrow-to-narrow bulk conversion (chunked through f32) equals decoding then encoding each element.
TEST(ConvertBulk, NarrowToNarrowGoesThroughF32) {
  for (DType from : kNarrow) {
    for (DType to : kNarrow) {
      if (from == to) continue;
      SCOPED_TRACE(std::string(golden_name(from)) + " -> " + golden_name(to));
      const std::size_t n = dtype_size(from) == 2 ? 65536 : 256;
      std::vector<std::uint8_t> codes(n * dtype_size(from)), out(n * dtype_size(to));
      for (std::size_t c = 0; c < n; ++c) std::memcpy(&codes[c * dtype_size(from)], &c, dtype_size(from));
      with_each_kernel_set([&] {
        convert(codes.data(), from, out.data(), to, n, ConvertOptions{false});
        int bad = 0;
        for (std::size_t c = 0; c < n; ++c) {
          const std::uint32_t want = encode(to, decode(from, static_cast<std::uint32_t>(c)), false);
          if (code_at(out, to, c) != want && ++bad <= 5)
            ADD_FAILURE() << hex(static_cast<std::uint32_t>(c)) << " gives " << hex(code_at(out, to, c));
        }
      });
    }
  }
}

template <typename To, typename From>
std::vector<To> convert_values(const std::vector<From>& in, DType from, DType to,
                               ConvertOptions options = {}) {
  std::vector<To> out(in.size());
  convert(in.data(), from, out.data(), to, in.size(), options);
  return out;
}

TEST(ConvertIntegers, FloatsTruncateClampAndMapNaNToZero) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> in{-1000.0f, -128.9f, -127.5f, -0.9f, -0.0f, 0.9f,
                              126.99f,  127.5f,  1e10f,   nan,   inf,   -inf};
  EXPECT_EQ(convert_values<std::int8_t>(in, DType::f32, DType::i8),
            (std::vector<std::int8_t>{-128, -128, -127, 0, 0, 0, 126, 127, 127, 0, 127, -128}));
  EXPECT_EQ(convert_values<std::uint8_t>(in, DType::f32, DType::u8),
            (std::vector<std::uint8_t>{0, 0, 0, 0, 0, 0, 126, 127, 255, 0, 255, 0}));
  EXPECT_EQ(convert_values<std::int16_t>(in, DType::f32, DType::i16),
            (std::vector<std::int16_t>{-1000, -128, -127, 0, 0, 0, 126, 127, 32767, 0, 32767, -32768}));
  const std::vector<float> wide{2147483520.0f, 2147483648.0f, -2147483648.0f, -3e9f,
                                9.2e18f,       9.3e18f,       -9.3e18f};
  EXPECT_EQ(convert_values<std::int32_t>(wide, DType::f32, DType::i32),
            (std::vector<std::int32_t>{2147483520, 2147483647, -2147483647 - 1, -2147483647 - 1, 2147483647,
                                       2147483647, -2147483647 - 1}));
  const std::int64_t i64_max = std::numeric_limits<std::int64_t>::max(),
                     i64_min = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(convert_values<std::int64_t>(wide, DType::f32, DType::i64),
            (std::vector<std::int64_t>{2147483520, 2147483648, -2147483648, -3000000000,
                                       static_cast<std::int64_t>(9.2e18f), i64_max, i64_min}));
  // Narrow floats reach integers through their f32 value: bf16 0x4300 is 128, f16 0xd640 is -100.
  const std::vector<std::uint16_t> bf16_128{0x4300};
  EXPECT_EQ(convert_values<std::int8_t>(bf16_128, DType::bf16, DType::i8), std::vector<std::int8_t>{127});
  const std::vector<std::uint16_t> f16_m100{0xd640};
  EXPECT_EQ(convert_values<std::int32_t>(f16_m100, DType::f16, DType::i32), std::vector<std::int32_t>{-100});
}

TEST(ConvertIntegers, IntegersToIntegersAndFloats) {
  const std::vector<std::int64_t> big{(1ll << 53) + 1, -(1ll << 40), 300, -300, 0};
  EXPECT_EQ(convert_values<std::int32_t>(big, DType::i64, DType::i32),
            (std::vector<std::int32_t>{2147483647, -2147483647 - 1, 300, -300, 0}));
  EXPECT_EQ(convert_values<std::uint8_t>(big, DType::i64, DType::u8),
            (std::vector<std::uint8_t>{255, 0, 255, 0, 0}));
  // f64 holds 2^53 + 1 only as 2^53; f32 then rounds 2^53 exactly.
  EXPECT_EQ(convert_values<double>(big, DType::i64, DType::f64),
            (std::vector<double>{9007199254740992.0, -1099511627776.0, 300.0, -300.0, 0.0}));
  const std::vector<std::int32_t> small{1, 2049, -65519, 70000};
  // 2049 is a tie between the f16 neighbours 2048 and 2050 -> 2048; -65519 rounds to -65504; 70000 overflows.
  EXPECT_EQ(convert_values<std::uint16_t>(small, DType::i32, DType::f16),
            (std::vector<std::uint16_t>{0x3c00, 0x6800, 0xfbff, 0x7c00}));
  EXPECT_EQ(convert_values<std::uint8_t>(small, DType::i32, DType::f8_e4m3fn),
            (std::vector<std::uint8_t>{0x38, 0x7e, 0xfe, 0x7e}));
  EXPECT_EQ(convert_values<std::uint8_t>(small, DType::i32, DType::f8_e4m3fn, ConvertOptions{false}),
            (std::vector<std::uint8_t>{0x38, 0x7f, 0xff, 0x7f}));
  const std::vector<std::uint8_t> u8{0, 200, 255};
  EXPECT_EQ(convert_values<std::int8_t>(u8, DType::u8, DType::i8), (std::vector<std::int8_t>{0, 127, 127}));
  EXPECT_EQ(convert_values<std::uint16_t>(u8, DType::u8, DType::bf16),
            (std::vector<std::uint16_t>{0x0000, 0x4348, 0x437f}));
}

TEST(ConvertIntegers, BoolIsNonZero) {
  const std::vector<float> in{0.0f, -0.0f, 0.5f, -2.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_EQ(convert_values<std::uint8_t>(in, DType::f32, DType::boolean),
            (std::vector<std::uint8_t>{0, 0, 1, 1, 1}));
  const std::vector<std::uint8_t> bytes{0, 1, 7};
  EXPECT_EQ(convert_values<float>(bytes, DType::boolean, DType::f32), (std::vector<float>{0.0f, 1.0f, 1.0f}));
  EXPECT_EQ(convert_values<std::int64_t>(bytes, DType::boolean, DType::i64),
            (std::vector<std::int64_t>{0, 1, 1}));
  const std::vector<std::int32_t> ints{0, -5, 1 << 20};
  EXPECT_EQ(convert_values<std::uint8_t>(ints, DType::i32, DType::boolean),
            (std::vector<std::uint8_t>{0, 1, 1}));
}

TEST(ConvertF64, RoundsOnceToF32ThenToTheTarget) {
  const double tie_plus = 1.0 + std::ldexp(1.0, -24) + std::ldexp(1.0, -40);  // just above an f32 tie
  const std::vector<double> in{tie_plus, 1e300, -1e-300, std::numeric_limits<double>::quiet_NaN()};
  const auto f = convert_values<float>(in, DType::f64, DType::f32);
  EXPECT_EQ(f[0], 1.0f + std::ldexp(1.0f, -23));
  EXPECT_EQ(f[1], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(f[2] == 0.0f && std::signbit(f[2]));
  EXPECT_TRUE(std::isnan(f[3]));
  // 1 + 2^-8 + 2^-40 is 1 + 2^-8 in f32, a bf16 tie that rounds to even (1.0): the documented double
  // rounding.
  const std::vector<double> bf16_case{1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40)};
  EXPECT_EQ(convert_values<std::uint16_t>(bf16_case, DType::f64, DType::bf16),
            std::vector<std::uint16_t>{0x3f80});
  EXPECT_EQ(convert_values<std::uint8_t>(in, DType::f64, DType::f8_e4m3fn),
            (std::vector<std::uint8_t>{0x38, 0x7e, 0x80, 0x7f}));
  EXPECT_EQ(convert_values<std::uint8_t>(in, DType::f64, DType::f8_e5m2, ConvertOptions{false}),
            (std::vector<std::uint8_t>{0x3c, 0x7c, 0x80, 0x7e}));
  // Widening to f64 is exact for every narrow value.
  const std::vector<std::uint16_t> halves{0x0001, 0x7bff, 0xc000};
  EXPECT_EQ(convert_values<double>(halves, DType::f16, DType::f64),
            (std::vector<double>{std::ldexp(1.0, -24), 65504.0, -2.0}));
  const std::vector<float> floats{std::ldexp(1.0f, -149), 3.0f};
  EXPECT_EQ(convert_values<double>(floats, DType::f32, DType::f64),
            (std::vector<double>{std::ldexp(1.0, -149), 3.0}));
}

TEST(ConvertStrided, MatchesElementwiseForPositiveAndNegativeStrides) {
  constexpr std::size_t n = 700;  // more than one internal chunk
  std::vector<float> src(3 * n);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i) * 0.37f - 300.0f;
  std::vector<std::uint16_t> dst(2 * n, 0xabcd);
  convert_strided(src.data(), DType::f32, 3, dst.data(), DType::bf16, 2, n);
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(dst[2 * i], f32_to_bf16(src[3 * i])) << i;
    ASSERT_EQ(dst[2 * i + 1], 0xabcd) << "gap " << i << " overwritten";
  }
  // A reversed source: the last element first.
  std::vector<std::uint8_t> fp8(n);
  convert_strided(src.data() + src.size() - 1, DType::f32, -1, fp8.data(), DType::f8_e5m2, 1, n,
                  ConvertOptions{false});
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(fp8[i], f32_to_f8_e5m2(src[src.size() - 1 - i], false)) << i;
  // Integers to f64 with a strided destination, and the contiguous case forwarding to convert().
  std::vector<std::int16_t> ints{-3, 4, 32767};
  std::vector<double> wide(6, -1.0);
  convert_strided(ints.data(), DType::i16, 1, wide.data(), DType::f64, 2, ints.size());
  EXPECT_EQ(wide, (std::vector<double>{-3.0, -1.0, 4.0, -1.0, 32767.0, -1.0}));
  std::vector<std::uint16_t> halves(3);
  convert_strided(ints.data(), DType::i16, 1, halves.data(), DType::f16, 1, ints.size());
  EXPECT_EQ(halves, (std::vector<std::uint16_t>{0xc200, 0x4400, 0x7800}));
}

TEST(ConvertBulk, SameDTypeCopiesAndEmptyIsANoOp) {
  const std::vector<std::uint16_t> nan_payload{0x7c01, 0x1234};
  EXPECT_EQ(convert_values<std::uint16_t>(nan_payload, DType::f16, DType::f16), nan_payload);
  convert(nullptr, DType::f32, nullptr, DType::bf16, 0);
  convert_strided(nullptr, DType::f32, 2, nullptr, DType::bf16, 3, 0);
}

}  // namespace
}  // namespace vramkit
