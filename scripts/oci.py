#!/usr/bin/env python3
"""`make oci`: the filter as an OCI image, without Docker.

    python3 scripts/oci.py --wasm target/wasm32-unknown-unknown/release/jwtgate_filter.wasm \
        --out target/oci --tag 0.1.0

Writes an OCI image layout (https://github.com/opencontainers/image-spec,
image-layout.md) to `<out>/jwtgate-filter/` and the same layout as a tar
(`<out>/jwtgate-filter.tar`, an `oci-archive`), then prints the manifest
digest to pin in a WasmPlugin's `url: oci://...@sha256:<digest>` and the
module's own sha256 (for an `https://` url's `sha256` field).

The image is the "compat" variant of the Wasm image spec that Istio's
`pkg/wasm/imagefetcher.go` reads (`extractOCIStandardImage`): an OCI image
manifest whose last layer is `application/vnd.oci.image.layer.v1.tar+gzip`
holding a file named `plugin.wasm`. That is what `docker build` of a
`FROM scratch / COPY jwtgate_filter.wasm ./plugin.wasm` Dockerfile gives,
and what Istio has read in every version with WasmPlugin. (The other variant,
the `application/vnd.module.wasm.content.layer.v1+wasm` artifact, must have
exactly two layers for Istio; nothing would be gained.)

Everything is deterministic (tar and gzip timestamps 0, fixed owner and
mode, JSON with sorted keys and no spaces), so the same .wasm gives the
same digest on every machine with the same zlib.

To publish, copy the layout as is (blobs and digests unchanged):
    oras cp --from-oci-layout target/oci/jwtgate-filter:0.1.0 REGISTRY/jwtgate/filter:0.1.0
    skopeo copy --preserve-digests oci:target/oci/jwtgate-filter:0.1.0 docker://REGISTRY/jwtgate/filter:0.1.0
Stdlib only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
PLUGIN_FILE = "plugin.wasm"  # the name Istio's extractWasmPluginBinary looks for
NAME = "jwtgate-filter"


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(wasm: bytes) -> bytes:
    """An uncompressed tar with one regular file, plugin.wasm, reproducibly."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(PLUGIN_FILE)
        info.size = len(wasm)
        info.mode = 0o444
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(wasm))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def build(wasm: bytes, tag: str, source: str = "") -> dict:
    """The blobs and documents of the image: {"blobs": {digest: bytes}, "manifest_digest", ...}."""
    if wasm[:4] != b"\0asm":
        raise ValueError("not a WebAssembly module (no \\0asm magic)")
    tar = layer_tar(wasm)
    layer = gzip_bytes(tar)
    config = canonical_json(
        {
            # The Rust target is wasm32-unknown-unknown: no OS, proxy-wasm ABI only.
            "architecture": "wasm",
            "os": "unknown",
            "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
            "config": {},
        }
    )
    annotations = {"org.opencontainers.image.title": "jwtgate proxy-wasm filter", "org.opencontainers.image.version": tag}
    if source:
        annotations["org.opencontainers.image.source"] = source
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": sha256(layer), "size": len(layer)}],
            "annotations": annotations,
        }
    )
    index = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": [
                {
                    "mediaType": MANIFEST,
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": tag},
                }
            ],
        }
    )
    return {
        "blobs": {sha256(b): b for b in (config, layer, manifest)},
        "index": index,
        "manifest_digest": sha256(manifest),
        "wasm_sha256": hashlib.sha256(wasm).hexdigest(),
    }


def write_layout(image: dict, out: Path) -> tuple[Path, Path]:
    """Writes `out/jwtgate-filter/` (a layout) and `out/jwtgate-filter.tar` (the same, as a tar)."""
    layout = out / NAME
    if layout.exists():
        shutil.rmtree(layout)
    (layout / "blobs" / "sha256").mkdir(parents=True)
    files = {"oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}), "index.json": image["index"]}
    for digest, data in image["blobs"].items():
        files["blobs/sha256/" + digest.split(":", 1)[1]] = data
    for rel, data in files.items():
        (layout / rel).write_bytes(data)
    archive = out / (NAME + ".tar")
    with tarfile.open(archive, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for rel in ["oci-layout", "index.json", "blobs", "blobs/sha256"] + sorted(r for r in files if r.startswith("blobs/")):
            info = tarfile.TarInfo(rel)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if rel in files:
                info.size = len(files[rel])
                info.mode = 0o444
                tar.addfile(info, io.BytesIO(files[rel]))
            else:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
    return layout, archive


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wasm", required=True, help="the built filter (make filter)")
    ap.add_argument("--out", default="target/oci", help="directory for the layout and the tar")
    ap.add_argument("--tag", default="latest", help="the tag recorded in index.json")
    ap.add_argument("--source", default="", help="org.opencontainers.image.source annotation")
    args = ap.parse_args(argv)
    wasm = Path(args.wasm).read_bytes()
    try:
        image = build(wasm, args.tag, args.source)
    except ValueError as e:
        print(f"oci: {args.wasm}: {e}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    layout, archive = write_layout(image, out)
    digest = image["manifest_digest"]
    print(f"oci: {layout}/ (OCI image layout, tag {args.tag}) and {archive}")
    print(f"manifest digest: {digest}")
    print(f"  WasmPlugin url:  oci://REGISTRY/jwtgate/filter@{digest}")
    print(f"module sha256:   {image['wasm_sha256']}  (the WasmPlugin sha256 field for an https:// url)")
    print(f"publish:         oras cp --from-oci-layout {layout}:{args.tag} REGISTRY/jwtgate/filter:{args.tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
