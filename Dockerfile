# s3bench container image: `docker build -t s3bench .` (docs/distributed.md).
# Multi-architecture (for Graviton nodes such as c7gn):
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/s3bench:TAG --push .

# Builder: the Rust version is Cargo.toml's rust-version; --locked builds
# exactly the dependency versions in Cargo.lock, as CI tests them.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin s3bench

# Runtime: CA certificates for TLS to S3, nothing else.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin s3bench \
 && mkdir /results && chown s3bench:s3bench /results
COPY --from=builder /src/target/release/s3bench /usr/local/bin/s3bench
# The shipped scenarios, so a first run needs no file of one's own:
#   docker run --rm s3bench run /usr/share/s3bench/scenarios/mixed.toml --embedded --duration 5s
COPY scenarios/ /usr/share/s3bench/scenarios/
USER 10001:10001
WORKDIR /results
ENTRYPOINT ["s3bench"]
CMD ["--help"]
