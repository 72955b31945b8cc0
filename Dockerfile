# syntax=docker/dockerfile:1
# Nakku: one image, every service (`nakku serve --service <name>`), the gateway, and the
# operator commands. Multi-stage: built with the full Rust toolchain, run on a slim Debian
# with the binary alone (about 40 MB). Not built in CI here (no Docker engine).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# librdkafka is compiled from source by the kafka feature (make, gcc: in the image); the
# kafka-tls feature links it to the system OpenSSL (libssl-dev: in the image) for Kafka
# over TLS and SASL/SCRAM. Everything else speaks TLS through rustls.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release -p nakku-cli --features kafka-tls && cp target/release/nakku /usr/local/bin/nakku

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/nakku --create-home nakku
COPY --from=build /usr/local/bin/nakku /usr/local/bin/nakku
USER nakku
WORKDIR /var/lib/nakku
ENV NAKKU_HOST=0.0.0.0 \
    NAKKU_DATA_DIR=/var/lib/nakku/data \
    NAKKU_LOG_FORMAT=json
EXPOSE 8080-8090
ENTRYPOINT ["nakku"]
# Everything in one process on embedded SQLite; the compose file runs one service each.
CMD ["up"]
