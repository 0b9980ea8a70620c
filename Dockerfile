# syntax=docker/dockerfile:1
# mongos-lite: a static binary on a distroless base, run as a non-root user.
#   docker build --build-arg VERSION="$(git describe --always --dirty)" -t mongos-lite .
#   docker run -p 27017:27017 mongos-lite serve --shard rs0=rs0/db1:27018,db2:27018,db3:27018
ARG GO_VERSION=1.26

# Build on the builder's own platform and cross-compile, so multi-arch builds need no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
# CGO off: the binary needs no libc, so the runtime image needs nothing but the binary.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/mongos-lite ./cmd/mongos-lite

# distroless static: CA certificates, /etc/passwd with nonroot (65532), no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mongos-lite /usr/local/bin/mongos-lite
USER nonroot:nonroot
# Inside a container loopback is unreachable from outside: listen on every interface.
ENV MONGOS_LITE_BIND=0.0.0.0
EXPOSE 27017
# No shell here, so the binary checks itself: hello on 127.0.0.1:$MONGOS_LITE_PORT (default 27017)
# must answer as a mongos. Set the port with MONGOS_LITE_PORT, not --port, so this follows it.
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/mongos-lite", "healthcheck", "--timeout", "3s"]
ENTRYPOINT ["/usr/local/bin/mongos-lite"]
CMD ["serve"]
