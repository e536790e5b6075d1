# kvsgate's container image. Build with `make image` (tools/image.sh: podman,
# a local debian:bookworm-slim, a smoke test); see docs/container.md.
#
# Stage 1 compiles a Release build and runs the unit tests (C unit tests, SigV4
# vectors, the banned-function lint; no Node.js). Stage 2 holds only the binary,
# the six runtime libraries and the CA store, and runs as uid/gid 10001. The
# service writes nothing to disk: run it with a read-only root filesystem.

ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates \
      libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libjansson-dev libjwt-dev libyaml-dev \
      libhiredis-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DKVSGATE_NODE_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && ctest --test-dir /build -L unit --output-on-failure -j"$(nproc)" \
 && install -D -m 0755 -s /build/kvsgate /out/kvsgate

FROM ${BASE}
# The runtime libraries kvsgate links (libmicrohttpd, libcurl with OpenSSL,
# OpenSSL 3, jansson, libjwt, libyaml for the policy file, hiredis for a shared Redis) and the CA
# store for AWS endpoints. No shell tools
# are added; bash from the base image serves the HEALTHCHECK below.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libcurl4 libssl3 libjansson4 libjwt0 libyaml-0-2 libhiredis0.14 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 kvsgate \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --no-log-init kvsgate
COPY --from=build /out/kvsgate /usr/local/bin/kvsgate
# Fails the build when a runtime library is missing.
RUN /usr/local/bin/kvsgate --version
# Build arguments last: they change on every build and would invalidate the
# cache of every RUN after them.
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=
LABEL org.opencontainers.image.title="kvsgate" \
      org.opencontainers.image.description="Signed Kinesis Video Streams WebRTC connection info (presigned WSS URL, ICE servers) for JWT-authenticated front ends; AWS credentials stay server-side" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
USER 10001:10001
EXPOSE 8080
# Docker and podman only (Kubernetes uses the chart's probes). GET /healthz over
# bash's /dev/tcp: no curl in the image. Plain HTTP only: with KVSGATE_TLS_* set,
# turn it off (--no-healthcheck) or rely on the orchestrator's probes.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "l=${KVSGATE_LISTEN:-0.0.0.0:8080}; h=${l%:*}; h=${h#[}; h=${h%]}; case $h in 0.0.0.0|''|::) h=127.0.0.1;; esac; exec 3<>/dev/tcp/$h/${l##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r -t 3 _ code _ <&3 && [ \"$code\" = 200 ]"]
ENTRYPOINT ["/usr/local/bin/kvsgate"]
CMD ["serve"]
