# syntax=docker/dockerfile:1
# mirrorwatch as a container: built with cargo in the official Rust image, run from
# debian:bookworm-slim as an unprivileged user. How to run it: deploy/README.md, "Docker".
#
#   docker build -t mirrorwatch .
#   docker run -d --name mirrorwatch -p 9184:9184 \
#     -v "$PWD/config:/etc/mirrorwatch:ro" -v mirrorwatch-state:/var/lib/mirrorwatch \
#     mirrorwatch
#
# The mounted configuration must put its state in the volume:
#   state: {path: /var/lib/mirrorwatch/state.json}
# tests/ops_kit.rs checks this file's structure and runs its HEALTHCHECK command against a
# live daemon (no image is built in CI: there is no Docker engine there).

# At least the newest rust-version among the locked dependencies (tests/ops_kit.rs checks
# it); bookworm like the runtime image, so the binary finds the same glibc.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# Only what the build needs (.dockerignore keeps everything else out of the context).
COPY Cargo.toml Cargo.lock mirrors.yaml ./
COPY src ./src
COPY crates ./crates
# The registry and target/ are BuildKit caches, so the binary is copied out in this step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/mirrorwatch /out/mirrorwatch

FROM debian:bookworm-slim AS runtime
# ca-certificates: the roots mirrors' HTTPS certificates are verified against.
# A system user with a fixed uid (10001), so that volume ownership and Kubernetes'
# runAsNonRoot can rely on it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mirrorwatch \
    && useradd --system --uid 10001 --gid mirrorwatch --no-create-home \
       --home-dir /var/lib/mirrorwatch --shell /usr/sbin/nologin mirrorwatch \
    && install -d -o mirrorwatch -g mirrorwatch -m 0750 /var/lib/mirrorwatch \
    && install -d -m 0755 /etc/mirrorwatch
COPY --from=build /out/mirrorwatch /usr/local/bin/mirrorwatch

# The configuration comes from outside: mount a directory at /etc/mirrorwatch (a directory
# rather than the file, so that replacing the file on the host reaches the daemon's
# reload watcher). State lives in the volume.
ENV MIRRORWATCH_CONFIG=/etc/mirrorwatch/mirrors.yaml \
    RUST_LOG=info
VOLUME ["/var/lib/mirrorwatch"]
WORKDIR /var/lib/mirrorwatch
EXPOSE 9184
USER 10001:10001

# No curl or wget in the slim image, and mirrorwatch has no client subcommand: bash (an
# essential package, always there) speaks HTTP over /dev/tcp, with nothing to install.
# The port is the one CMD listens on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9184 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r -t 4 status <&3 && [[ $status == *' 200 '* ]]"]

ENTRYPOINT ["/usr/local/bin/mirrorwatch"]
# `--listen` overrides serve.listen (127.0.0.1 by default, unreachable from outside).
CMD ["serve", "--listen", "0.0.0.0:9184"]
