# syntax=docker/dockerfile:1.7
#
# MinIO built from source at the release the native stack installs (scripts/provision.sh,
# MINIO_VERSION). minio/minio and minio/mc left Docker Hub in September 2026, MinIO is
# source-only since October 2025, and the last published image carries CVE-2025-62506,
# fixed only in later sources. Build context: the docker/ folder (nothing is copied from it).

ARG GO_VERSION=1.26.8
ARG DEBIAN_RELEASE=bookworm

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
ARG MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# Static binary (no cgo), the same `go install` the native stack runs.
RUN --mount=type=cache,id=dvt-go-mod,target=/go/pkg/mod \
    --mount=type=cache,id=dvt-go-build,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    go install -trimpath -ldflags "-s -w" "github.com/minio/minio@${MINIO_VERSION}" \
 && /go/bin/minio --version

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# curl for the healthcheck; ca-certificates for outbound TLS (KMS, notifications) if enabled.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 minio \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home minio \
 && mkdir /data \
 && chown minio:minio /data
COPY --from=build /go/bin/minio /usr/local/bin/minio
# An empty named volume mounted on /data takes this folder's owner on first use.
VOLUME ["/data"]
USER 10001:10001
ENV MINIO_UPDATE=off
EXPOSE 9000 9001
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9000/minio/health/ready"]
ENTRYPOINT ["minio"]
CMD ["server", "/data", "--address", ":9000", "--console-address", ":9001"]
