# One image for both apps: the entrypoint is the coder-k8s binary, --app picks the app.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin coder-k8s

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/coder-k8s /usr/local/bin/coder-k8s
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/coder-k8s"]
