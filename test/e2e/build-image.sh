#!/usr/bin/env bash
# Writes the e2e test image as a root file system tarball: the cached Debian base (build-rootfs.sh) plus the stand-in
# `ray` and `vllm` from test/e2e/standins, and the vLLM serve-flag catalog for the release the image pretends to be.
# With --without-ray the image has no `ray` command and no `ray` Python package, like the official vLLM images from
# 0.18.0 (vllm#36170): a deployment that still goes the Ray way fails there with `ray: command not found`.
#
#   build-image.sh [--without-ray] <vllm-version> <out.tar>
#
# The tarball is imported into each simulated host's daemon with `sim-hosts.sh load-image`.
set -euo pipefail

with_ray=true
if [[ ${1:-} == --without-ray ]]; then
  with_ray=false
  shift
fi
version=$1
out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
catalog=$repo/planner/catalog/vllm-serve-flags.generated.json

python3 - "$catalog" "$version" <<'EOF'
import json, sys
flags = json.load(open(sys.argv[1]))["serveFlags"]
if sys.argv[2] not in flags:
    sys.exit(f"build-image: no serve flags for vLLM {sys.argv[2]} in {sys.argv[1]} (have {sorted(flags)})")
EOF

base=$("$here/build-rootfs.sh")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

home=opt/rocm-vllm-standins
mkdir -p "$stage/$home" "$stage/usr/local/bin" "$stage/usr/lib/python3/dist-packages"
cp -r "$here/standins/bin" "$here/standins/python" "$stage/$home/"
find "$stage/$home" -name __pycache__ -prune -exec rm -rf {} +
links=(./usr/local/bin/vllm)
if $with_ray; then
  ln -s "/$home/bin/ray" "$stage/usr/local/bin/ray"
  links+=(./usr/local/bin/ray)
else
  rm -r "$stage/$home/bin/ray" "$stage/$home/python/ray"
fi
cp "$catalog" "$stage/$home/vllm-serve-flags.generated.json"
printf '%s\n' "$version" >"$stage/$home/vllm-version"
ln -s "/$home/bin/vllm" "$stage/usr/local/bin/vllm"
printf '/%s/python\n' "$home" >"$stage/usr/lib/python3/dist-packages/rocm_vllm_standins.pth"
chmod -R u=rwX,go=rX "$stage/opt" "$stage/usr"

# Append only paths the base lacks: an image layer tarball may not name a path twice.
cp "$base" "$out.partial"
(cd "$stage" && find "./$home" "${links[@]}" ./usr/lib/python3/dist-packages/rocm_vllm_standins.pth) |
  tar --numeric-owner --owner=0 --group=0 --no-recursion -rf "$out.partial" -C "$stage" -T -
mv "$out.partial" "$out"
printf '%s\n' "$out"
