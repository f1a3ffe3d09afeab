#!/usr/bin/env bash
# Build the agent's container image without a container engine: a Debian trixie minbase rootfs
# with image/packages (debootstrap, cached in $CACHE/image), the app under /opt/toa, `toa` on
# PATH; then an OCI archive (umoci) of two layers: the base, the app.
# Out: $BUILD/image/toa-agent.oci.tar, $BUILD/image/rootfs (the same files unpacked, for the lab)
#      and $BUILD/image/config.json (the image config: entrypoint, cmd, env).
# Usage: image/build.sh     (after `npm run build` and `npm run build:native`; `make image` does both)
set -euo pipefail
# shellcheck source=../test/vm/lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/../test/vm/lib.sh"

out=$BUILD/image
app=/opt/toa
tag=$(node -p 'require(process.argv[1]).version' "$REPO/package.json")
mapfile -t pkgs < <(grep -v '^#' "$REPO/image/packages" | grep .)
# The base is rebuilt when its package list or its recipe (this script's BASE_REV) changes;
# `rm -rf $CACHE/image` takes the mirror's newer packages.
BASE_REV=1
key=$( (echo "$BASE_REV" && printf '%s\n' "${pkgs[@]}") | sha256sum | cut -c1-16)
base=$CACHE/image/base-$key

for f in dist/src/cli/main.js native/build/Release/toa_peer.node; do
  [[ -e $REPO/$f ]] || die "$f is missing: run \`make build\` first"
done
command -v umoci >/dev/null || die "umoci not found: apt-get install umoci (or run test/deps.sh)"
command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"

build_base() {
  "$REPO/test/vm/apt.sh" >/dev/null
  # The mirror and keyring apt.sh derived from the host's own sources, as test/vm/chroot.sh does.
  local mirror keyring
  mirror=$(awk '$(NF - 1) == "trixie" { print $(NF - 2) }' "$CACHE/apt/sources.list")
  keyring=$(<"$CACHE/apt/keyring.path")
  [[ -n $mirror ]] || die "no trixie source in $CACHE/apt/sources.list"
  log "debootstrap trixie minbase + ${pkgs[*]} from $mirror (once; cached in $base)"
  rm -rf "$base.new" && mkdir -p "$base.new" "$CACHE/image/debs"
  debootstrap --variant=minbase --keyring="$keyring" --cache-dir="$CACHE/image/debs" \
    --include="$(
      IFS=,
      echo "${pkgs[*]}"
    )" trixie "$base.new/rootfs" "$mirror" >&2
  # What a container image leaves to the runtime (/dev, /proc, /sys) or never needs at run time.
  (cd "$base.new/rootfs" && rm -rf dev/* proc/* sys/* run/* tmp/* var/cache/apt/*.bin var/cache/apt/archives/*.deb \
    var/lib/apt/lists/* var/log/*.log var/log/apt/*)
  umoci init --layout "$base.new/oci"
  umoci new --image "$base.new/oci:base"
  umoci insert --image "$base.new/oci:base" --history.created_by "debootstrap trixie minbase + ${pkgs[*]}" \
    "$base.new/rootfs" /
  rm -rf "$base" && mv "$base.new" "$base"
  touch "$base/.complete"
}

# Production node_modules, cached per lockfile: the app's own install scripts need its dev tools,
# and the optional pcap addon (the inspector's) has no use in the agent.
node_modules() {
  local lock dir
  lock=$(cat "$REPO/package.json" "$REPO/package-lock.json" | sha256sum | cut -c1-16)
  dir=$CACHE/image/node_modules-$lock
  if [[ ! -e $dir/.complete ]]; then
    log "npm ci --omit=dev (once per package-lock.json; cached in $dir)"
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$REPO/package.json" "$REPO/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >&2)
    touch "$dir/.complete"
  fi
  echo "$dir/node_modules"
}

stage_app() { # DIR: the app layer's files
  local dir=$1 prebuilt=$BUILD/prebuilt
  mkdir -p "$dir$app/native/build/Release" "$dir/usr/local/bin"
  cp -a "$REPO/package.json" "$REPO/bin" "$dir$app/"
  mkdir -p "$dir$app/dist" && cp -a "$REPO/dist/src" "$dir$app/dist/"
  cp -a "$(node_modules)" "$dir$app/"
  cp -a "$REPO/native/build/Release/toa_peer.node" "$dir$app/native/build/Release/"
  cp -a "$REPO/kmod" "$dir$app/" && rm -f "$dir$app"/kmod/{*.o,*.ko,*.mod,*.mod.c,.*.cmd,Module.symvers,modules.order}
  # Modules built ahead for known kernels: prebuilt/RELEASE/toa.ko (`make prebuilt`).
  if [[ -d $prebuilt ]]; then cp -a "$prebuilt" "$dir$app/prebuilt"; fi
  ln -s "$app/bin/toa.js" "$dir/usr/local/bin/toa"
  # The pod's mount points, present in the image so that a runtime over a read-only rootfs (the
  # lab's runner) has none to create; /lib/modules is /usr/lib/modules (merged /usr).
  mkdir -p "$dir"/{etc/toa,var/lib/toa,host/usr/lib,usr/lib/modules,usr/src}
}

t0=$EPOCHREALTIME
[[ -e $base/.complete ]] || build_base
rm -rf "$out.new" && mkdir -p "$out.new"
stage_app "$out.new/app"

# The image: the cached base layout (blobs are content-addressed: links, not copies) + one layer.
oci=$out.new/oci
mkdir -p "$oci" && cp -a "$base/oci/oci-layout" "$base/oci/index.json" "$oci/" && cp -al "$base/oci/blobs" "$oci/"
umoci insert --image "$oci:base" --tag "$tag" --history.created_by "toa $tag: $app, /usr/local/bin/toa" \
  "$out.new/app" /
env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TMPDIR=/tmp)
umoci config --image "$oci:$tag" --config.entrypoint toa --config.cmd agent --config.workingdir / \
  "${env[@]/#/--config.env=}" --config.label "org.opencontainers.image.version=$tag" \
  --config.label "org.opencontainers.image.title=toa-agent"
umoci rm --image "$oci:base"
umoci gc --layout "$oci"
(cd "$oci" && tar -cf "$out.new/toa-agent.oci.tar" --sort=name oci-layout index.json blobs)
# The image config as a runtime reads it (entrypoint, cmd, env), for the lab's pod runner.
# shellcheck disable=SC2016 # JavaScript, not shell
manifest=$(node -e '
  const fs = require("fs"), dir = process.argv[1];
  const blob = (d) => JSON.parse(fs.readFileSync(`${dir}/blobs/${d.replace(":", "/")}`, "utf8"));
  const m = blob(JSON.parse(fs.readFileSync(`${dir}/index.json`, "utf8")).manifests[0].digest);
  process.stdout.write(JSON.stringify(blob(m.config.digest).config, null, 2) + "\n")' "$oci")
echo "$manifest" >"$out.new/config.json"

# The lab's rootfs: the base's files as links (nothing writes them: the runner mounts it
# read-only), then the app's.
cp -al "$base/rootfs" "$out.new/rootfs"
cp -a "$out.new/app/." "$out.new/rootfs/"
rm -rf "$out.new/app" "$out" && mv "$out.new" "$out"

size=$(du -m "$out/toa-agent.oci.tar" | cut -f1)
printf 'image: %s (%s MiB, tag %s) and %s in %.1f s\n' "$out/toa-agent.oci.tar" "$size" "$tag" "$out/rootfs" \
  "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" >&2
