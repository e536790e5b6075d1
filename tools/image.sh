#!/usr/bin/env bash
# Builds kvsgate's container image with podman and smoke-tests it against the
# local KVS emulator. `make image` runs `tools/image.sh all`.
#
#   tools/image.sh base    make docker.io/library/debian:bookworm-slim locally with
#                          debootstrap, unless podman already has it (no registry
#                          is reachable here); the root filesystem is cached as a
#                          tarball in $KVSGATE_IMAGE_CACHE
#   tools/image.sh build   podman build (the Dockerfile compiles and runs the unit tests)
#   tools/image.sh smoke   run the image read-only, as non-root, against the emulator
#   tools/image.sh all     base, build, smoke (default)
#
# Environment: IMAGE (default localhost/kvsgate:<project version>),
# KVSGATE_IMAGE_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/kvsgate).
# See docs/container.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

version=$(sed -n 's/^project(kvsgate VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || { echo "image: cannot read the project version from CMakeLists.txt" >&2; exit 1; }
IMAGE=${IMAGE:-localhost/kvsgate:$version}
BASE=docker.io/library/debian:bookworm-slim
cache=${KVSGATE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvsgate}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/tools/containers.conf}

log() { echo "image: $*" >&2; }

# --- base: debian:bookworm-slim made locally ---------------------------------------
# Slim like the official image: apt's docker-clean settings (no package caches in
# layers), no docs/man/locales installed by later apt-get calls, no apt lists.
slim_rootfs() {
    local root=$1
    cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
    printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' \
        > "$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
    cat > "$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    echo 'force-unsafe-io' > "$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    # bookworm, bookworm-updates and bookworm-security, as the official image lists
    # them, so builds get security fixes (the runtime carries OpenSSL and libcurl).
    rm -f "$root/etc/apt/sources.list"
    cat > "$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/{man,info,groff,lintian,linda}/* "$root"/var/lib/apt/lists/* \
           "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/debconf/*-old \
           "$root"/var/log/apt/* "$root"/var/log/*.log "$root"/tmp/* "$root"/root/.cache
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    : > "$root/etc/machine-id"
}

cmd_base() {
    if podman image exists "$BASE"; then
        log "$BASE present"
        return
    fi
    local tarball=$cache/debian-bookworm-slim.tar
    if [ ! -s "$tarball" ]; then
        command -v debootstrap >/dev/null || { log "debootstrap missing: tools/bootstrap image"; exit 1; }
        [ "$(id -u)" = 0 ] || { log "debootstrap needs root"; exit 1; }
        local src=/etc/apt/sources.list.d/debian.sources
        mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$src" 2>/dev/null || true)
        security_mirror=$(awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' "$src" 2>/dev/null || true)
        mirror=${mirror:-http://deb.debian.org/debian}
        security_mirror=${security_mirror:-http://deb.debian.org/debian-security}
        local root
        root=$(mktemp -d /var/tmp/kvsgate-rootfs.XXXXXX)
        log "debootstrap bookworm from $mirror (about 30 s)"
        debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
        slim_rootfs "$root"
        mkdir -p "$cache"
        tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$root"
    fi
    log "importing $tarball as $BASE"
    podman import --change 'CMD ["bash"]' "$tarball" "$BASE" >/dev/null
}

# --- build ---------------------------------------------------------------------------
cmd_build() {
    local revision created start
    revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
    created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    start=$(date +%s)
    log "building $IMAGE"
    podman build --pull=never --format docker \
        --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
        --build-arg "CREATED=$created" \
        -t "$IMAGE" .
    log "built $IMAGE in $(( $(date +%s) - start )) s, $(image_size)"
}

image_size() {
    podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MB", $1 / 1000000}'
}

# --- smoke ---------------------------------------------------------------------------
smoke_cleanup() {
    podman rm -f -t 2 "$smoke_name" >/dev/null 2>&1 || true
    if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; fi
    rm -rf "$smoke_work"
}

# podman logs harmless errors about systemd healthcheck timers (no systemd here).
quiet_systemd() { grep -v 'systemd' >&2 || true; }

free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# http METHOD URL [TOKEN]: prints the body, then the status on the last line.
http() {
    local auth=()
    [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
    curl -sS -X "$1" "${auth[@]}" -w '\n%{http_code}' "$2"
}

cmd_smoke() {
    [ -f tools/kvs-local/server.js ] || { log "tools/kvs-local/server.js missing: cannot smoke-test"; exit 1; }
    # The image's configuration.
    local cfg
    cfg=$(podman image inspect --format '{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{index .Config.Labels "org.opencontainers.image.version"}}' "$IMAGE")
    [ "$cfg" = "10001:10001 [\"/usr/local/bin/kvsgate\"] [\"serve\"] $version" ] \
        || { log "FAIL: image config is '$cfg'"; exit 1; }
    podman image inspect --format '{{json .Config.ExposedPorts}} {{json .Config.Healthcheck.Test}}' "$IMAGE" \
        | grep -q '"8080/tcp".*"CMD","bash"' || { log "FAIL: no EXPOSE 8080 or no HEALTHCHECK (build with --format docker)"; exit 1; }
    log "ok: user 10001:10001, entrypoint kvsgate serve, EXPOSE 8080, HEALTHCHECK, version label $version"
    local port emu_port secret out status token
    # globals: the EXIT trap runs after this function returns
    smoke_name=kvsgate-smoke-$$
    smoke_work=$(mktemp -d)
    emu_pid=""
    trap smoke_cleanup EXIT
    local name=$smoke_name work=$smoke_work

    node tools/kvs-local/server.js --port 0 --quiet > "$work/emulator.out" 2> "$work/emulator.err" &
    emu_pid=$!
    for _ in $(seq 50); do [ -s "$work/emulator.out" ] && break; sleep 0.1; done
    emu_port=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").split("\n")[0]).port)' "$work/emulator.out")
    log "emulator on port $emu_port"

    # The JWT secret reaches the container as a file, as the Helm chart mounts it.
    secret=$(openssl rand -hex 24)
    printf '%s' "$secret" > "$work/jwt-secret"
    chmod 0444 "$work/jwt-secret"
    port=$(free_port)
    podman run -d --name "$name" --network host --read-only --read-only-tmpfs=false \
        -v "$work/jwt-secret:/etc/kvsgate/secrets/jwt-hs256-secret:ro" \
        -e KVSGATE_LISTEN="127.0.0.1:$port" \
        -e KVSGATE_KVS_ENDPOINT="http://127.0.0.1:$emu_port" \
        -e KVSGATE_STS_ENDPOINT="http://127.0.0.1:$emu_port" \
        -e AWS_REGION=us-west-2 -e AWS_ACCESS_KEY_ID=AKIDLOCAL -e AWS_SECRET_ACCESS_KEY=SECRETLOCAL \
        -e AWS_EC2_METADATA_DISABLED=true \
        -e KVSGATE_JWT_HS256_SECRET_FILE=/etc/kvsgate/secrets/jwt-hs256-secret \
        -e KVSGATE_SHUTDOWN_DELAY_S=1 \
        "$IMAGE" >/dev/null 2> >(quiet_systemd)
    local base=http://127.0.0.1:$port ok=0
    for _ in $(seq 100); do
        if curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; then ok=1; break; fi
        sleep 0.1
    done
    if [ "$ok" != 1 ]; then podman logs "$name" >&2; log "FAIL: not ready within 10 s"; exit 1; fi

    fail() { podman logs "$name" >&2 || true; log "FAIL: $*"; exit 1; }
    out=$(http GET "$base/healthz"); [ "${out##*$'\n'}" = 200 ] || fail "/healthz: $out"
    out=$(http GET "$base/readyz"); [ "${out##*$'\n'}" = 200 ] || fail "/readyz: $out"
    log "ok: /healthz 200, /readyz 200"

    local uid gid
    uid=$(podman exec "$name" id -u); gid=$(podman exec "$name" id -g)
    [ "$uid" != 0 ] && [ "$gid" != 0 ] || fail "runs as uid $uid gid $gid"
    [ "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$name")" = true ] || fail "root filesystem not read-only"
    if podman exec "$name" sh -c ': > /probe' 2>/dev/null; then fail "root filesystem is writable"; fi
    podman healthcheck run "$name" >/dev/null || fail "HEALTHCHECK reports unhealthy"
    log "ok: uid $uid gid $gid, read-only root, HEALTHCHECK healthy"

    # A token from the image's own binary (it reads KVSGATE_JWT_HS256_SECRET_FILE).
    token=$(podman exec "$name" kvsgate token --sub smoke --manage 'cam-*' --viewer 'cam-*')
    out=$(http PUT "$base/v1/channels/cam-smoke" "$token")
    status=${out##*$'\n'}
    [ "$status" = 201 ] || [ "$status" = 200 ] || fail "PUT /v1/channels/cam-smoke: $out"
    local create_status=$status
    out=$(http GET "$base/v1/channels/cam-smoke/viewer" "$token")
    status=${out##*$'\n'}
    [ "$status" = 200 ] || fail "GET /v1/channels/cam-smoke/viewer: $out"
    printf '%s' "${out%$'\n'*}" | node -e '
        const b = JSON.parse(require("fs").readFileSync(0, "utf8"));
        if (typeof b.url !== "string" || !/^wss?:\/\/.*X-Amz-Signature=/.test(b.url)) process.exit(1);' \
        || fail "viewer info has no signed url: $out"
    log "ok: PUT /v1/channels/cam-smoke $create_status, viewer info 200 with a signed url"

    # SIGTERM: unready, then a clean exit within the shutdown delay + drain.
    podman stop -t 30 "$name" >/dev/null 2> >(quiet_systemd)
    local code
    code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
    [ "$code" = 0 ] || fail "exit code $code after SIGTERM"
    log "ok: exit 0 after SIGTERM"
    log "smoke test passed; $IMAGE is $(image_size)"
}

case "${1:-all}" in
    base) cmd_base ;;
    build) cmd_build ;;
    smoke) cmd_smoke ;;
    all) cmd_base; cmd_build; cmd_smoke ;;
    *) echo "usage: tools/image.sh [all|base|build|smoke]" >&2; exit 2 ;;
esac
