#include "common/util/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace ssd {
namespace {

TEST(Sha256Test, MatchesTheFips180Vectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256("abc").size(), 32u);
}

TEST(Sha256Test, AStreamOverPiecesEqualsTheWholeDigestAndResets) {
  Sha256Stream s;
  s.Update("ab");
  s.Update("c");
  EXPECT_EQ(s.Final(), Sha256("abc"));
  s.Reset();
  s.Update(std::string(1000, 'x'));
  EXPECT_EQ(s.Final(), Sha256(std::string(1000, 'x')));
}

TEST(Sha256Test, HexAndConstantTimeEquality) {
  EXPECT_EQ(HexEncode(std::string("\x01\xab\xff", 3)), "01abff");
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
}

}  // namespace
}  // namespace ssd
