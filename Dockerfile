# ops-worker: the local server (cmd/ops-worker) as a container image.
#
# Built by `make image`, never by hand: the image is FROM scratch (no base
# image is pulled, no registry needed) and copies one prepared tree that
# the Makefile writes to bin/image/rootfs, the build context:
#
#   /usr/local/bin/ops-worker           static binary (CGO_ENABLED=0, -trimpath, -ldflags '-s -w')
#   /etc/ssl/certs/ca-certificates.crt  the build host's CA bundle (MySQL over TLS, WinRM over HTTPS)
#   /etc/passwd, /etc/group             one line each: nonroot, 65532:65532
#   /tmp                                empty, mode 1777 (see below)
#
# No shell, no package manager, no secret: MYSQL_DSN, LAB_MANAGER_TOKEN and
# the WinRM passwords come from the environment at run time (see
# deploy/compose.yaml). The host catalog is mounted read-only at
# /etc/ops-worker/hosts.json.
#
# The binary is built with -tags noembeddeddb: no embedded database (it
# would take the image from 11 MB to 66 MB), so the container records into
# MYSQL_DSN; without it, it runs with no database (db_kind "none": nothing
# recorded, the timeline answers "Database not configured").
#
# Read-only root filesystem: the server writes nothing to disk. (An image
# built with `make image IMAGE_TAGS=` keeps the embedded in-memory
# database for a trial; that one puts a unix socket into a private
# directory under /tmp, so read-only it needs a tmpfs there: podman
# --read-only mounts one by default, compose: `tmpfs: [/tmp]`.)
#
# Build by hand (what `make image` runs):
#   podman build --format docker -t ops-worker:dev -f Dockerfile bin/image
# (--format docker: the OCI format has no HEALTHCHECK, podman drops it.)
FROM scratch

COPY rootfs/ /

ENV OPS_BIND=0.0.0.0 \
    OPS_PORT=8081 \
    OPS_CONFIG=/etc/ops-worker/hosts.json

USER 65532:65532
EXPOSE 8081

# The binary probes itself: GET http://127.0.0.1:$OPS_PORT/health, exit 0
# on 200 (OPS_BIND other than 0.0.0.0/:: is probed at that address).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/ops-worker", "-healthcheck"]

# SIGTERM stops it gracefully: requests in flight get up to
# -shutdown-timeout (60 s) to finish. Give the container longer than that
# before SIGKILL (compose: stop_grace_period: 75s; docker stop -t 75).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ops-worker"]
CMD ["-log-format", "json"]
