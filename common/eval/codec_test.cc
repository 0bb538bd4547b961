// Base64, zlib and the restricted pickle reader that decode LiveCodeBench's
// private tests, including hostile inputs: truncated, wrong opcodes, huge
// lengths, random bytes.
#include <zlib.h>

#include <random>
#include <string>

#include "common/eval/base64.h"
#include "common/eval/benchmark.h"
#include "common/eval/inflate.h"
#include "common/eval/pickle_string.h"
#include "gtest/gtest.h"

namespace ssd {
namespace {

using std::string_literals::operator""s;

// pickle.dumps("hi", protocol=p) from CPython 3.11.
const std::string kHiProtocol2 = "\x80\x02X\x02\x00\x00\x00hiq\x00."s;
const std::string kHiProtocol3 = "\x80\x03X\x02\x00\x00\x00hiq\x00."s;
const std::string kHiProtocol4 = "\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00\x8c\x02hi\x94."s;
const std::string kHiProtocol5 = "\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00\x8c\x02hi\x94."s;

std::string Compress(const std::string& s) {
  uLongf n = compressBound(s.size());
  std::string out(n, '\0');
  EXPECT_EQ(compress(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(s.data()), s.size()),
            Z_OK);
  out.resize(n);
  return out;
}

// A protocol-4 pickle of `s` as CPython frames it.
std::string Pickle4(const std::string& s) {
  std::string body;
  if (s.size() < 256) {
    body = "\x8c"s + static_cast<char>(s.size()) + s;
  } else {
    body = "X"s;
    for (int i = 0; i < 4; ++i) body.push_back(static_cast<char>((s.size() >> (8 * i)) & 0xff));
    body += s;
  }
  body += "\x94"s;
  std::string frame = "\x95"s;
  for (int i = 0; i < 8; ++i) frame.push_back(static_cast<char>((body.size() >> (8 * i)) & 0xff));
  return "\x80\x04"s + frame + body + ".";
}

TEST(Base64Test, DecodesRfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    auto d = Base64Decode(encoded);
    ASSERT_TRUE(d.ok()) << encoded << ": " << d.status();
    EXPECT_EQ(*d, plain);
  }
}

TEST(Base64Test, RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    auto d = Base64Decode(Base64Encode(all.substr(0, n)));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, all.substr(0, n));
  }
}

TEST(Base64Test, RejectsNonCanonicalAndForeignInput) {
  for (const std::string bad : {"Zg=", "Zm9v!A==", "Z===", "=Zg=", "Zg==Zm9v", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n"}) {
    EXPECT_FALSE(Base64Decode(bad).ok()) << bad;
  }
  auto st = Base64Decode("Zm9v*A==").status();
  EXPECT_NE(st.message().find("offset 4"), std::string::npos) << st;
}

TEST(PickleStringTest, ReadsWhatCPythonWritesForProtocols2To5) {
  for (const std::string& p : {kHiProtocol2, kHiProtocol3, kHiProtocol4, kHiProtocol5}) {
    auto s = UnpickleString(p);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(*s, "hi");
  }
  const std::string big(100000, 'x');
  auto s = UnpickleString(Pickle4(big));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, big);
}

TEST(PickleStringTest, RejectsEveryTruncation) {
  for (const std::string& p : {kHiProtocol2, kHiProtocol4, Pickle4(std::string(300, 'y'))}) {
    for (size_t n = 0; n < p.size(); ++n) EXPECT_FALSE(UnpickleString(p.substr(0, n)).ok()) << n;
  }
}

TEST(PickleStringTest, RejectsOpcodesOtherThanASingleStr) {
  const std::string cases[] = {
      "\x80\x02"s
      "cos\nsystem\n(S'true'\ntR."s,             // GLOBAL + REDUCE: the classic exploit
      "\x80\x04\x8c\x02os\x8c\x06system\x93."s,  // STACK_GLOBAL
      "\x80\x02]q\x00."s,                        // an empty list
      "\x80\x02K\x05."s,                         // an int
      "\x80\x02X\x01\x00\x00\x00"
      "aX\x01\x00\x00\x00"
      "b."s,  // two strings
      "\x80\x02q\x00X\x01\x00\x00\x00"
      "a."s,         // memo before the value
      "\x80\x02."s,  // STOP with nothing
      "\x80\x02X\x01\x00\x00\x00"
      "a.extra"s,  // bytes after STOP
      "\x80\x01X\x01\x00\x00\x00"
      "a."s,  // protocol 1
      "\x80\x06X\x01\x00\x00\x00"
      "a."s,  // protocol 6
      "X\x01\x00\x00\x00"
      "a."s,  // no PROTO
      "\x80\x02\x95\x01\x00\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00"
      "a."s,                                  // FRAME in protocol 2
      "\x80\x02X\x02\x00\x00\x00\xff\xfe."s,  // invalid UTF-8
  };
  for (const std::string& c : cases) EXPECT_FALSE(UnpickleString(c).ok()) << testing::PrintToString(c);
}

TEST(PickleStringTest, RejectsHugeLengthsWithoutAllocating) {
  // Claims of 4 GiB, 2^63 and a giant frame over a few bytes of input.
  const std::string cases[] = {
      "\x80\x02X\xff\xff\xff\xff"
      "abc."s,
      "\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f"
      "abc."s,
      "\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xff\x8c\x01"
      "a."s,
  };
  for (const std::string& c : cases) {
    auto s = UnpickleString(c);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find("remain"), std::string::npos) << s.status();
  }
  EXPECT_FALSE(UnpickleString(Pickle4(std::string(1000, 'z')), /*max_bytes=*/999).ok());
}

TEST(PickleStringTest, SurvivesRandomAndMutatedInput) {
  std::mt19937 rng(7);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string p = Pickle4("payload");
    if (i % 2 == 0) {
      p[rng() % p.size()] = static_cast<char>(rng());
    } else {
      p.resize(rng() % 32);
      for (char& c : p) c = static_cast<char>(rng());
    }
    auto s = UnpickleString(p);
    if (s.ok()) ++accepted;
  }
  // Mutations of the payload bytes are still valid strings; nothing crashed.
  EXPECT_GT(accepted, 0);
}

TEST(InflateTest, RoundTripsAndRejectsDamage) {
  const std::string text(50000, 'q');
  const std::string z = Compress(text);
  auto back = Inflate(z, InflateFormat::kZlib);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, text);
  EXPECT_FALSE(Inflate(z.substr(0, z.size() / 2), InflateFormat::kZlib).ok());
  EXPECT_FALSE(Inflate(z + "junk", InflateFormat::kZlib).ok());
  EXPECT_FALSE(Inflate("not zlib at all", InflateFormat::kZlib).ok());
  auto capped = Inflate(z, InflateFormat::kZlib, 1000);
  ASSERT_FALSE(capped.ok());
  EXPECT_NE(capped.status().message().find("limit"), std::string::npos);
}

TEST(PrivateTestsTest, DecodesTheCompressedFormAndPlainJson) {
  const std::string json = R"([{"input": "1\n", "output": "2\n", "testtype": "stdin"}])";
  auto d = DecodePrivateTests(Base64Encode(Compress(Pickle4(json))), 1 << 20);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, json);
  auto plain = DecodePrivateTests("  " + json, 1 << 20);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, json);
}

TEST(PrivateTestsTest, NamesTheLayerThatFailed) {
  EXPECT_NE(DecodePrivateTests("@@@@", 1 << 20).status().message().find("base64"), std::string::npos);
  EXPECT_NE(DecodePrivateTests(Base64Encode("garbage!"), 1 << 20).status().message().find("zlib"), std::string::npos);
  EXPECT_NE(DecodePrivateTests(Base64Encode(Compress("\x80\x02K\x05."s)), 1 << 20).status().message().find("pickle"),
            std::string::npos);
}

}  // namespace
}  // namespace ssd
