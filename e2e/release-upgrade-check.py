"""One sample of e2e/run-release's upgrade: is the OvuSystem's status true to its pods?

  release-upgrade-check.py SYSTEM.json PODS.json WANT

WANT: the digest each component must end on, "ulm=sha256:... aam=... web=... postgres=...
redis=..." (release N+1's, or N's for a component the spec pins).

The upgrade changes no spec (the operator's default images move), so the generation alone
cannot tell a stale Ready from a true one: `status.images` says which images the status speaks
for. Exits 1 with the reason when the status is untrue: Ready for the current generation while
a live pod runs an image other than the one `status.images` names for its component (or no
`status.images` at all). Prints "done" when the status is Ready, names WANT's images and every
live pod runs them; otherwise "rolling <phase> ... <what runs>".
"""

import json
import sys

# app.kubernetes.io/component -> the status.images field its containers run.
IMAGE_OF = {"ulm": "ulm", "aam": "aam", "frontend": "web", "postgres": "postgres",
            "redis": "redis", "backup": "postgres", "restore": "postgres"}


def digest(ref):
    return ref.rsplit("@", 1)[-1] if "@" in ref else ""


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    system = json.load(open(sys.argv[1]))
    pods = json.load(open(sys.argv[2]))["items"]
    want = dict(kv.split("=", 1) for kv in sys.argv[3].split())
    status = system.get("status", {})
    current = status.get("observedGeneration") == system["metadata"]["generation"]
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
    said = {k: digest(v) for k, v in (status.get("images") or {}).items()}
    if current and ready and set(said) != set(IMAGE_OF.values()):
        sys.exit(f"status says Ready but status.images is {status.get('images')!r}")
    counts = {"want": 0, "other": 0}
    untrue, stale = [], []
    for pod in pods:
        # Finished pods (Jobs) and pods on their way out run nothing that serves.
        if pod["status"].get("phase") in ("Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp"):
            continue
        component = pod["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        field = IMAGE_OF.get(component)
        if field is None:
            continue
        for st in pod["status"].get("containerStatuses", []):
            runs = digest(st.get("imageID", ""))
            what = f'{pod["metadata"]["name"]}/{st["name"]} ({st.get("imageID") or st["image"]})'
            if runs == want[field]:
                counts["want"] += 1
            else:
                counts["other"] += 1
                stale.append(what)
            if runs != said.get(field):
                untrue.append(f"{what}, status.images.{field} {status.get('images', {}).get(field)}")
    if current and ready and untrue:
        print(f"status says Ready (phase {status.get('phase')}) for generation "
              f"{system['metadata']['generation']} while {'; '.join(untrue)}", file=sys.stderr)
        sys.exit(1)
    if current and ready and said == want and not stale and counts["want"] > 0:
        print("done")
    else:
        names = "new" if said == want else "old"
        print(f"rolling phase={status.get('phase')} current={current} ready={ready} "
              f"status.images={names} on-target={counts['want']} other={counts['other']}")


main()
