#!/usr/bin/env bash
# Builds the yungui image with buildah (Debian's `buildah` package; it also works rootless) from a
# static binary, then runs `yungui --version` from the image.
#
#   deploy/kubernetes/build-image.sh [TAG]     # default registry.example.cn/yungui/yungui:0.1.0
#
# Then push it to the cluster's registry: `buildah push TAG`.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-registry.example.cn/yungui/yungui:0.1.0}"
target=x86_64-unknown-linux-gnu

if ! command -v buildah >/dev/null; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends buildah
fi

# A static binary: glibc linked in (crt-static), so the image needs no libc.
CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked -p yungui --target "$target"
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
