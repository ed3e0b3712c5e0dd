#!/usr/bin/env bash
# Builds the yungui image with buildah (Debian's `buildah` package; it also works rootless) from a
# static binary, then runs `yungui --version` from the image.
#
#   deploy/kubernetes/build-image.sh [--push] [TAG]   # default registry.example.cn/yungui/yungui:0.1.0
#
# --push pushes it (`buildah push`), prints the digest the registry stores it under
# (`digest: sha256:...`) and pins the production overlay to it: it writes the kustomize Component
# deploy/kubernetes/overlays/production/image/kustomization.yaml (`images:` with `newName` and
# `digest:`), which that overlay includes. Without --push, push it yourself and pin by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
push=false
if [ "${1:-}" = --push ]; then push=true; shift; fi
tag="${1:-registry.example.cn/yungui/yungui:0.1.0}"
target=x86_64-unknown-linux-gnu

if ! command -v buildah >/dev/null; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends buildah
fi

# A static binary: glibc linked in (crt-static), so the image needs no libc.
CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked -p yungui-cli --target "$target"
bin="target/$target/release/yungui"
if ldd "$bin" 2>&1 | grep -q '=>'; then
  echo "build-image.sh: $bin is dynamically linked" >&2
  exit 1
fi
"$bin" --version

rm -rf target/image
mkdir -p target/image
cp "$bin" target/image/yungui
# Symbols are half the binary; the image does not need them (binutils' strip, when installed).
if command -v strip >/dev/null; then strip target/image/yungui; fi
# The shipped policies, built and pre-initialised by the binary going into the image.
"$bin" build --policies policies -o target/image/yungui_plugin.wasm

buildah build --file deploy/kubernetes/Containerfile --tag "$tag" .

# The image runs: `yungui --version` from inside it. chroot isolation needs no OCI runtime and no
# cgroup controllers (crun refuses hybrid cgroups: "cgroups in hybrid mode not supported, drop all
# controllers from cgroupv2"); set BUILDAH_ISOLATION=oci to use crun or runc instead.
container=$(buildah from "$tag")
trap 'buildah rm "$container" >/dev/null' EXIT
buildah run --isolation "${BUILDAH_ISOLATION:-chroot}" "$container" -- /usr/bin/yungui --version
echo "build-image.sh: built $tag"

if $push; then
  buildah push --digestfile target/image/digest "$tag"
  digest=$(cat target/image/digest)
  case "$digest" in
    sha256:*) ;;
    *) echo "build-image.sh: buildah wrote no digest for $tag" >&2; exit 1 ;;
  esac
  echo "digest: $digest"
  # The repository without the tag (a registry's port stays: only a tag after the last `/` goes).
  case "${tag##*/}" in
    *:*) repository="${tag%:*}" ;;
    *) repository="$tag" ;;
  esac
  pin=deploy/kubernetes/overlays/production/image
  mkdir -p "$pin"
  cat > "$pin/kustomization.yaml" <<PIN
# Written by \`deploy/kubernetes/build-image.sh --push $tag\`: the image the production overlay runs,
# pinned by the digest the registry stores it under.
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
images:
  - name: registry.example.cn/yungui/yungui
    newName: $repository
    digest: $digest
PIN
  echo "build-image.sh: pinned $pin/kustomization.yaml to $repository@$digest"
fi
