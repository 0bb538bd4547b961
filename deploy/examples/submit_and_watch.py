#!/usr/bin/env python3
"""Submit an SSD job to a coordinator, follow it, and print its eval table.

Uses Debian's python3-grpcio and the Python modules `cmake` generates from
proto/ into build/python (put that folder on PYTHONPATH):

    PYTHONPATH=build/python /usr/bin/python3 deploy/examples/submit_and_watch.py \
        --coordinator localhost:7070 --certs certs deploy/examples/tiny.yaml

SubmitJob carries a request_id, so a submit that times out or finds the
coordinator restarting is retried without making a second job.

Exit status: 0 when the job SUCCEEDED, 3 when it FAILED, 4 when CANCELLED
(as `ssd watch`), 1 when the coordinator cannot be reached.
"""
import argparse
import os
import sys
import time
import uuid

import grpc

from ssd.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc

RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class BearerToken(grpc.AuthMetadataPlugin):
    def __init__(self, token):
        self._token = token

    def __call__(self, context, callback):
        callback((("authorization", "Bearer " + self._token),), None)


def channel(address, certs):
    with open(os.path.join(certs, "ca.pem"), "rb") as f:
        ca = f.read()
    with open(os.path.join(certs, "token")) as f:
        token = f.read().strip()
    creds = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(root_certificates=ca),
        grpc.metadata_call_credentials(BearerToken(token)))
    return grpc.secure_channel(address, creds, options=[
        ("grpc.max_receive_message_length", 64 << 20),
        ("grpc.max_send_message_length", 64 << 20),
    ])


def state_name(state):
    return job_pb2.JobState.Name(state).replace("JOB_STATE_", "")


def truncation_label(t):
    parts = []
    if t.top_k > 0:
        parts.append("top_k %d" % t.top_k)
    if t.top_p < 1:
        parts.append("top_p %g" % t.top_p)
    if t.min_p > 0:
        parts.append("min_p %g" % t.min_p)
    return ", ".join(parts) or "none"


def print_evals(job):
    for report in job.evals:
        who = "base model" if report.round == 0 else "round %d" % report.round
        print("\n%s" % who)
        print("| T | truncation | group | problems | " + " | ".join("pass@%d" % p.k for p in report.temperatures[0].groups[0].pass_at_k) + " |")
        for t in report.temperatures:
            for g in t.groups:
                cells = ["%.1f [%.1f, %.1f]" % (100 * p.value, 100 * p.ci_low, 100 * p.ci_high) for p in g.pass_at_k]
                print("| %.2f | %s | %s | %d | %s |" % (t.temperature, truncation_label(t.truncation), g.name,
                                                        g.num_problems, " | ".join(cells)))
        if not report.note:
            print("chosen T = %.2f, truncation %s; held-out pass@1 %.1f%%" % (
                report.chosen_temperature, truncation_label(report.chosen_truncation),
                100 * report.held_out_pass_at_1.value))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", help="job spec YAML")
    ap.add_argument("--coordinator", default=os.environ.get("SSD_COORDINATOR", "localhost:7070"))
    ap.add_argument("--certs", default=os.environ.get("SSD_CERTS", "certs"),
                    help="folder from `ssd certs init` (ca.pem, token)")
    ap.add_argument("--timeout", type=float, default=30, help="deadline of SubmitJob, seconds")
    args = ap.parse_args()

    with open(args.spec) as f:
        spec_yaml = f.read()
    stub = job_service_pb2_grpc.JobServiceStub(channel(args.coordinator, args.certs))
    request = job_service_pb2.SubmitJobRequest(spec_yaml=spec_yaml, base_dir=os.path.dirname(os.path.abspath(args.spec)),
                                               request_id=uuid.uuid4().hex)
    for attempt in range(3):
        try:
            resp = stub.SubmitJob(request, timeout=args.timeout)
            break
        except grpc.RpcError as e:
            if e.code() in RETRIED and attempt < 2:
                time.sleep(1 + attempt)
                continue
            print("submit failed: %s: %s" % (e.code().name, e.details()), file=sys.stderr)
            return 2 if e.code() == grpc.StatusCode.INVALID_ARGUMENT else 1
    print(resp.job_id, flush=True)

    job = resp.job
    last = None
    try:
        for job in stub.WatchJob(job_service_pb2.WatchJobRequest(job_id=resp.job_id)):
            now = (state_name(job.state), job.round)
            if now != last:
                print("%s round %d" % now, flush=True)
                last = now
    except grpc.RpcError as e:
        print("watch failed: %s: %s" % (e.code().name, e.details()), file=sys.stderr)
        return 1
    print("job %s %s" % (job.id, state_name(job.state)))
    if job.error:
        print("error: " + job.error)
    print_evals(job)
    return {job_pb2.JOB_STATE_SUCCEEDED: 0, job_pb2.JOB_STATE_CANCELLED: 4}.get(job.state, 3)


if __name__ == "__main__":
    sys.exit(main())
