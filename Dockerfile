# syntax=docker/dockerfile:1
#
# alicloud-recharge: build with `docker build -t alicloud-recharge .`
#
# Three stages on the same pinned base: `build` compiles TypeScript, `deps` installs only the
# production dependencies, `runtime` gets dist/ and that node_modules and nothing else (no
# sources, no compiler, no npm cache). Node.js 24 is the supported runtime (LTS; Node 20 reached
# end of life in April 2026). Pin by digest too (node:24.x-bookworm-slim@sha256:…) in the registry
# you build from.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# --ignore-scripts: no install script is needed to compile. The ones package.json allows are the
# embedded PostgreSQL binaries (a development dependency for `npm start` without DATABASE_URL:
# never in a container) and protobufjs (a version notice); @scarf/scarf and @parcel/watcher are
# denied anyway.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY config ./config
COPY libs ./libs
COPY migrations ./migrations
COPY src ./src
# The operators' console (/console): static files that `npm run build` copies into dist/console.
COPY console ./console
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev leaves out the embedded PostgreSQL (binaries and launcher package: DATABASE_URL is
# always set here), pino-pretty and the tooling. --omit=optional drops the only optional production
# packages in the lockfile: pg-cloudflare (Cloudflare Workers only) and @pkgjs/parseargs (a
# polyfill for old Node). Check `npm ls --omit=dev` for new optional packages when adding
# dependencies.
# --ignore-scripts: see the build stage; nothing at runtime depends on an install script.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the service user: the process cannot rewrite its own code.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# uid/gid 1000 is the `node` user of the official image. Numeric, so Kubernetes' runAsNonRoot can
# verify it without a runAsUser override.
USER 1000:1000
EXPOSE 3000
# For plain `docker run`; Kubernetes ignores it and uses the probes in config/k8s.
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node itself is PID 1, not npm: SIGTERM reaches the service's handler (readiness 503, drain,
# close, exit 0). Same command as `npm run start:prod`. Migrations alone:
# `node dist/src/migrate.js` (the Kubernetes Job in config/k8s/base/migration-job.yaml).
# --max-semi-space-size=16: V8's young generation as Node 20 sized it (2 × 16 MB). Node 24 lets it
# grow to 2 × 64 MB under load: about 90 MB more RSS at the peaks, most of what put the service at
# 280–410 MB in the bench (target ≤ 250 MB), for no measurable GC saving (docs/performance.md,
# footnote ²). It has to be on the command line: V8 sizes the heap before any JavaScript runs. The
# heap limit (--max-old-space-size) goes with the memory limit, in the deployment (config/k8s).
CMD ["node", "--max-semi-space-size=16", "dist/src/main.js"]
