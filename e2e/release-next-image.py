"""Makes the "next release" of an image for e2e/run-release's upgrade test: the same layers
under a new image config (label org.opencontainers.image.version=VERSION), so its digest
differs and a rollout to it is real, without rebuilding anything.

  release-next-image.py IN.tar OUT.tar VERSION     # OCI archives as images/build writes them
"""

import hashlib
import io
import json
import sys
import tarfile


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst, version = sys.argv[1:]
    with tarfile.open(src) as tin:
        members = {m.name: m for m in tin.getmembers()}
        blob = lambda digest: tin.extractfile(members["blobs/sha256/" + digest.split(":", 1)[1]]).read()
        index = json.loads(tin.extractfile(members["index.json"]).read())
        if len(index["manifests"]) != 1:
            sys.exit(f"{src}: expected one image, found {len(index['manifests'])}")
        entry = index["manifests"][0]
        manifest = json.loads(blob(entry["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        config.setdefault("config", {}).setdefault("Labels", {})["org.opencontainers.image.version"] = version
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        manifest["config"]["digest"] = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        manifest["config"]["size"] = len(config_bytes)
        manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
        entry["digest"] = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        entry["size"] = len(manifest_bytes)
        ref = entry.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
        if ":" in ref.rsplit("/", 1)[-1]:
            entry["annotations"]["org.opencontainers.image.ref.name"] = ref.rsplit(":", 1)[0] + ":" + version
        with tarfile.open(dst, "w") as tout:

            def add(name, data):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tout.addfile(info, io.BytesIO(data))

            # The layers (and everything else) as they were; the new config and manifest added.
            for m in tin.getmembers():
                if m.name == "index.json":
                    continue
                tout.addfile(m, tin.extractfile(m) if m.isfile() else None)
            add("blobs/sha256/" + manifest["config"]["digest"].split(":", 1)[1], config_bytes)
            add("blobs/sha256/" + entry["digest"].split(":", 1)[1], manifest_bytes)
            add("index.json", json.dumps(index).encode())
    print(entry["digest"])


main()
