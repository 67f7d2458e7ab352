# One image for the Lifeboat worker and API. glibc base: Temporal's worker core has no musl build.
# The worker needs pg_dump/pg_restore for every server major it may back up: PGDG clients 13–18.
FROM node:24-bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg zstd tar \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      postgresql-client-13 postgresql-client-14 postgresql-client-15 \
      postgresql-client-16 postgresql-client-17 postgresql-client-18 \
 && apt-get purge -y curl gnupg && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    LIFEBOAT_PG_BIN_DIRS=/usr/lib/postgresql/18/bin:/usr/lib/postgresql/17/bin:/usr/lib/postgresql/16/bin:/usr/lib/postgresql/15/bin:/usr/lib/postgresql/14/bin:/usr/lib/postgresql/13/bin \
    LIFEBOAT_WORK_DIR=/var/lib/lifeboat/work \
    LIFEBOAT_UPLOAD_DIR=/var/lib/lifeboat/uploads \
    LIFEBOAT_ADMIN_TOKEN_FILE=/var/lib/lifeboat/admin/admin-token \
    LIFEBOAT_STORAGE_URL=file:///var/lib/lifeboat/backups

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY domain ./domain
COPY catalog ./catalog
COPY storage ./storage
COPY postgres ./postgres
COPY archive ./archive
COPY services ./services
COPY activities ./activities
COPY workflows ./workflows
COPY worker ./worker
COPY api ./api
COPY cli ./cli
COPY config ./config
# Bundle the workflows at build time: the worker then skips webpack at start, and its memory stays lower.
RUN node worker/bundle.ts /app/workflow-bundle.js
ENV LIFEBOAT_WORKFLOW_BUNDLE=/app/workflow-bundle.js
# worker/memory.env, for the worker and the API alike (docs/worker-memory.md): two malloc arenas, a V8 heap
# sized for a backup worker. After the bundle step, which webpack needs a bigger heap for.
ENV MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=65536 \
    NODE_OPTIONS="--max-old-space-size=192 --max-semi-space-size=2"

# Volumes mounted on these directories start with their owner: the service user writes work files,
# backups, staged uploads and the first admin token (mode 0600, in a directory only it reads).
RUN useradd --system --uid 10001 --home-dir /var/lib/lifeboat lifeboat \
 && mkdir -p /var/lib/lifeboat/work /var/lib/lifeboat/backups /var/lib/lifeboat/uploads /var/lib/lifeboat/admin \
 && chmod 0700 /var/lib/lifeboat/uploads /var/lib/lifeboat/admin \
 && chown -R lifeboat:lifeboat /var/lib/lifeboat
USER lifeboat

# Node 24 runs the TypeScript sources directly (type stripping); no build step.
CMD ["node", "worker/main.ts"]
