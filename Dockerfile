# One image for the four services: built in one builder stage (dependencies cached
# across builds), run from a slim Debian image as a non-root user.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnetcdf-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# The target folder is a cache kept across builds; the sources' own modification
# times may be older than what it holds, so touch them: only the project's crates
# are rebuilt, the dependencies stay cached.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    find crates -name '*.rs' -exec touch {} + \
 && cargo build --release --locked \
      -p wis2-watch -p wis2-create -p wis2-validate -p wis2-publish \
 && mkdir -p /out \
 && cp target/release/wis2-watch target/release/wis2-create \
       target/release/wis2-validate target/release/wis2-publish /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnetcdf19 ca-certificates openssl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 wis2 \
 && useradd --uid 10001 --gid wis2 --no-create-home --shell /usr/sbin/nologin wis2 \
 && mkdir -p /data /state /output /deadletters /cache /tls \
 && chown wis2:wis2 /state /output /deadletters /cache /tls
COPY --from=build /out/ /usr/local/bin/
USER wis2
ENV WIS2_DATA_DIR=/data WIS2_STATE_DIR=/state WIS2_DEADLETTER_DIR=/deadletters \
    WIS2_CACHE_DIR=/cache WIS2_LOG_FORMAT=json
CMD ["wis2-watch", "--help"]
