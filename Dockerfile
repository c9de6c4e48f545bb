# One image for the four services: built in one builder stage (dependencies cached
# across builds), run from a slim Debian image as a non-root user.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnetcdf-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# container: the release optimisations without cross-crate LTO, incremental, so that
# a rebuild after a source change takes seconds; release: full LTO (compose passes
# WIS2_BUILD_PROFILE).
ARG PROFILE=container
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# The target folder is a cache kept across builds; the sources' own modification
# times may be older than what it holds, so touch them. Only the project's crates are
# rebuilt, the dependencies stay cached, and with the container profile the
# incremental cache recompiles only the functions that changed.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    case "$PROFILE" in container|release) ;; \
      *) echo "PROFILE (WIS2_BUILD_PROFILE) must be container or release, not '$PROFILE'" >&2; exit 2 ;; esac \
 && find crates -name '*.rs' -exec touch {} + \
 && cargo build --profile "$PROFILE" --locked \
      -p wis2-watch -p wis2-create -p wis2-validate -p wis2-publish -p wis2-console \
 && mkdir -p /out \
 && cp target/$PROFILE/wis2-watch target/$PROFILE/wis2-create \
       target/$PROFILE/wis2-validate target/$PROFILE/wis2-publish \
       target/$PROFILE/wis2-console /out/

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
