# Switchboard in a container (docs/operations.md).
#   docker build -t switchboard .
#   docker run --rm -p 5060:5060/udp -p 5060:5060/tcp -p 127.0.0.1:8080:8080 \
#     -v switchboard-data:/var/lib/switchboard switchboard
# The image runs as the unprivileged user `switchboard`; SIP's port 5060 is allowed to it by
# net.ipv4.ip_unprivileged_port_start (Docker sets 0 for containers by default).

FROM node:20-bookworm-slim AS build
WORKDIR /src
# better-sqlite3 is a native addon: build tools for its install.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY scripts ./scripts
COPY web ./web
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
RUN groupadd --system switchboard && useradd --system --gid switchboard --home-dir /var/lib/switchboard --shell /usr/sbin/nologin switchboard \
  && mkdir -p /var/lib/switchboard /etc/switchboard && chown switchboard:switchboard /var/lib/switchboard
WORKDIR /opt/switchboard
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/console ./dist/console
COPY examples ./examples
COPY docs ./docs
USER switchboard
WORKDIR /var/lib/switchboard
EXPOSE 5060/udp 5060/tcp 8080/tcp
# The admin listener on all of the container's addresses (publish it to the host's loopback
# only, as above, or set admin.token); JSON logs for `docker logs`.
ENTRYPOINT ["node", "/opt/switchboard/dist/src/app/cli/main.js"]
CMD ["serve", "--listen", "udp:0.0.0.0:5060", "--listen", "tcp:0.0.0.0:5060", "--db", "/var/lib/switchboard/switchboard.db", "--admin", "0.0.0.0:8080", "--log-format", "json"]
