#!/usr/bin/python3
"""Writes the seeds of the coordinator_rpc and tokenizer_roundtrip fuzz
targets. coordinator_rpc seeds are request sequences a real client sends (a
job submitted, a sampler registering, leasing a shard, streaming its samples,
heartbeating and reporting; a trainer; an import; cancellation), encoded as
the target reads them: records of [kind:1][length:2 LE][serialized message],
where a worker call's message is [length:2 LE][WorkerCredentials][request]
(the credentials a gRPC call carries as metadata). The messages come from
proto/ssd/v1 through protoc's Python output.

  /usr/bin/python3 tests/fuzz/make_rpc_seeds.py
"""
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests/fuzz/corpus")

# The target's record kinds (tests/fuzz/coordinator_rpc_fuzz.cc).
SUBMIT, GET, LIST, CANCEL, WORKERS, REGISTER, HEARTBEAT, ACQUIRE, REPORT, DEREGISTER, APPEND, APPEND_NEW, SCAN, EXPORT, IMPORT, TICK = range(16)

SPEC = """name: fuzz
model: model
problems: problems.jsonl
output_dir: out
rounds: 1
shard_size: 2
sampling:
  temperature: 1.5
  top_k: 20
  top_p: 0.8
  n: 2
  max_tokens: 64
filter:
  drop_empty: true
  drop_shortest_percent: 10
  length_unit: chars
train:
  epochs: 1
  lr: 1.0e-4
  max_seq_len: 256
  micro_batch_tokens: 512
  batch_tokens: 512
  trainers: 1
"""

EVAL = """eval:
  benchmark: benchmark.jsonl
  n: 2
  temperatures: [0.6, 1.0]
  ks: [1, 2]
  base: true
"""


def load_protos(tmp):
    proto_dir = os.path.join(ROOT, "proto")
    files = [os.path.join("ssd/v1", f) for f in sorted(os.listdir(os.path.join(proto_dir, "ssd/v1")))]
    subprocess.run(["protoc", "-I", proto_dir, "--python_out", tmp] + files, check=True)
    sys.path.insert(0, tmp)
    from ssd.v1 import job_service_pb2, replay_store_pb2, types_pb2, worker_service_pb2  # noqa: E402
    return job_service_pb2, worker_service_pb2, replay_store_pb2, types_pb2


def record(kind, payload):
    return struct.pack("<BH", kind, len(payload)) + payload


def as_worker(credentials, request):
    """A worker call: its credentials, then its request."""
    creds = credentials.SerializeToString()
    return struct.pack("<H", len(creds)) + creds + request.SerializeToString()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        j, w, r, t = load_protos(tmp)
        me = w.WorkerCredentials(worker_id="@")
        nobody = w.WorkerCredentials()
        stop = r.FINISH_REASON_STOP

        def sampler_session(spec):
            out = record(SUBMIT, j.SubmitJobRequest(spec_yaml=spec, request_id="seed-1").SerializeToString())
            reg = w.RegisterWorkerRequest(role=t.WORKER_ROLE_SAMPLER, address="127.0.0.1:1", hostname="h")
            out += record(REGISTER, as_worker(nobody, reg))
            out += record(ACQUIRE, as_worker(me, w.AcquireWorkRequest()))
            lease = t.LeaseRef(job_id="@")
            samples = [r.Sample(problem_id="tiny-add", sample_index=i, text=b"print(sum(map(int, input().split())))\n",
                                num_tokens=9, finish_reason=stop) for i in range(2)]
            out += record(APPEND_NEW, as_worker(me, r.AppendRequest(lease=lease, samples=samples)))
            more = [r.Sample(problem_id="tiny-rev", sample_index=i, text=b"print(input()[::-1])\n", num_tokens=6,
                             finish_reason=stop) for i in range(2)]
            out += record(APPEND, as_worker(me, r.AppendRequest(samples=more)))
            out += record(HEARTBEAT, as_worker(me, w.HeartbeatRequest(leases=[lease])))
            out += record(REPORT, as_worker(me, w.ReportWorkRequest(lease=lease, shard_done=w.ShardDone())))
            out += record(SCAN, r.ScanRequest(job_id="@", round=1, world=1).SerializeToString())
            out += record(EXPORT, r.ExportRequest(job_id="@", round=1, all_samples=True).SerializeToString())
            out += record(GET, b"@")
            return out

        seeds = {
            "sampler_session": sampler_session(SPEC),
            "sampler_session_eval": sampler_session(SPEC + EVAL),
            "lease_expiry": sampler_session(SPEC) + record(TICK, b"\x00" * 40) + record(TICK, b"\x00" * 40)
            + record(WORKERS, j.ListWorkersRequest(include_gone=True).SerializeToString()),
            "trainer_and_cancel": record(SUBMIT, j.SubmitJobRequest(spec_yaml=SPEC).SerializeToString())
            + record(REGISTER, as_worker(nobody, w.RegisterWorkerRequest(role=t.WORKER_ROLE_TRAINER, hostname="t")))
            + record(ACQUIRE, as_worker(me, w.AcquireWorkRequest()))
            + record(CANCEL, j.CancelJobRequest(job_id="@", reason="fuzz").SerializeToString())
            + record(LIST, j.ListJobsRequest(page_size=5).SerializeToString())
            + record(DEREGISTER, as_worker(me, w.DeregisterRequest())),
            "resubmit": record(SUBMIT, j.SubmitJobRequest(spec_yaml=SPEC, request_id="again").SerializeToString())
            + record(SUBMIT, j.SubmitJobRequest(spec_yaml=SPEC, request_id="again").SerializeToString())
            + record(SUBMIT, j.SubmitJobRequest(spec_yaml=SPEC.replace("name: fuzz", "name: other"),
                                                request_id="again").SerializeToString())
            + record(LIST, j.ListJobsRequest(page_size=1).SerializeToString())
            + record(LIST, j.ListJobsRequest(page_size=1, page_token="after:@").SerializeToString()),
        }
        header = r.ImportHeader(spec_yaml=SPEC, source_name="samples.jsonl").SerializeToString()
        jsonl = (b'{"problem_id": "tiny-add", "sample_index": 0, "messages": [{"role": "user", "content": "add"},'
                 b' {"role": "assistant", "content": "print(1)"}]}\n')
        seeds["import"] = record(IMPORT, struct.pack("<H", len(header)) + header + jsonl) + record(GET, b"@")

        out_dir = os.path.join(CORPUS, "coordinator_rpc")
        os.makedirs(out_dir, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(out_dir, name + ".bin"), "wb") as f:
                f.write(data)

    # tokenizer_roundtrip: [mode byte][input]; bit 0 picks Llama-3 over Qwen3,
    # bit 1 reads the input as int32 ids.
    texts = {
        "code": "def solve(a, b):\n    return sorted(set(a) | set(b))[::-1]  # \u00e9\n",
        "unicode": "na\u0308ive caf\u00e9 \u65e5\u672c\u8a9e \U0001F600\t\r\n  <|im_start|>x",
    }
    rt = os.path.join(CORPUS, "tokenizer_roundtrip")
    os.makedirs(rt, exist_ok=True)
    for name, text in texts.items():
        for mode, tag in ((0, "qwen3"), (1, "llama3")):
            with open(os.path.join(rt, "%s_%s.txt" % (tag, name)), "wb") as f:
                f.write(bytes([mode]) + text.encode("utf-8"))
    ids = [151644, 872, 198, 750, 11625, 7, 64, 11, 293, 982, 151645, 220, 15675]
    with open(os.path.join(rt, "qwen3_ids.bin"), "wb") as f:
        f.write(bytes([2]) + struct.pack("<%di" % len(ids), *ids))
    with open(os.path.join(rt, "llama3_ids.bin"), "wb") as f:
        f.write(bytes([3]) + struct.pack("<%di" % len(ids), *[i % 128000 for i in ids]))


if __name__ == "__main__":
    main()
