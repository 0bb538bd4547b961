// Weights manifests, zero-copy chunk encoding and the verifying receiver:
// a good stream installs byte-identical files; every corruption, reorder,
// truncation or oversize chunk is refused naming what is wrong.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common/model/safetensors.h"
#include "common/util/file_util.h"
#include "common/weights/weights_chunks.h"
#include "common/weights/weights_manifest.h"
#include "common/weights/weights_receiver.h"
#include "common/weights/weights_source.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

class WeightsTest : public testing::Test {
 protected:
  void SetUp() override {
    model_ = dir_ + "/model";
    ASSERT_TRUE(MakeDirs(model_).ok());
    ASSERT_TRUE(WriteFileAtomically(model_ + "/config.json", R"({"model_type": "qwen3", "hidden_size": 8})").ok());
    ASSERT_TRUE(WriteFileAtomically(model_ + "/tokenizer.json", std::string(5000, 't')).ok());
    a_.resize(3000);
    b_.resize(1);
    for (size_t i = 0; i < a_.size(); ++i) a_[i] = static_cast<float>(i) * 0.5f;
    b_[0] = 7;
    ASSERT_TRUE(WriteSafetensors(model_ + "/model.safetensors", {{"a", DType::kF32, {3000}, a_.data()},
                                                                 {"empty", DType::kF32, {0}, nullptr},
                                                                 {"b", DType::kF32, {1}, b_.data()}})
                    .ok());
    ref_.set_job_id("job-000001");
    ref_.set_version(1);
  }

  std::shared_ptr<WeightsSource> Source(int64_t chunk = 4096) {
    auto s = WeightsSource::Open(model_, ref_, chunk);
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  WeightsReceiverOptions Options(const std::string& name = "staged") {
    WeightsReceiverOptions o;
    o.staging_dir = dir_ + "/" + name;
    o.max_chunk_bytes = 8192;
    return o;
  }
  // Streams every message of `src` through a receiver, optionally mangled.
  absl::Status Stream(WeightsSource& src, WeightsReceiver& rx,
                      const std::function<void(int64_t, grpc::ByteBuffer*)>& mangle = {}, int64_t stop_at = -1) {
    auto m = ParseChunk(src.ManifestMessage({}, "/base"));
    if (!m.ok()) return m.status();
    if (absl::Status s = rx.OnChunk(*m); !s.ok()) return s;
    for (int64_t i = 0; i < src.num_chunks(); ++i) {
      if (i == stop_at) break;
      grpc::ByteBuffer b = src.Chunk(i);
      if (mangle) mangle(i, &b);
      auto c = ParseChunk(b);
      if (!c.ok()) return c.status();
      if (absl::Status s = rx.OnChunk(*c); !s.ok()) return s;
    }
    return rx.Finish();
  }
  static grpc::ByteBuffer Flip(const grpc::ByteBuffer& b, size_t at) {
    std::vector<grpc::Slice> slices;
    (void)b.Dump(&slices);
    std::string bytes;
    for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    bytes[at] ^= 1;
    grpc::Slice s(bytes.data(), bytes.size());
    return grpc::ByteBuffer(&s, 1);
  }

  ScopedTempDir tmp_{"weights_test"};
  std::string dir_ = tmp_.path();
  std::string model_;
  std::vector<float> a_, b_;
  v1::WeightsRef ref_;
};

TEST_F(WeightsTest, ManifestDigestsEveryTensorAndFileAndTheConfigComesFirst) {
  auto m = BuildManifest(model_, ref_);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->files_size(), 3);
  EXPECT_EQ(m->files(0).name(), "config.json");
  EXPECT_EQ(m->files(2).name(), "model.safetensors");
  ASSERT_EQ(m->files(2).tensors_size(), 3);
  EXPECT_EQ(m->files(2).tensors(0).name(), "a");
  EXPECT_EQ(m->files(2).tensors(0).dtype(), v1::DTYPE_F32);
  EXPECT_EQ(m->files(2).tensors(0).end() - m->files(2).tensors(0).begin(), 12000);
  EXPECT_TRUE(ValidateManifest(*m, 1 << 30).ok());
  EXPECT_EQ(ValidateManifest(*m, 100).code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(WeightsTest, ZeroCopyChunkBytesAreTheProtobufEncoding) {
  auto src = Source();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(src->Chunk(1).Dump(&slices).ok());
  std::string raw;
  for (auto& s : slices) raw.append(reinterpret_cast<const char*>(s.begin()), s.size());
  v1::WeightsChunk c;
  ASSERT_TRUE(c.ParseFromString(raw));
  // Chunks never span files: chunk 0 is the 41-byte config.json.
  EXPECT_EQ(c.offset(), 41);
  EXPECT_EQ(c.data().size(), 4096u);
  EXPECT_EQ(c.data(), std::string(4096, 't'));
  // And a chunk made by any protobuf encoder parses too.
  v1::WeightsChunk made;
  made.set_offset(5);
  made.set_data("hello");
  auto parsed = ParseChunk(ProtoToBuffer(made));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->offset, 5);
  EXPECT_EQ(parsed->data_bytes, 5u);
}

TEST_F(WeightsTest, AGoodStreamStagesByteIdenticalFiles) {
  auto src = Source();
  WeightsReceiver rx(Options());
  ASSERT_TRUE(Stream(*src, rx).ok());
  for (const char* f : {"config.json", "tokenizer.json", "model.safetensors"}) {
    EXPECT_EQ(*ReadFileToString(dir_ + "/staged/" + f), *ReadFileToString(model_ + "/" + f)) << f;
  }
  EXPECT_EQ(rx.bytes_received(), src->manifest().total_bytes());
}

TEST_F(WeightsTest, AFlippedTensorByteIsDataLossNamingTheTensor) {
  auto src = Source();
  WeightsReceiver rx(Options());
  // The last chunks hold tensor "a"'s bytes; flip one well inside it.
  const int64_t last = src->num_chunks() - 2;
  const absl::Status s = Stream(*src, rx, [&](int64_t i, grpc::ByteBuffer* b) {
    if (i == last) *b = Flip(*b, 100);
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("tensor a checksum mismatch"), std::string::npos) << s;
}

TEST_F(WeightsTest, AFlippedByteOfAnotherFileIsDataLossNamingTheFile) {
  auto src = Source();
  WeightsReceiver rx(Options());
  const absl::Status s = Stream(*src, rx, [&](int64_t i, grpc::ByteBuffer* b) {
    if (i == 0) *b = Flip(*b, 20);
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("config.json"), std::string::npos) << s;
}

TEST_F(WeightsTest, ATornStreamIsDataLossAndNamesHowMuchArrived) {
  auto src = Source();
  WeightsReceiver rx(Options());
  const absl::Status s = Stream(*src, rx, {}, /*stop_at=*/2);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("torn stream"), std::string::npos) << s;
}

TEST_F(WeightsTest, OutOfOrderDataBeforeTheManifestAndOversizeChunksAreRefused) {
  auto src = Source();
  {
    WeightsReceiver rx(Options("a"));
    auto c = ParseChunk(src->Chunk(0));
    EXPECT_NE(rx.OnChunk(*c).message().find("data before the manifest"), std::string::npos);
  }
  {
    WeightsReceiver rx(Options("b"));
    ASSERT_TRUE(rx.OnChunk(*ParseChunk(src->ManifestMessage({}, ""))).ok());
    const absl::Status s = rx.OnChunk(*ParseChunk(src->Chunk(1)));
    EXPECT_NE(s.message().find("out of order"), std::string::npos) << s;
  }
  {
    auto big = Source(16384);
    WeightsReceiver rx(Options("c"));
    ASSERT_TRUE(rx.OnChunk(*ParseChunk(big->ManifestMessage({}, ""))).ok());
    ASSERT_TRUE(rx.OnChunk(*ParseChunk(big->Chunk(0))).ok());
    ASSERT_TRUE(rx.OnChunk(*ParseChunk(big->Chunk(1))).ok());
    EXPECT_EQ(rx.OnChunk(*ParseChunk(big->Chunk(2))).code(), absl::StatusCode::kResourceExhausted);
  }
}

TEST_F(WeightsTest, TheAcceptHookCanRefuseAManifest) {
  auto src = Source();
  WeightsReceiverOptions o = Options();
  o.accept = [](const v1::WeightsManifest& m) {
    return absl::FailedPreconditionError(absl::StrCat("stale version ", m.weights().version()));
  };
  WeightsReceiver rx(o);
  EXPECT_EQ(rx.OnChunk(*ParseChunk(src->ManifestMessage({}, ""))).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(WeightsTest, HostileManifestsAreRefused) {
  auto m = *BuildManifest(model_, ref_);
  auto bad = m;
  bad.mutable_files(1)->set_name("../../etc/passwd");
  EXPECT_NE(ValidateManifest(bad, 1 << 30).message().find("not a plain file name"), std::string::npos);
  bad = m;
  bad.mutable_files(1)->set_name("config.json");
  EXPECT_NE(ValidateManifest(bad, 1 << 30).message().find("listed twice"), std::string::npos);
  bad = m;
  bad.set_total_bytes(m.total_bytes() + 1);
  EXPECT_NE(ValidateManifest(bad, 1 << 30).message().find("total_bytes"), std::string::npos);
  bad = m;
  bad.mutable_files(2)->mutable_tensors(0)->set_end(1 << 30);
  EXPECT_NE(ValidateManifest(bad, 1 << 30).message().find("bad digest or byte range"), std::string::npos);
  bad = m;
  bad.mutable_weights()->set_version(0);
  EXPECT_FALSE(ValidateManifest(bad, 1 << 30).ok());
}

TEST(ArchitectureTest, ADifferentSizeOrTypeIsNamed) {
  EXPECT_TRUE(
      CheckSameArchitecture(R"({"model_type":"qwen3","hidden_size":8})", R"({"hidden_size":8,"model_type":"qwen3"})")
          .ok());
  const absl::Status s =
      CheckSameArchitecture(R"({"model_type":"qwen3","hidden_size":8})", R"({"model_type":"qwen3","hidden_size":16})");
  EXPECT_NE(s.message().find("hidden_size is 16, the job's model has 8"), std::string::npos) << s;
  EXPECT_FALSE(CheckSameArchitecture("{", "{}").ok());
}

}  // namespace
}  // namespace ssd
