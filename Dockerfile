# Multi-stage build: dependencies compile in their own cached layer; the runtime image is
# slim Debian with libpq, running as an unprivileged user.
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependency layer: rebuilt only when the manifest or lock file changes.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > build.rs \
 && cargo build --release --locked \
 && rm -rf src build.rs

COPY build.rs ./
COPY config ./config
COPY migrations ./migrations
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin vaultline

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/vaultline --create-home vaultline
WORKDIR /var/lib/vaultline
COPY --from=build /src/target/release/vaultline /usr/local/bin/vaultline
COPY config ./config
USER vaultline
ENV VAULTLINE_PROFILE=production
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["vaultline"]
CMD ["serve"]
