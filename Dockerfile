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
# The debug info ships apart (about 170 MB with it, a fraction without): the image gets the
# stripped binary (with a .gnu_debuglink naming nakku.debug); the debug info itself
# is exported by `docker build --target debug-info -o out .`, for a debugger or a crash report.
RUN objcopy --only-keep-debug /usr/local/bin/nakku /usr/local/bin/nakku.debug \
    && objcopy --strip-debug --strip-unneeded --add-gnu-debuglink=/usr/local/bin/nakku.debug /usr/local/bin/nakku

FROM scratch AS debug-info
COPY --from=build /usr/local/bin/nakku.debug /nakku.debug

FROM debian:bookworm-slim AS runtime
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
# The image's own check uses the liveness probe (Kubernetes uses /livez and /readyz itself).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8080/livez || exit 1
ENTRYPOINT ["nakku"]
# Everything in one process on embedded SQLite; the compose file runs one service each.
CMD ["up"]
