#include "common/model/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <fstream>
#include <random>

#include "common/util/file_util.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  // Writes [8-byte length][header][data]; `declared_len` overrides the length.
  std::string WriteRaw(const std::string& header, size_t data_bytes, int64_t declared_len = -1) {
    std::string path = JoinPath(dir_, "t" + std::to_string(counter_++) + ".safetensors");
    std::string bytes(8, '\0');
    uint64_t n = declared_len >= 0 ? static_cast<uint64_t>(declared_len) : header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(n >> (8 * i));
    bytes += header;
    bytes += std::string(data_bytes, '\x01');
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // Expects Open() to fail with a message containing every needle.
  void ExpectError(const std::string& path, std::initializer_list<const char*> needles) {
    auto f = SafetensorsFile::Open(path);
    ASSERT_FALSE(f.ok()) << "corrupt file accepted: " << path;
    std::string msg(f.status().message());
    EXPECT_NE(msg.find(path), std::string::npos) << "error does not name the file: " << msg;
    for (const char* n : needles) {
      EXPECT_NE(msg.find(n), std::string::npos) << "error \"" << msg << "\" lacks \"" << n << "\"";
    }
  }

  ScopedTempDir tmp_{"ssd_safetensors_test"};
  std::string dir_ = tmp_.path();
  int counter_ = 0;
};

TEST_F(SafetensorsTest, WrittenFileReadsBackWithAlignedData) {
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::vector<uint16_t> b = {0x3f80, 0x4000};  // bf16 1.0, 2.0
  std::string path = JoinPath(dir_, "ok.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", DType::kF32, {2, 3}, a.data()}, {"b", DType::kBF16, {2}, b.data()}},
                               {{"format", "pt"}})
                  .ok());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->tensors().size(), 2u);
  const TensorInfo* ia = f->Find("a");
  ASSERT_NE(ia, nullptr);
  EXPECT_EQ(ia->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f->Data(*ia)) % 8, 0u);
  EXPECT_EQ(std::memcmp(f->Data(*ia), a.data(), 24), 0);
  const TensorInfo* ib = f->Find("b");
  ASSERT_NE(ib, nullptr);
  EXPECT_EQ(ib->dtype, DType::kBF16);
  EXPECT_EQ(std::memcmp(f->Data(*ib), b.data(), 4), 0);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->Find("c"), nullptr);
}

TEST_F(SafetensorsTest, ScalarAndEmptyTensorsAreValid) {
  auto path = WriteRaw(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},
                           "e":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]}})",
                       4);
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Find("s")->num_elements(), 1);
  EXPECT_EQ(f->Find("e")->num_elements(), 0);
}

TEST_F(SafetensorsTest, FileShorterThanLengthPrefixIsRejected) {
  std::string path = JoinPath(dir_, "short");
  std::ofstream(path, std::ios::binary) << "abc";
  ExpectError(path, {"too short"});
}

TEST_F(SafetensorsTest, HeaderLengthPastEndOfFileIsRejected) {
  auto path = WriteRaw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4, 10000);
  ExpectError(path, {"header length 10000", "past the end"});
}

TEST_F(SafetensorsTest, AbsurdHeaderLengthIsRejectedBeforeReading) {
  auto path = WriteRaw("{}", 0, int64_t{1} << 60);
  ExpectError(path, {"exceeds the limit"});
}

TEST_F(SafetensorsTest, TruncatedDataSectionIsRejected) {
  // The header promises 24 bytes of data; only 10 are there.
  auto path = WriteRaw(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 10);
  ExpectError(path, {"\"w\"", "24", "truncated"});
}

TEST_F(SafetensorsTest, MalformedHeaderJsonIsRejectedWithOffset) {
  auto path = WriteRaw(R"({"w":{"dtype":"F32",)", 0);
  // The header is 20 bytes from offset 8: it ends at file byte 28.
  ExpectError(path, {"safetensors header: not valid JSON at byte 2"});
}

TEST_F(SafetensorsTest, UnknownDtypeIsRejected) {
  auto path = WriteRaw(R"({"w":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}})", 1);
  ExpectError(path, {"\"w\"", "F7"});
}

TEST_F(SafetensorsTest, ShapeThatDisagreesWithByteRangeIsRejected) {
  auto path = WriteRaw(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12);
  ExpectError(path, {"\"w\"", "needs 16 bytes", "hold 12"});
}

TEST_F(SafetensorsTest, ShapeWhoseByteCountOverflowsIsRejected) {
  // 2^32 * 2^32 * 4 wraps to 0 in 64 bits; it must not match an empty range.
  auto path = WriteRaw(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0);
  ExpectError(path, {"\"w\"", "2^64"});
}

TEST_F(SafetensorsTest, OverlappingRangesAreRejected) {
  auto path = WriteRaw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                           "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       12);
  ExpectError(path, {"\"a\"", "\"b\"", "overlap"});
}

TEST_F(SafetensorsTest, OutOfRangeOffsetsAreRejected) {
  auto path = WriteRaw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[100,104]}})", 8);
  ExpectError(path, {"\"a\"", "104"});
}

TEST_F(SafetensorsTest, ReversedOffsetsAreRejected) {
  auto path = WriteRaw(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 8);
  ExpectError(path, {"\"a\"", "before begin"});
}

TEST_F(SafetensorsTest, NegativeDimensionIsRejected) {
  auto path = WriteRaw(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
  ExpectError(path, {"\"a\"", "non-negative"});
}

TEST_F(SafetensorsTest, MissingFieldsAreRejected) {
  ExpectError(WriteRaw(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), {"dtype"});
  ExpectError(WriteRaw(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4), {"shape"});
  ExpectError(WriteRaw(R"({"a":{"dtype":"F32","shape":[1]}})", 4), {"data_offsets"});
  ExpectError(WriteRaw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4), {"data_offsets"});
}

TEST_F(SafetensorsTest, NonStringMetadataIsRejected) {
  ExpectError(WriteRaw(R"({"__metadata__":{"format":3}})", 0), {"__metadata__"});
}

TEST_F(SafetensorsTest, WriterRejectsDuplicateNames) {
  float x = 1;
  auto st =
      WriteSafetensors(JoinPath(dir_, "dup.safetensors"), {{"a", DType::kF32, {1}, &x}, {"a", DType::kF32, {1}, &x}});
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(PathExists(JoinPath(dir_, "dup.safetensors")));
}

TEST_F(SafetensorsTest, EveryTruncationOfAValidFileIsRejectedNotCrashed) {
  std::vector<float> a(64, 1.0f);
  std::string path = JoinPath(dir_, "full.safetensors");
  ASSERT_TRUE(
      WriteSafetensors(path, {{"a", DType::kF32, {8, 8}, a.data()}, {"b", DType::kF32, {4, 4}, a.data()}}).ok());
  auto full = ReadFileToString(path);
  ASSERT_TRUE(full.ok());
  for (size_t n = 0; n < full->size(); ++n) {
    std::string cut = JoinPath(dir_, "cut.safetensors");
    std::ofstream(cut, std::ios::binary | std::ios::trunc) << full->substr(0, n);
    EXPECT_FALSE(SafetensorsFile::Open(cut).ok()) << "truncated to " << n << " bytes was accepted";
  }
}

TEST_F(SafetensorsTest, RandomlyCorruptedHeadersNeverCrashAndNeverOverrunTheFile) {
  std::vector<float> a(64, 1.0f);
  std::string path = JoinPath(dir_, "base.safetensors");
  ASSERT_TRUE(WriteSafetensors(
                  path, {{"layer.weight", DType::kF32, {8, 8}, a.data()}, {"layer.bias", DType::kBF16, {4}, a.data()}})
                  .ok());
  auto full = ReadFileToString(path);
  ASSERT_TRUE(full.ok());
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>((*full)[i]);
  std::mt19937 rng(42);
  int accepted = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string mutated = *full;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly the JSON header, sometimes the length prefix.
      size_t pos = rng() % 5 == 0 ? rng() % 8 : 8 + rng() % header_len;
      mutated[pos] = static_cast<char>(rng() % 3 == 0 ? "0123456789[]{},:\""[rng() % 17] : rng());
    }
    std::string cut = JoinPath(dir_, "fuzz.safetensors");
    std::ofstream(cut, std::ios::binary | std::ios::trunc) << mutated;
    auto f = SafetensorsFile::Open(cut);
    if (!f.ok()) continue;
    ++accepted;
    // Whatever was accepted must lie inside the file.
    for (const TensorInfo& t : f->tensors()) {
      ASSERT_LE(8 + header_len + t.data_end, mutated.size()) << t.name;
      ASSERT_EQ(t.num_bytes(), static_cast<uint64_t>(t.num_elements()) * DTypeSize(t.dtype)) << t.name;
    }
  }
  EXPECT_LT(accepted, 2000) << "no mutation was ever rejected";
}

TEST(SafetensorsHeaderTest, ANumberOutOfRangeInTheHeaderIsAnError) {
  std::map<std::string, std::string> metadata;
  auto t = ParseSafetensorsHeader(R"({"w": {"dtype": "F32", "shape": [1e999], "data_offsets": [0, 4]}})", 4,
                                  "big.safetensors", &metadata);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("big.safetensors: safetensors header: not valid JSON"), std::string::npos)
      << t.status();
}

}  // namespace
}  // namespace ssd
