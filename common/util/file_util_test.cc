#include "common/util/file_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util/mapped_file.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

TEST(FileUtilTest, AtomicWriteThenReadRoundTrips) {
  ScopedTempDir tmp("ssd_file_util_test");
  const std::string dir = tmp.path();
  std::string path = JoinPath(dir, "a.txt");
  ASSERT_TRUE(WriteFileAtomically(path, "hello").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "world!").ok());
  auto text = ReadFileToString(path);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "world!");
  auto mapped = MappedFile::Open(path);
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(mapped->data()), mapped->size()), "world!");
}

TEST(FileUtilTest, AbandonedWriterLeavesNoFileBehind) {
  ScopedTempDir tmp("ssd_file_util_test");
  const std::string dir = tmp.path();
  std::string path = JoinPath(dir, "b.bin");
  {
    auto w = AtomicFileWriter::Open(path);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Append("partial").ok());
  }  // destroyed without Commit
  EXPECT_FALSE(PathExists(path));
  EXPECT_EQ(system(("test -z \"$(ls -A " + dir + ")\"").c_str()), 0) << "temp file left behind";
}

TEST(FileUtilTest, MissingFileIsNotFoundAndNamesThePath) {
  auto r = ReadFileToString("/nonexistent/ssd/file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/ssd/file"), std::string::npos);
}

TEST(FileUtilTest, ReadRefusesFilesOverTheLimit) {
  ScopedTempDir tmp("ssd_file_util_test");
  const std::string dir = tmp.path();
  std::string path = JoinPath(dir, "big");
  ASSERT_TRUE(WriteFileAtomically(path, std::string(100, 'x')).ok());
  EXPECT_FALSE(ReadFileToString(path, 99).ok());
  EXPECT_TRUE(ReadFileToString(path, 100).ok());
}

TEST(FileUtilTest, MakeDirsCreatesParentsAndIsIdempotent) {
  ScopedTempDir tmp("ssd_file_util_test");
  const std::string dir = tmp.path();
  std::string deep = JoinPath(dir, "x/y/z");
  ASSERT_TRUE(MakeDirs(deep).ok());
  ASSERT_TRUE(MakeDirs(deep).ok());
  EXPECT_TRUE(PathExists(deep));
}

TEST(FileUtilTest, JoinPathUsesExactlyOneSlash) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "/b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
}

TEST(FileUtilTest, ContainingDirIsAbsoluteAndFollowsALinkToTheFile) {
  ScopedTempDir tmp("ssd_file_util_test");
  const std::string real = JoinPath(tmp.path(), "specs");
  ASSERT_TRUE(MakeDirs(real).ok());
  ASSERT_TRUE(WriteFileAtomically(JoinPath(real, "job.yaml"), "x").ok());
  ASSERT_EQ(symlink(JoinPath(real, "job.yaml").c_str(), JoinPath(tmp.path(), "link.yaml").c_str()), 0);
  char buf[4096];
  ASSERT_NE(realpath(real.c_str(), buf), nullptr);
  EXPECT_EQ(ContainingDir(JoinPath(tmp.path(), "link.yaml")), buf) << "relative paths in the spec mean its folder";
  EXPECT_EQ(ContainingDir("/job.yaml"), "/");
  ASSERT_NE(getcwd(buf, sizeof(buf)), nullptr);
  EXPECT_EQ(ContainingDir("not-here/job.yaml"), JoinPath(buf, "not-here"));
}

TEST(NormalizePathTest, CollapsesDotsAndDoubleDotsLexically) {
  EXPECT_EQ(NormalizePath("/work/deploy/examples/../../build/models/tiny"), "/work/build/models/tiny");
  EXPECT_EQ(NormalizePath("a/./b//c/"), "a/b/c");
  EXPECT_EQ(NormalizePath("../x/../y"), "../y");
  EXPECT_EQ(NormalizePath("/../etc"), "/etc");
  EXPECT_EQ(NormalizePath("a/.."), ".");
}

}  // namespace
}  // namespace ssd
