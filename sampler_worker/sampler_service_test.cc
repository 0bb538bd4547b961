// Weights between samplers over real gRPC servers on 127.0.0.1: a pipelined
// push down a chain installs byte-identical folders everywhere, a dead link
// is routed around, and every bad push (corrupt bytes, stale or skipped
// versions, another architecture, oversize chunks, a torn stream) is
// refused with the old version still in place.
#include "sampler_worker/sampler_service.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/model/safetensors.h"
#include "common/rpc/channel_builder.h"
#include "common/rpc/server_builder.h"
#include "common/util/file_util.h"
#include "common/weights/weights_chunks.h"
#include "common/weights/weights_manifest.h"
#include "common/weights/weights_transport.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

const char kToken[] = "sampler-service-test-token";

SecurityOptions Insecure() {
  SecurityOptions s;
  s.insecure = true;
  s.token = kToken;
  return s;
}

ChannelFactory Channels() {
  return [](const std::string& address) -> absl::StatusOr<std::shared_ptr<grpc::Channel>> {
    ChannelOptions c;
    c.target = address;
    c.security = Insecure();
    return MakeChannel(c);
  };
}

// A sampler's weights side alone: store + service + server, with the same
// stale/skipped/architecture rules as the worker.
struct FakeSampler {
  std::string id;
  std::unique_ptr<WeightsStore> store;
  std::unique_ptr<SamplerService> service;
  BuiltServer server;
  std::string address() const { return absl::StrCat("127.0.0.1:", server.port); }
  v1::PushTarget target() const {
    v1::PushTarget t;
    t.set_worker_id(id);
    t.set_address(address());
    return t;
  }
};

class SamplerServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    base_ = MakeModel("base", 64, 1.0f);
    v1_ = MakeModel("v1", 64, 2.0f);
    v2_ = MakeModel("v2", 64, 3.0f);
  }
  void TearDown() override {
    for (auto& s : samplers_) s->server.server->Shutdown();
    samplers_.clear();
  }

  // A model folder with a 2 MB tensor (so it takes several chunks).
  std::string MakeModel(const std::string& name, int hidden, float fill, size_t tensor_floats = 512 * 1024) {
    const std::string d = dir_ + "/" + name;
    EXPECT_TRUE(MakeDirs(d).ok());
    EXPECT_TRUE(WriteFileAtomically(d + "/config.json", absl::StrCat(R"({"model_type": "qwen3", "hidden_size": )",
                                                                     hidden, R"(, "vocab_size": 100})"))
                    .ok());
    EXPECT_TRUE(WriteFileAtomically(d + "/tokenizer.json", "{}").ok());
    std::vector<float> w(tensor_floats, fill), b(7, fill);
    EXPECT_TRUE(
        WriteSafetensors(d + "/model.safetensors", {{"w", DType::kF32, {static_cast<int64_t>(tensor_floats)}, w.data()},
                                                    {"b", DType::kF32, {7}, b.data()}})
            .ok());
    return d;
  }

  FakeSampler* AddSampler(int64_t max_chunk_bytes = 16 << 20) {
    SamplerServiceOptions o;
    o.max_chunk_bytes = max_chunk_bytes;
    return AddSampler(o);
  }
  FakeSampler* AddSampler(const SamplerServiceOptions& o) {
    auto s = std::make_unique<FakeSampler>();
    s->id = absl::StrCat("sampler-", samplers_.size() + 1);
    s->store = *WeightsStore::Open(absl::StrCat(dir_, "/", s->id));
    WeightsStore* store = s->store.get();
    const std::string id = s->id;
    SamplerServiceHooks hooks;
    hooks.worker_id = [id] { return id; };
    hooks.accept = [store](const v1::WeightsManifest& m) -> absl::Status {
      const int32_t newest = store->Newest(m.weights().job_id());
      if (m.weights().version() < newest) return absl::FailedPreconditionError("stale version");
      if (m.weights().version() > newest + 1) return absl::FailedPreconditionError("skipped version");
      return absl::OkStatus();
    };
    hooks.check_file = [](const v1::WeightsManifest& m, const std::string& name, const std::string& path) {
      if (name != "config.json") return absl::OkStatus();
      return CheckSameArchitecture(*ReadFileToString(m.base_model() + "/config.json"), *ReadFileToString(path));
    };
    s->service = std::make_unique<SamplerService>(store, Channels(), hooks, o);
    ServerOptions so;
    so.security = Insecure();
    s->server = *BuildServer(so, {s->service.get()});
    samplers_.push_back(std::move(s));
    return samplers_.back().get();
  }

  v1::WeightsRef Ref(int version) {
    v1::WeightsRef r;
    r.set_job_id("job-000001");
    r.set_version(version);
    return r;
  }

  absl::StatusOr<v1::PushWeightsResponse> Push(const std::string& model, int version,
                                               const std::vector<v1::PushTarget>& chain, int64_t chunk = 1 << 20) {
    auto src = WeightsSource::Open(model, Ref(version), chunk);
    if (!src.ok()) return src.status();
    return PushToChain(**src, chain, base_, Channels(), 30000);
  }

  // One push straight to `s` (no chain): the sampler's own answer.
  absl::Status PushDirect(const std::string& model, int version, FakeSampler* s) {
    auto src = WeightsSource::Open(model, Ref(version), 1 << 20);
    if (!src.ok()) return src.status();
    std::unique_ptr<PushStream> stream = PushStream::Open(*Channels()(s->address()), 30000);
    bool open = stream->Write((*src)->ManifestMessage({}, base_));
    for (int64_t i = 0; open && i < (*src)->num_chunks(); ++i) open = stream->Write((*src)->Chunk(i));
    return stream->Finish().status();
  }

  void ExpectInstalled(FakeSampler* s, const std::string& model, int version) {
    ASSERT_TRUE(s->store->Has(Ref(version))) << s->id;
    for (const char* f : {"config.json", "tokenizer.json", "model.safetensors"}) {
      EXPECT_EQ(*ReadFileToString(s->store->Dir(Ref(version)) + "/" + f), *ReadFileToString(model + "/" + f))
          << s->id << " " << f;
    }
  }

  ScopedTempDir tmp_{"sampler_service_test"};
  std::string dir_ = tmp_.path();
  std::string base_, v1_, v2_;
  std::vector<std::unique_ptr<FakeSampler>> samplers_;
};

TEST_F(SamplerServiceTest, AChainOfThreeInstallsByteIdenticalCopiesEverywhere) {
  FakeSampler* a = AddSampler();
  FakeSampler* b = AddSampler();
  FakeSampler* c = AddSampler();
  auto r = Push(v1_, 1, {a->target(), b->target(), c->target()});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::vector<std::string>(r->reached().begin(), r->reached().end()),
            (std::vector<std::string>{"sampler-1", "sampler-2", "sampler-3"}));
  EXPECT_EQ(r->failures_size(), 0);
  for (FakeSampler* s : {a, b, c}) ExpectInstalled(s, v1_, 1);
  // Versions then go on in order.
  ASSERT_TRUE(Push(v2_, 2, {a->target(), b->target(), c->target()}).ok());
  ExpectInstalled(c, v2_, 2);
}

TEST_F(SamplerServiceTest, ADeadSamplerInTheChainIsRoutedAround) {
  FakeSampler* a = AddSampler();
  FakeSampler* b = AddSampler();
  FakeSampler* c = AddSampler();
  const v1::PushTarget dead = b->target();
  b->server.server->Shutdown();
  auto r = Push(v1_, 1, {a->target(), dead, c->target()});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::vector<std::string>(r->reached().begin(), r->reached().end()),
            (std::vector<std::string>{"sampler-1", "sampler-3"}));
  ASSERT_EQ(r->failures_size(), 1);
  EXPECT_EQ(r->failures(0).worker_id(), "sampler-2");
  ExpectInstalled(c, v1_, 1);
  // The dead first hop too.
  FakeSampler* d = AddSampler();
  auto r2 = Push(v1_, 1, {dead, d->target()});
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->reached_size(), 1);
  ExpectInstalled(d, v1_, 1);
}

TEST_F(SamplerServiceTest, StaleAndSkippedVersionsAreRefusedAndNothingChanges) {
  FakeSampler* a = AddSampler();
  auto skipped = Push(v2_, 2, {a->target()});
  ASSERT_FALSE(skipped.ok());
  EXPECT_NE(skipped.status().message().find("skipped version"), std::string::npos) << skipped.status();
  EXPECT_FALSE(a->store->Has(Ref(2)));
  ASSERT_TRUE(Push(v1_, 1, {a->target()}).ok());
  ASSERT_TRUE(Push(v2_, 2, {a->target()}).ok());
  auto stale = Push(v1_, 1, {a->target()});
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.status().message().find("stale version"), std::string::npos);
}

TEST_F(SamplerServiceTest, AnotherArchitectureIsRefusedAtItsConfig) {
  FakeSampler* a = AddSampler();
  const std::string other = MakeModel("other", 128, 1.0f);
  auto r = Push(other, 1, {a->target()});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("another architecture: config.json hidden_size is 128"), std::string::npos)
      << r.status();
  EXPECT_FALSE(a->store->Has(Ref(1)));
}

TEST_F(SamplerServiceTest, ACorruptChunkIsRefusedByChecksumAndTheOldVersionStays) {
  FakeSampler* a = AddSampler();
  ASSERT_TRUE(Push(v1_, 1, {a->target()}).ok());
  auto src = *WeightsSource::Open(v2_, Ref(2), 1 << 20);
  auto channel = *Channels()(a->address());
  std::unique_ptr<PushStream> s = PushStream::Open(channel, 30000);
  ASSERT_TRUE(s->Write(src->ManifestMessage({}, base_)));
  for (int64_t i = 0; i < src->num_chunks(); ++i) {
    grpc::ByteBuffer b = src->Chunk(i);
    if (i == src->num_chunks() - 1) {
      // Flip a byte of the last chunk (tensor "w" or "b").
      std::vector<grpc::Slice> slices;
      (void)b.Dump(&slices);
      std::string bytes;
      for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
      bytes[bytes.size() - 3] ^= 0x40;
      grpc::Slice one(bytes.data(), bytes.size());
      b = grpc::ByteBuffer(&one, 1);
    }
    if (!s->Write(b)) break;
  }
  auto r = s->Finish();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("checksum mismatch"), std::string::npos) << r.status();
  EXPECT_FALSE(a->store->Has(Ref(2)));
  ExpectInstalled(a, v1_, 1);
}

TEST_F(SamplerServiceTest, AChunkOverTheLimitIsResourceExhausted) {
  FakeSampler* a = AddSampler(/*max_chunk_bytes=*/256 << 10);
  auto r = Push(v1_, 1, {a->target()}, /*chunk=*/1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("the limit is 262144"), std::string::npos) << r.status();
}

// A push one byte or one tensor over the receiver's limits is refused as
// RESOURCE_EXHAUSTED before anything is staged, and the sampler goes on
// serving: a push within the limits then installs.
TEST_F(SamplerServiceTest, APushOneByteOverTheByteLimitIsResourceExhaustedAndTheSamplerServesOn) {
  const int64_t total = BuildManifest(v1_, Ref(1))->total_bytes();
  SamplerServiceOptions o;
  o.max_total_bytes = total - 1;
  FakeSampler* a = AddSampler(o);
  const absl::Status r = PushDirect(v1_, 1, a);
  EXPECT_EQ(r.code(), absl::StatusCode::kResourceExhausted) << r;
  EXPECT_NE(r.message().find(absl::StrCat("more than ", total - 1, " bytes")), std::string::npos) << r;
  EXPECT_FALSE(a->store->Has(Ref(1)));
  const std::string smaller = MakeModel("smaller", 64, 2.0f, /*tensor_floats=*/1024);
  ASSERT_TRUE(Push(smaller, 1, {a->target()}).ok());
  ExpectInstalled(a, smaller, 1);
}

TEST_F(SamplerServiceTest, APushOneTensorOverTheTensorLimitIsResourceExhaustedAndTheSamplerServesOn) {
  SamplerServiceOptions o;
  o.max_tensors = 1;  // the test models hold two
  FakeSampler* a = AddSampler(o);
  const absl::Status r = PushDirect(v1_, 1, a);
  EXPECT_EQ(r.code(), absl::StatusCode::kResourceExhausted) << r;
  EXPECT_NE(r.message().find("more than 1 tensors"), std::string::npos) << r;
  EXPECT_FALSE(a->store->Has(Ref(1)));
  const std::string one = dir_ + "/one-tensor";
  ASSERT_TRUE(MakeDirs(one).ok());
  ASSERT_TRUE(WriteFileAtomically(one + "/config.json", *ReadFileToString(v1_ + "/config.json")).ok());
  std::vector<float> w(1024, 2.0f);
  ASSERT_TRUE(WriteSafetensors(one + "/model.safetensors", {{"w", DType::kF32, {1024}, w.data()}}).ok());
  ASSERT_TRUE(Push(one, 1, {a->target()}).ok());
  EXPECT_TRUE(a->store->Has(Ref(1)));
}

TEST_F(SamplerServiceTest, APushCutOffHalfwayInstallsNothing) {
  FakeSampler* a = AddSampler();
  auto src = *WeightsSource::Open(v1_, Ref(1), 256 << 10);
  std::unique_ptr<PushStream> s = PushStream::Open(*Channels()(a->address()), 30000);
  ASSERT_TRUE(s->Write(src->ManifestMessage({}, base_)));
  for (int64_t i = 0; i < src->num_chunks() / 2; ++i) ASSERT_TRUE(s->Write(src->Chunk(i)));
  auto r = s->Finish();  // WritesDone halfway: a torn stream
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("torn stream"), std::string::npos) << r.status();
  EXPECT_FALSE(a->store->Has(Ref(1)));
  // And a retry installs it.
  ASSERT_TRUE(Push(v1_, 1, {a->target()}).ok());
  ExpectInstalled(a, v1_, 1);
}

TEST_F(SamplerServiceTest, APushCutOffHalfwayDownAChainInstallsNothingAnywhereAndTheSamplersLiveOn) {
  FakeSampler* a = AddSampler();
  FakeSampler* b = AddSampler();
  auto src = *WeightsSource::Open(v1_, Ref(1), 256 << 10);
  {
    std::unique_ptr<PushStream> s = PushStream::Open(*Channels()(a->address()), 30000);
    ASSERT_TRUE(s->Write(src->ManifestMessage({b->target()}, base_)));
    for (int64_t i = 0; i < src->num_chunks() / 2; ++i) ASSERT_TRUE(s->Write(src->Chunk(i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the chunks reach both
    s->Cancel();                                                  // the pusher dies
  }
  // Give both a moment to notice, then a clean push must still work.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(a->store->Has(Ref(1)));
  EXPECT_FALSE(b->store->Has(Ref(1)));
  auto r = Push(v1_, 1, {a->target(), b->target()});
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectInstalled(a, v1_, 1);
  ExpectInstalled(b, v1_, 1);
}

TEST_F(SamplerServiceTest, ALateJoinerFetchesAVersionFromAPeer) {
  FakeSampler* a = AddSampler();
  ASSERT_TRUE(Push(v1_, 1, {a->target()}).ok());
  FakeSampler* late = AddSampler();
  auto staging = late->store->NewStaging(Ref(1));
  ASSERT_TRUE(staging.ok());
  WeightsReceiverOptions o;
  o.staging_dir = *staging;
  WeightsReceiver rx(o);
  ASSERT_TRUE(FetchWeights(*Channels()(a->address()), Ref(1), &rx, 30000).ok());
  ASSERT_TRUE(late->store->Install(Ref(1), *staging).ok());
  ExpectInstalled(late, v1_, 1);
  // Asking a sampler for what it does not hold is NOT_FOUND.
  WeightsReceiverOptions o2;
  o2.staging_dir = dir_ + "/nowhere";
  WeightsReceiver rx2(o2);
  const absl::Status missing = FetchWeights(*Channels()(a->address()), Ref(5), &rx2, 30000);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("sampler-1 does not hold job-000001 v5"), std::string::npos) << missing;
}

}  // namespace
}  // namespace ssd
