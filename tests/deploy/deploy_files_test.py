"""The deploy files, checked without a cluster: Kubernetes overlays rendered
with `kubectl kustomize`, the compose files through `docker-compose config`,
the Slurm script, and every `ssd` command line in them run against the
built binary with `ssd --dry-run` (it parses the line exactly as a start
would, then exits).

  /usr/bin/python3 tests/deploy/deploy_files_test.py     # ctest: deploy_files_test

SSD_BIN names the binary (default build/bin/ssd), SSD_SOURCE_DIR the tree.
A missing kubectl or docker-compose skips that part, saying so (under
SSD_REQUIRE_ALL=1 it fails).
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

SRC = os.environ.get("SSD_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SSD = os.environ.get("SSD_BIN", os.path.join(SRC, "build", "bin", "ssd"))
DEPLOY = os.path.join(SRC, "deploy")
sys.path.insert(0, os.path.join(SRC, "tests", "testing"))
from prerequisites import needs  # noqa: E402

# What the orchestrators substitute at run time, given stand-in values.
K8S_VARS = {"POD_IP": "10.1.2.3", "JOB_COMPLETION_INDEX": "1"}


def dry_run(args, where):
    """Runs `ssd --dry-run ARGS`; fails the calling test with `where` named."""
    r = subprocess.run([SSD, "--dry-run"] + list(args), capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or "command line accepted" not in r.stdout:
        raise AssertionError(f"{where}: `ssd {' '.join(args)}` is refused: {r.stdout}{r.stderr}")


def flag(args, name):
    """The value of --name=V or --name V in an argument list, or None."""
    for i, a in enumerate(args):
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
        if a == name and i + 1 < len(args):
            return args[i + 1]
    return None


def render(overlay):
    out = subprocess.run(["kubectl", "kustomize", os.path.join(DEPLOY, "k8s", "overlays", overlay)],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"kubectl kustomize overlays/{overlay}: {out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def by_kind(docs, kind, name):
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise AssertionError(f"no {kind} {name} in the rendered manifests")


@needs(shutil.which("kubectl"), "no kubectl: the Kubernetes overlays were not rendered")
class KubernetesTest(unittest.TestCase):
    def overlays(self):
        return {name: render(name) for name in ("cpu", "gpu", "gpu-vllm")}

    def test_every_container_command_line_is_one_ssd_accepts(self):
        for name, docs in self.overlays().items():
            for d in docs:
                spec = d.get("spec", {})
                tmpl = spec.get("template", {}).get("spec")
                if not tmpl:
                    continue
                for c in tmpl["containers"]:
                    args = [re.sub(r"\$\((\w+)\)", lambda m: K8S_VARS[m.group(1)], a) for a in c["args"]]
                    dry_run(args, f"overlays/{name} {d['kind']} {d['metadata']['name']}")

    def test_trainer_ranks_come_from_the_indexed_jobs_completion_index(self):
        for name, docs in self.overlays().items():
            job = by_kind(docs, "Job", "ssd-trainer")
            spec = job["spec"]
            self.assertEqual(spec["completionMode"], "Indexed", name)
            self.assertEqual(spec["completions"], spec["parallelism"], f"{name}: every rank runs at once")
            pod = spec["template"]["spec"]
            c = pod["containers"][0]
            self.assertEqual(flag(c["args"], "--rank-hint"), "$(JOB_COMPLETION_INDEX)", name)
            env = {e["name"]: e for e in c["env"]}
            self.assertEqual(env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"],
                             "metadata.annotations['batch.kubernetes.io/job-completion-index']", name)
            # Rank 0 hosts the rendezvous on the port the pod and the headless
            # Service expose; pods get stable names through the Service.
            port = int(flag(c["args"], "--rendezvous-port"))
            self.assertIn(port, [p["containerPort"] for p in c["ports"] if p["name"] == "rendezvous"], name)
            svc = by_kind(docs, "Service", "ssd-trainer")
            self.assertEqual(svc["spec"]["clusterIP"], "None", name)
            self.assertEqual(pod["subdomain"], "ssd-trainer", name)
            self.assertEqual([p["port"] for p in svc["spec"]["ports"]], [port], name)
            self.assertEqual(svc["spec"]["selector"], job["spec"]["template"]["metadata"]["labels"], name)

    def test_workers_reach_the_coordinators_service_and_probes_hit_healthz_and_livez(self):
        for name, docs in self.overlays().items():
            svc = by_kind(docs, "Service", "ssd-coordinator")
            grpc = [p["port"] for p in svc["spec"]["ports"] if p["name"] == "grpc"][0]
            coord = by_kind(docs, "StatefulSet", "ssd-coordinator")
            self.assertEqual(svc["spec"]["selector"], coord["spec"]["template"]["metadata"]["labels"], name)
            listen = flag(coord["spec"]["template"]["spec"]["containers"][0]["args"], "--listen")
            self.assertEqual(int(listen.rsplit(":", 1)[1]), grpc, f"{name}: the Service targets the listen port")
            for kind, wname in (("Deployment", "ssd-sampler"), ("Job", "ssd-trainer")):
                c = by_kind(docs, kind, wname)["spec"]["template"]["spec"]["containers"][0]
                self.assertEqual(flag(c["args"], "--coordinator"), f"ssd-coordinator:{grpc}", f"{name} {wname}")
            for d in docs:
                tmpl = d.get("spec", {}).get("template", {}).get("spec")
                if not tmpl:
                    continue
                for c in tmpl["containers"]:
                    where = f"{name} {d['metadata']['name']}"
                    metrics = int(flag(c["args"], "--metrics-port"))
                    self.assertIn(metrics, [p["containerPort"] for p in c["ports"] if p["name"] == "metrics"], where)
                    self.assertEqual(flag(c["args"], "--metrics-host"), "0.0.0.0", f"{where}: the kubelet probes the pod IP")
                    # Ready while /healthz says so; restarted only when /livez stops answering.
                    self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/healthz", "port": "metrics"}, where)
                    self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/livez", "port": "metrics"}, where)

    def test_the_token_and_certificates_come_from_the_secret_and_state_from_a_claim(self):
        for name, docs in self.overlays().items():
            for d in docs:
                tmpl = d.get("spec", {}).get("template", {}).get("spec")
                if not tmpl:
                    continue
                where = f"{name} {d['metadata']['name']}"
                vols = {v["name"]: v for v in tmpl["volumes"]}
                c = tmpl["containers"][0]
                certs = flag(c["args"], "--certs")
                mount = [m for m in c["volumeMounts"] if m["mountPath"] == certs]
                self.assertEqual(len(mount), 1, f"{where}: --certs {certs} is not mounted")
                self.assertTrue(mount[0].get("readOnly"), where)
                self.assertEqual(vols[mount[0]["name"]]["secret"]["secretName"], "ssd-cluster", where)
                self.assertTrue(tmpl["securityContext"]["runAsNonRoot"], where)
            coord = by_kind(docs, "StatefulSet", "ssd-coordinator")
            self.assertEqual(coord["spec"]["replicas"], 1, f"{name}: one writer of the state")
            claims = [t["metadata"]["name"] for t in coord["spec"]["volumeClaimTemplates"]]
            c = coord["spec"]["template"]["spec"]["containers"][0]
            data = flag(c["args"], "--data-dir")
            mounted = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
            self.assertTrue(any(data.startswith(mounted[cl]) for cl in claims if cl in mounted),
                            f"{name}: --data-dir {data} is not on a PersistentVolumeClaim")

    def test_resources_gpus_and_nccl_per_overlay(self):
        docs = self.overlays()
        for name, rendered in docs.items():
            for kind, wname in (("StatefulSet", "ssd-coordinator"), ("Deployment", "ssd-sampler"),
                                ("Job", "ssd-trainer")):
                c = by_kind(rendered, kind, wname)["spec"]["template"]["spec"]["containers"][0]
                for part in ("requests", "limits"):
                    self.assertIn("cpu", c["resources"][part], f"{name} {wname}")
                    self.assertIn("memory", c["resources"][part], f"{name} {wname}")
                gpus = c["resources"]["limits"].get("nvidia.com/gpu")
                device = flag(c["args"], "--device")
                if wname == "ssd-coordinator":
                    self.assertIsNone(gpus, f"{name}: the coordinator needs no GPU")
                elif name.startswith("gpu"):
                    self.assertEqual(gpus, 1, f"{name} {wname}")
                    self.assertEqual(c["resources"]["requests"].get("nvidia.com/gpu"), 1, f"{name} {wname}")
                    self.assertEqual(device, "cuda", f"{name} {wname}")
                else:
                    self.assertIsNone(gpus, f"cpu {wname}")
                    self.assertEqual(device, "cpu", f"cpu {wname}")
        trainer = by_kind(docs["gpu"], "Job", "ssd-trainer")["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in trainer["containers"][0]["env"]}
        self.assertIn("NCCL_SOCKET_IFNAME", env)
        shm = [v for v in trainer["volumes"] if v.get("emptyDir", {}).get("medium") == "Memory"]
        self.assertEqual(len(shm), 1, "NCCL gets a memory-backed /dev/shm")
        self.assertIn({"name": shm[0]["name"], "mountPath": "/dev/shm"}, trainer["containers"][0]["volumeMounts"])
        self.assertEqual(by_kind(docs["gpu"], "Deployment", "ssd-sampler")["spec"]["template"]["spec"]
                         ["containers"][0]["image"], "ssd:cuda")

    def test_the_vllm_overlay_runs_vllm_as_each_samplers_managed_backend(self):
        docs = self.overlays()
        sampler = by_kind(docs["gpu-vllm"], "Deployment", "ssd-sampler")["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(sampler["image"], "ssd:vllm", "the image of deploy/Dockerfile.vllm")
        self.assertEqual(flag(sampler["args"], "--backend"), "openai")
        command = flag(sampler["args"], "--backend-command")
        self.assertTrue(command.startswith("vllm serve {model} "), command)
        for part in ("--port {port}", "--seed 0", "--generation-config vllm", "--max-model-len"):
            self.assertIn(part, command)
        # Everything else is the gpu overlay's.
        for kind, wname in (("StatefulSet", "ssd-coordinator"), ("Job", "ssd-trainer")):
            self.assertEqual(by_kind(docs["gpu-vllm"], kind, wname), by_kind(docs["gpu"], kind, wname), wname)


@needs(shutil.which("docker-compose"), "no docker-compose: the compose files were not validated")
class ComposeTest(unittest.TestCase):
    def config(self, *files, env=None):
        e = dict(os.environ)
        e.update(env or {})
        cmd = ["docker-compose", "-p", "ssdcheck"]
        for f in files:
            cmd += ["-f", os.path.join(DEPLOY, f)]
        r = subprocess.run(cmd + ["config"], capture_output=True, text=True, timeout=60, env=e)
        if r.returncode != 0:
            raise AssertionError(f"docker-compose config {' '.join(files)}: {r.stderr}")
        return yaml.safe_load(r.stdout)

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.env = {"SSD_CERTS_DIR": self.tmp, "SSD_SHARED_DIR": self.tmp, "SSD_COORDINATOR_PORT": "17070",
                    "SSD_METRICS_BASE": "19090", "SSD_TRAINER0_METRICS_PORT": "19091",
                    "SSD_TRAINER1_METRICS_PORT": "19092"}

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_service_graph_healthchecks_secrets_and_volumes(self):
        c = self.config("docker-compose.yml", env=self.env)
        services = c["services"]
        self.assertEqual(set(services), {"coordinator", "sampler", "trainer-0", "trainer-1"})
        for name, s in services.items():
            self.assertEqual(s["restart"], "unless-stopped", name)
            self.assertEqual(sorted(x["source"] for x in s["secrets"]), ["ca.pem", "server.key", "server.pem", "token"])
            self.assertEqual(s["environment"]["SSD_CERTS"], "/run/secrets", name)
            if name != "coordinator":
                self.assertEqual(s["depends_on"], {"coordinator": {"condition": "service_healthy"}}, name)
                self.assertEqual(flag(s["command"], "--coordinator"), "coordinator:7070", name)
                self.assertEqual(flag(s["command"], "--tls-server-name"), "coordinator", name)
        self.assertIn("coordinator-data:/var/lib/ssd:rw", services["coordinator"]["volumes"])
        self.assertTrue(flag(services["coordinator"]["command"], "--data-dir").startswith("/var/lib/ssd/"))
        self.assertIn("coordinator-data", c["volumes"])
        self.assertEqual([flag(services[t]["command"], "--rank-hint") for t in ("trainer-0", "trainer-1")], ["0", "1"])
        self.assertTrue(services["sampler"].get("privileged"), "bubblewrap needs namespaces and a fresh /proc")
        for name in ("coordinator", "trainer-0", "trainer-1"):
            self.assertFalse(services[name].get("privileged", False), f"{name} needs no privilege")
        # The image's health check probes the port ssd.env gives every daemon.
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            dockerfile = f.read()
        self.assertRegex(dockerfile, r"HEALTHCHECK[^\n]*\n\s+CMD curl -fsS \"http://127\.0\.0\.1:\$\{SSD_METRICS_PORT\}/healthz\"")
        self.assertEqual(services["coordinator"]["environment"]["SSD_METRICS_PORT"], "9090")

    def test_the_publish_override_puts_the_coordinators_ports_on_the_hosts_loopback_only(self):
        c = self.config("docker-compose.yml", "docker-compose.publish.yml", env=self.env)
        # docker-compose renders a port with a host address in the short form.
        ports = [p.split(":") if isinstance(p, str) else [p.get("host_ip"), p["published"], p["target"]]
                 for p in c["services"]["coordinator"]["ports"]]
        self.assertEqual(sorted(int(str(p[-1]).split("/")[0]) for p in ports), [7070, 9090], ports)
        for p in ports:
            self.assertEqual(p[0], "127.0.0.1", p)
        for name in ("sampler", "trainer-0", "trainer-1"):
            self.assertNotIn("ports", c["services"][name], name)
        hostnet = self.config("docker-compose.yml", "docker-compose.hostnet.yml", env=self.env)
        for name, s in hostnet["services"].items():
            self.assertNotIn("ports", s, f"{name}: Docker refuses published ports on the host network")

    def test_every_command_line_is_one_ssd_accepts(self):
        for files in (("docker-compose.yml",), ("docker-compose.yml", "docker-compose.hostnet.yml")):
            c = self.config(*files, env=self.env)
            for name, s in c["services"].items():
                dry_run(s["command"], f"{' + '.join(files)}: service {name}")

    def test_the_vllm_override_gives_each_sampler_a_gpu_and_vllm_as_its_managed_backend(self):
        c = self.config("docker-compose.yml", "docker-compose.publish.yml", "docker-compose.vllm.yml", env=self.env)
        sampler = c["services"]["sampler"]
        dry_run(sampler["command"], "docker-compose.vllm.yml: service sampler")
        self.assertEqual(sampler["image"], "ssd:vllm")
        self.assertEqual(flag(sampler["command"], "--backend"), "openai")
        command = flag(sampler["command"], "--backend-command")
        self.assertIn("vllm serve {model} ", command)
        self.assertIn("--max-model-len 65536", command, "SSD_VLLM_MAX_MODEL_LEN's default")
        devices = sampler["deploy"]["resources"]["reservations"]["devices"]
        self.assertEqual([(d["driver"], d["count"], d["capabilities"]) for d in devices], [("nvidia", 1, ["gpu"])])
        self.assertTrue(sampler.get("privileged"), "the eval sandbox still runs in the sampler")
        other = self.config("docker-compose.yml", "docker-compose.vllm.yml",
                            env=dict(self.env, SSD_VLLM_MAX_MODEL_LEN="32768"))
        self.assertIn("--max-model-len 32768", flag(other["services"]["sampler"]["command"], "--backend-command"))

    def test_the_host_network_override_puts_everything_on_loopback(self):
        c = self.config("docker-compose.yml", "docker-compose.hostnet.yml", env=self.env)
        for name, s in c["services"].items():
            self.assertEqual(s["network_mode"], "host", name)
            for a in s["command"]:
                for host in re.findall(r"=(\d+\.\d+\.\d+\.\d+):", a):
                    self.assertEqual(host, "127.0.0.1", f"{name}: {a}")
        self.assertEqual(flag(c["services"]["coordinator"]["command"], "--listen"), "127.0.0.1:17070")


def dockerfile(name):
    """The instructions of deploy/NAME as (stage, keyword, text) with
    continuation lines joined and comment lines dropped, as Docker reads them."""
    out, stage, pending = [], None, ""
    with open(os.path.join(DEPLOY, name)) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = (pending + line).strip()
            pending = ""
            if not line:
                continue
            keyword, _, text = line.partition(" ")
            keyword = keyword.upper()
            if keyword == "FROM":
                m = re.search(r"\bAS\s+(\S+)", text, re.I)
                stage = m.group(1) if m else text
            out.append((stage, keyword, text.strip()))
    return out


def apt_packages(run_text):
    """The packages of every `apt-get install` in one RUN."""
    pkgs = []
    for part in re.split(r"&&|;", run_text):
        words = part.split()
        if words[:2] == ["apt-get", "install"]:
            pkgs += [w for w in words[2:] if not w.startswith("-")]
    return pkgs


def stage_packages(instrs, stage):
    return {p for st, kw, text in instrs if st == stage and kw == "RUN" for p in apt_packages(text)}


class DockerfileTest(unittest.TestCase):
    """deploy/Dockerfile.cuda cannot be built here (no NVIDIA repository, no
    PyPI); these checks hold it to the CPU image, which compose_test builds."""

    def setUp(self):
        self.cpu = dockerfile("Dockerfile")
        self.gpu = dockerfile("Dockerfile.cuda")

    def final(self, instrs, keyword):
        """KEYWORD's instructions in the last stage and the stages it is FROM."""
        parents = {st: text.split()[0] for st, kw, text in instrs if kw == "FROM"}
        chain, st = [], instrs[-1][0]
        while st in parents:
            chain.append(st)
            st = parents[st]
        return [text for st, kw, text in instrs if st in chain and kw == keyword]

    def test_the_gpu_image_runs_like_the_cpu_image(self):
        for kw in ("EXPOSE", "VOLUME", "USER", "WORKDIR", "HEALTHCHECK", "ENTRYPOINT", "CMD"):
            self.assertEqual(self.final(self.gpu, kw), self.final(self.cpu, kw), kw)
        env = " ".join(self.final(self.gpu, "ENV"))
        for var in ("SSD_METRICS_PORT=9090", "OMP_WAIT_POLICY=PASSIVE", "NVIDIA_VISIBLE_DEVICES=all"):
            self.assertIn(var, env)
        runs = self.final(self.gpu, "RUN")
        self.assertIn('["/usr/local/bin/ssd", "--help"]', runs, "the image build must load every library once")

    def test_the_gpu_image_has_the_cpu_images_packages_but_debians_torch(self):
        cpu_runtime = stage_packages(self.cpu, "runtime-base")
        self.assertIn("libtorch1.13", cpu_runtime)
        self.assertEqual(stage_packages(self.gpu, "runtime"), cpu_runtime - {"libtorch1.13", "libgloo0"})
        cpu_build = stage_packages(self.cpu, "build")
        gpu_build = stage_packages(self.gpu, "build")
        self.assertEqual(gpu_build - {"ca-certificates", "curl", "python3-venv", "cuda-toolkit-${CUDA_PKG_VERSION}"},
                         cpu_build - {"libtorch-dev", "libgloo-dev"})

    def test_every_cmake_option_the_images_pass_is_one_cmake_defines(self):
        with open(os.path.join(SRC, "CMakeLists.txt")) as f:
            options = set(re.findall(r"^option\((SSD_\w+)", f.read(), re.M))
        self.assertIn("SSD_WITH_NCCL", options)
        gpu_cmake = [t for _, kw, t in self.gpu if kw == "RUN" and "cmake -S" in t]
        self.assertEqual(len(gpu_cmake), 1)
        self.assertIn("-DSSD_WITH_NCCL=ON", gpu_cmake[0])
        for name in ("Dockerfile", "Dockerfile.cuda"):
            for _, kw, text in dockerfile(name):
                for opt in re.findall(r"-D(SSD_\w+)=", text):
                    self.assertIn(opt, options, f"deploy/{name} passes -D{opt}")

    def test_every_shell_run_step_parses(self):
        for name in ("Dockerfile", "Dockerfile.cuda", "Dockerfile.vllm"):
            for stage, kw, text in dockerfile(name):
                if kw != "RUN" or text.startswith("["):
                    continue
                r = subprocess.run(["sh", "-n", "-c", text], capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, f"deploy/{name}, stage {stage}: {r.stderr}\n{text}")

    def test_the_build_context_carries_every_top_level_input_of_the_build(self):
        with open(os.path.join(SRC, ".dockerignore")) as f:
            allowed = {l[1:].strip() for l in f if l.startswith("!")}
        with open(os.path.join(SRC, "CMakeLists.txt")) as f:
            top = f.read()
        used = set(re.findall(r"^\s*add_subdirectory\((\w+)", top, re.M))
        used |= {m.split("/")[0] for m in re.findall(r"^\s*include\(([\w/]+\.cmake)\)", top, re.M)}
        self.assertTrue(used)
        self.assertEqual(used - allowed, set(), ".dockerignore leaves out what CMakeLists.txt reads")


class SlurmTest(unittest.TestCase):
    script = os.path.join(DEPLOY, "slurm", "ssd.sbatch")

    def test_every_ssd_command_line_is_one_ssd_accepts(self):
        # Lines marked `# ssd-cmd` hold one ssd command line each (shell
        # variables given stand-in values by the script's --print-commands).
        r = subprocess.run(["bash", self.script, "--print-commands"], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, SSD_BIN=SSD))
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        self.assertGreaterEqual(len(lines), 4, r.stdout)
        for line in lines:
            dry_run(shlex.split(line)[1:], f"slurm/ssd.sbatch: {line}")
        managed = [shlex.split(l) for l in lines if "--backend-command" in l]
        self.assertEqual(len(managed), 1, "the sampler line with SSD_BACKEND_COMMAND")
        self.assertTrue(flag(managed[0], "--backend-command").startswith("vllm serve {model} "))
        r = subprocess.run(["bash", self.script, "--print-commands"], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, SSD_BIN=SSD, SSD_BACKEND_COMMAND="sglang {model} --port {port}"))
        samplers = [shlex.split(l) for l in r.stdout.splitlines() if " sampler " in l]
        self.assertEqual(flag(samplers[0], "--backend-command"), "sglang {model} --port {port}")


if __name__ == "__main__":
    if not os.access(SSD, os.X_OK):
        print(f"deploy_files_test: no ssd binary at {SSD}", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
