"""`make oci` (scripts/oci.py): the filter as an OCI image Istio can pull.

Loaded by test_e2e.py's runner. Builds the image from the filter into a
temporary directory and checks it with this file's own reading of the OCI
image-spec (image-layout.md, manifest.md, config.md) and of Istio's
`pkg/wasm/imagefetcher.go` ("compat" variant: the last layer is
`application/vnd.oci.image.layer.v1.tar+gzip` and holds `plugin.wasm`):
every blob's name is the SHA-256 of its bytes, every descriptor's size and
media type are right, the layer unpacks to the filter byte for byte, the
tar holds the same layout, and the same module gives the same digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WASM = str(ROOT / "target/wasm32-unknown-unknown/release/jwtgate_filter.wasm")  # main() may replace it
SCRIPT = ROOT / "scripts" / "oci.py"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def run_oci(out: Path, wasm: str, tag: str = "0.1.0") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--wasm", wasm, "--out", str(out), "--tag", tag],
        capture_output=True,
        text=True,
        timeout=60,
    )


class OciImage(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = Path(cls.tmp.name)
        cls.proc = run_oci(cls.out, WASM)
        cls.layout = cls.out / "jwtgate-filter"

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def blob(self, digest: str) -> bytes:
        self.assertRegex(digest, DIGEST)
        data = (self.layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()
        self.assertEqual("sha256:" + hashlib.sha256(data).hexdigest(), digest, "blob content does not match its digest")
        return data

    def descriptor(self, desc: dict, media_type: str) -> bytes:
        self.assertEqual(desc["mediaType"], media_type)
        data = self.blob(desc["digest"])
        self.assertEqual(desc["size"], len(data))
        return data

    def manifest(self) -> dict:
        index = json.loads((self.layout / "index.json").read_text())
        self.assertEqual(index["schemaVersion"], 2)
        self.assertEqual(index["mediaType"], OCI_INDEX)
        [desc] = index["manifests"]
        self.assertEqual(desc["annotations"]["org.opencontainers.image.ref.name"], "0.1.0")
        return json.loads(self.descriptor(desc, OCI_MANIFEST)), desc["digest"]

    def test_the_script_succeeds_and_prints_the_manifest_digest(self) -> None:
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        _, digest = self.manifest()
        self.assertIn(f"manifest digest: {digest}", self.proc.stdout)
        self.assertIn(f"oci://REGISTRY/jwtgate/filter@{digest}", self.proc.stdout)
        module = hashlib.sha256(Path(WASM).read_bytes()).hexdigest()
        self.assertIn(f"module sha256:   {module}", self.proc.stdout)

    def test_layout_marker(self) -> None:
        self.assertEqual(json.loads((self.layout / "oci-layout").read_text()), {"imageLayoutVersion": "1.0.0"})

    def test_every_blob_is_named_by_its_digest_and_referenced(self) -> None:
        manifest, digest = self.manifest()
        referenced = {digest, manifest["config"]["digest"]} | {l["digest"] for l in manifest["layers"]}
        on_disk = set()
        for path in (self.layout / "blobs" / "sha256").iterdir():
            data = path.read_bytes()
            self.assertEqual(hashlib.sha256(data).hexdigest(), path.name)
            on_disk.add("sha256:" + path.name)
        self.assertEqual(on_disk, referenced)

    def test_manifest_is_istios_compat_variant_with_plugin_wasm_byte_identical(self) -> None:
        manifest, _ = self.manifest()
        self.assertEqual(manifest["schemaVersion"], 2)
        self.assertEqual(manifest["mediaType"], OCI_MANIFEST)
        layer = self.descriptor(manifest["layers"][-1], OCI_LAYER_GZIP)
        self.assertEqual(len(manifest["layers"]), 1)
        tar_bytes = gzip.decompress(layer)
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            [member] = tar.getmembers()
            self.assertEqual(member.name, "plugin.wasm")
            self.assertTrue(member.isreg())
            self.assertEqual(tar.extractfile(member).read(), Path(WASM).read_bytes())
        config = json.loads(self.descriptor(manifest["config"], OCI_CONFIG))
        # config.md: rootfs.diff_ids are the digests of the uncompressed layers.
        self.assertEqual(config["rootfs"], {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]})
        self.assertTrue(config["architecture"] and config["os"])

    def test_archive_holds_the_same_layout(self) -> None:
        with tarfile.open(self.out / "jwtgate-filter.tar") as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}
        on_disk = {str(p.relative_to(self.layout)): p.read_bytes() for p in self.layout.rglob("*") if p.is_file()}
        self.assertEqual(files, on_disk)

    def test_same_module_same_digest(self) -> None:
        with tempfile.TemporaryDirectory() as other:
            again = run_oci(Path(other), WASM)
            self.assertEqual(again.returncode, 0, again.stderr)
            a = (self.layout / "index.json").read_bytes()
            b = (Path(other) / "jwtgate-filter" / "index.json").read_bytes()
            self.assertEqual(a, b)

    def test_a_file_that_is_not_wasm_is_refused(self) -> None:
        with tempfile.TemporaryDirectory() as other:
            bogus = Path(other) / "x.wasm"
            bogus.write_bytes(b"not wasm")
            r = run_oci(Path(other) / "out", str(bogus))
            self.assertEqual(r.returncode, 1)
            self.assertIn("not a WebAssembly module", r.stderr)
            self.assertFalse((Path(other) / "out" / "jwtgate-filter").exists())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(
    shutil.which("skopeo") and shutil.which("docker-registry"),
    "optional: needs Debian's skopeo and docker-registry (apt-get install skopeo docker-registry)",
)
class RegistryRoundTrip(unittest.TestCase):
    """Optional: the layout pushed to a real registry (Debian's docker-registry,
    the CNCF distribution server, on 127.0.0.1) with skopeo, then read back
    over the registry API the way Istio's fetcher reads it (go-containerregistry
    `remote.Image`: manifest by reference, then the layer blob)."""

    def test_push_keeps_the_digest_and_the_module(self) -> None:
        import http.client
        import time

        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            built = run_oci(tmp / "oci", WASM)
            self.assertEqual(built.returncode, 0, built.stderr)
            index = json.loads((tmp / "oci" / "jwtgate-filter" / "index.json").read_text())
            digest = index["manifests"][0]["digest"]
            port = _free_port()
            (tmp / "registry.yml").write_text(
                "version: 0.1\nlog: {level: error}\n"
                f"storage: {{filesystem: {{rootdirectory: {tmp / 'store'}}}}}\n"
                f"http: {{addr: 127.0.0.1:{port}}}\n"
            )
            registry = subprocess.Popen(
                ["docker-registry", "serve", str(tmp / "registry.yml")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

            def get(path: str, accept: str = OCI_MANIFEST) -> tuple[int, dict, bytes]:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    conn.request("GET", path, headers={"accept": accept})
                    r = conn.getresponse()
                    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
                finally:
                    conn.close()

            try:
                deadline = time.monotonic() + 15
                while True:
                    try:
                        if get("/v2/")[0] == 200:
                            break
                    except OSError:
                        pass
                    self.assertLess(time.monotonic(), deadline, "registry did not start")
                    time.sleep(0.1)
                ref = f"127.0.0.1:{port}/jwtgate/filter"
                push = subprocess.run(
                    ["skopeo", "--insecure-policy", "copy", "--preserve-digests", "--dest-tls-verify=false",
                     f"oci:{tmp / 'oci' / 'jwtgate-filter'}:0.1.0", f"docker://{ref}:0.1.0"],
                    capture_output=True, text=True, timeout=120,
                )  # fmt: skip
                self.assertEqual(push.returncode, 0, push.stderr)
                for reference in ("0.1.0", digest):
                    status, headers, body = get(f"/v2/jwtgate/filter/manifests/{reference}")
                    self.assertEqual(status, 200, body[:200])
                    self.assertEqual("sha256:" + hashlib.sha256(body).hexdigest(), digest)
                    self.assertEqual(headers.get("docker-content-digest"), digest)
                manifest = json.loads(body)
                status, _, layer = get(f"/v2/jwtgate/filter/blobs/{manifest['layers'][-1]['digest']}", "*/*")
                self.assertEqual(status, 200)
                with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
                    self.assertEqual(tar.extractfile("plugin.wasm").read(), Path(WASM).read_bytes())
            finally:
                registry.terminate()
                registry.wait(timeout=10)
