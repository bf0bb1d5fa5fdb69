# syntax=docker/dockerfile:1.7
#
# One image for each DVT+ Node service (api, planner, engine), chosen by SERVICE_PATH:
#
#   docker build -f docker/node-service.Dockerfile \
#     --build-arg SERVICE_PATH=packages/engine --build-arg SERVICE_PORT=8082 \
#     -t dvt-backend/engine:0.1.0-dev .
#
# Stages: base (Node + CA certificates) -> toolchain (+ pnpm) -> build (install, build, deploy)
# -> runtime (only the deployed folder). The ARG defaults equal .env.example, which
# docker-compose.yml passes in; packages/packaging/test checks that they agree, and replays
# every RUN of the build stage natively ("image-equivalent smoke").

# Debian slim, never Alpine: the Temporal worker's native core bridge needs glibc.
ARG NODE_VERSION=24.22.3
ARG DEBIAN_RELEASE=bookworm

FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS base
# The Temporal worker loads the system CA bundle even without TLS; slim images lack it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM base AS toolchain
# pnpm at exactly the version of `packageManager`; corepack is avoided because older
# corepack releases reject the current npm signing keys.
ARG PNPM_VERSION=10.34.9
RUN npm install --global --no-audit --no-fund "pnpm@${PNPM_VERSION}" \
 && test "$(pnpm --version)" = "${PNPM_VERSION}"

FROM toolchain AS build
ARG SERVICE_PATH
# Where `pnpm deploy` writes the self-contained service folder.
ARG DEPLOY_DIR=/deploy
WORKDIR /repo
COPY . .
RUN if [ -z "${SERVICE_PATH}" ] || [ ! -f "${SERVICE_PATH}/package.json" ]; then \
      echo "build arg SERVICE_PATH must name a workspace package, e.g. --build-arg SERVICE_PATH=packages/api (got '${SERVICE_PATH}')" >&2; \
      exit 1; \
    fi
RUN --mount=type=cache,id=dvt-pnpm-store,target=/root/.local/share/pnpm/store \
    pnpm install --frozen-lockfile --prefer-offline
# Builds the service and the workspace packages it needs at run time, in dependency order
# (--filter-prod leaves out what only devDependencies reach, such as @dvt/testkit). The
# engine's build script also prebuilds the Temporal workflow bundle into its dist/.
RUN pnpm --filter-prod "{./${SERVICE_PATH}}..." run build
# --legacy: the workspace does not set injectWorkspacePackages, and pnpm 10 refuses a
# non-legacy deploy without it. The folder holds package.json, what `files` lists (dist, and
# migrations for @dvt/store) and production dependencies only. The legacy deploy resolves
# versions again instead of reading pnpm-lock.yaml; the packaging tests check that what it
# installs is what the lockfile pins.
RUN --mount=type=cache,id=dvt-pnpm-store,target=/root/.local/share/pnpm/store \
    pnpm --filter "./${SERVICE_PATH}" deploy --legacy --prod "${DEPLOY_DIR}"

FROM base AS runtime
ARG DEPLOY_DIR=/deploy
ARG SERVICE_PORT=8080
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=${SERVICE_PORT}
WORKDIR /app
# Owned by root and not writable by the service user: the code is read-only at run time.
COPY --from=build ${DEPLOY_DIR} /app
COPY docker/node-healthcheck.mjs /usr/local/lib/dvt/healthcheck.mjs
# The numeric id of the image's `node` user, so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE ${SERVICE_PORT}
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=6 \
  CMD ["node", "/usr/local/lib/dvt/healthcheck.mjs"]
# node itself is PID 1's child (Compose `init: true` or tini); never npm or pnpm, which do
# not pass SIGTERM on.
CMD ["node", "dist/index.js"]
