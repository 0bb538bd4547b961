#include "common/util/hash.h"

#include <gtest/gtest.h>

namespace ssd {
namespace {

TEST(HashTest, Fnv1aMatchesThePublishedVectors) {
  // The FNV reference test vectors (Fowler, Noll, Vo).
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ull);
}

TEST(HashTest, ChainingIsHashingTheConcatenation) { EXPECT_EQ(Fnv1a64("bar", Fnv1a64("foo")), Fnv1a64("foobar")); }

TEST(HashTest, AWordHashesAsItsEightLittleEndianBytes) {
  const uint64_t v = 0x0807060504030201ull;
  const char bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(Fnv1a64Word(v), Fnv1a64(absl::string_view(bytes, 8)));
  EXPECT_EQ(Fnv1a64Word(v, 42), Fnv1a64(absl::string_view(bytes, 8), 42));
}

}  // namespace
}  // namespace ssd
