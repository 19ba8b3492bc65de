# One image for both apps (and `coder-k8s certs`): the entrypoint is the coder-k8s binary,
# --app picks the app.
#
#   docker build -t coder-k8s-rs:0.1.0 .
#
# coder-k8s-rs:<crate version> is the name and tag deploy/ runs (deploy/base/image); see
# docs/getting-started.md for loading it into kind or pushing it to a registry.
# hack/build-image-binary.sh runs the build stage's cargo command without Docker;
# tests/deploy/image.rs keeps the two, and this file and the repository, in step.
#
# Static binary: the build stage targets x86_64-unknown-linux-musl (rustls + ring, no OpenSSL,
# no glibc), so the runtime stage is `scratch`-like distroless/static with nothing but the
# binary, CA roots and a nonroot user.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
# .dockerignore keeps target/ and .git out of the context.
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin coder-k8s \
 && cp target/x86_64-unknown-linux-musl/release/coder-k8s /coder-k8s

# distroless/static: no shell, no package manager, no libc; runs as uid 65532 (nonroot).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /coder-k8s /coder-k8s
USER 65532:65532
ENTRYPOINT ["/coder-k8s"]
