"""Finds the image references of an OVU install: used by scripts/release.sh and
scripts/verify-release.sh, so the release pins and the check reads the same set.

  release-refs.py crd-defaults CRD.yaml    -> "<json-pointer> <image>" per image default in the CRD
  release-refs.py refs INSTALL.yaml        -> "<where> <image>" per image reference in a multi-doc YAML

An image reference is a container's `image` (any `image` string in a workload) and every image
default of the OvuSystem CRD (an `image` property's `default`, and `image` fields inside an
object's `default`): the API server fills those into every OvuSystem that names no image, so a
release that pinned only the operator would still run unpinned PostgreSQL/Redis/ULM/AAM/web.
"""

import sys

import yaml


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


def pointer(path):
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("crd-defaults", "refs"):
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
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for path, value in walk(doc, []):
            if is_image(path, value):
                print(f"{where}:{pointer(path)}", value)


main()
