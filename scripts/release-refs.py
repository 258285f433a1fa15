"""Finds the image references of an OVU install: used by scripts/release.sh and
scripts/verify-release.sh, so the release pins and the check reads the same set.

  release-refs.py crd-defaults CRD.yaml    -> "<json-pointer> <image>" per image default in the CRD
                                              (there must be none: release.sh refuses them)
  release-refs.py refs INSTALL.yaml        -> "<where> <image>" per image reference in a multi-doc YAML
  release-refs.py default-vars             -> the operator's default-image variables, one a line
  release-refs.py missing-vars INSTALL.yaml -> those the operator Deployment in INSTALL.yaml
                                              does not set (nothing: all set)

An image reference is a container's `image` (any `image` string in a workload), the value of an
operator default-image variable (OVU_DEFAULT_IMAGE_*: the images of every OvuSystem that names
none, so a release that pinned only the operator would still run unpinned
PostgreSQL/Redis/ULM/AAM/web), and every image default of a CRD (an `image` property's
`default`, and `image` fields inside an object's `default`).
"""

import sys

import yaml

# The variables operator/src/images.rs reads (its FALLBACKS; a test there checks this list).
DEFAULT_VARS = [
    "OVU_DEFAULT_IMAGE_ULM",
    "OVU_DEFAULT_IMAGE_AAM",
    "OVU_DEFAULT_IMAGE_WEB",
    "OVU_DEFAULT_IMAGE_POSTGRES",
    "OVU_DEFAULT_IMAGE_REDIS",
]


def walk(node, path):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, path + [str(key)])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, path + [str(i)])
    else:
        yield path, node


def is_image(path, value):
    if not isinstance(value, str) or len(path) < 2:
        return False
    # An `image` field (a container's, or one inside a CRD schema's `default` object) or the
    # `default` of a schema property named `image`. Descriptions and CEL rules are neither.
    if path[-1] == "image":
        return path[-2] != "properties"
    return path[-2:] == ["image", "default"] and "properties" in path[-3:-2]


def default_var_refs(node, path):
    """(path, value) of every env entry that sets an operator default image."""
    if isinstance(node, dict):
        if node.get("name") in DEFAULT_VARS and "value" in node:
            yield path + ["value"], node["value"]
        for key, value in node.items():
            yield from default_var_refs(value, path + [str(key)])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from default_var_refs(value, path + [str(i)])


def operator_env(docs):
    """The names the operator Deployment's container sets in its env."""
    for doc in docs:
        if doc.get("kind") == "Deployment" and doc.get("metadata", {}).get("name") == "ovu-operator":
            for c in doc["spec"]["template"]["spec"]["containers"]:
                if c.get("name") == "operator":
                    return {e["name"] for e in c.get("env", []) if "value" in e}
    sys.exit("no ovu-operator Deployment with an operator container")


def pointer(path):
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "default-vars":
        print("\n".join(DEFAULT_VARS))
        return
    if len(sys.argv) != 3 or sys.argv[1] not in ("crd-defaults", "refs", "missing-vars"):
        sys.exit(__doc__)
    mode, file = sys.argv[1], sys.argv[2]
    with open(file, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    if mode == "crd-defaults":
        if len(docs) != 1 or docs[0].get("kind") != "CustomResourceDefinition":
            sys.exit(f"{file}: expected exactly one CustomResourceDefinition")
        for path, value in walk(docs[0], []):
            if "default" in path and is_image(path, value):
                print(pointer(path), value)
        return
    if mode == "missing-vars":
        for var in sorted(set(DEFAULT_VARS) - operator_env(docs)):
            print(var)
        return
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for path, value in walk(doc, []):
            if is_image(path, value):
                print(f"{where}:{pointer(path)}", value)
        for path, value in default_var_refs(doc, []):
            print(f"{where}:{pointer(path)}", value)


main()
