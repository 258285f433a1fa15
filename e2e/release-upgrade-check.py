"""One sample of e2e/run-release's upgrade: is the OvuSystem's status true to its pods?

  release-upgrade-check.py SYSTEM.json PODS.json OLD_DIGESTS NEW_DIGESTS

OLD_DIGESTS/NEW_DIGESTS: space-separated manifest digests of release N and N+1. Prints
"done" (status Ready for the current generation, every pod on N+1), or "rolling <phase>
<what runs>"; exits 1 with the reason when the status is untrue: Ready for the current
generation while a live pod still runs a release-N image or an image of neither release.
"""

import json
import sys


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    system = json.load(open(sys.argv[1]))
    pods = json.load(open(sys.argv[2]))["items"]
    old, new = set(sys.argv[3].split()), set(sys.argv[4].split())
    status = system.get("status", {})
    current = status.get("observedGeneration") == system["metadata"]["generation"]
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
    counts = {"old": 0, "new": 0, "other": 0}
    stale = []
    for pod in pods:
        # Finished pods (Jobs) and pods on their way out run nothing that serves.
        if pod["status"].get("phase") in ("Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp"):
            continue
        for st in pod["status"].get("containerStatuses", []):
            digest = st.get("imageID", "").rsplit("@", 1)[-1]
            kind = "new" if digest in new else "old" if digest in old else "other"
            counts[kind] += 1
            if kind != "new":
                stale.append(f'{pod["metadata"]["name"]}/{st["name"]} ({kind}: {st.get("imageID") or st["image"]})')
    if current and ready and stale:
        print(f"status says Ready (phase {status.get('phase')}) for generation "
              f"{system['metadata']['generation']} while {', '.join(stale)} run", file=sys.stderr)
        sys.exit(1)
    if current and ready and counts["new"] > 0:
        print("done")
    else:
        print(f"rolling phase={status.get('phase')} current={current} ready={ready} "
              f"old={counts['old']} new={counts['new']} other={counts['other']}")


main()
