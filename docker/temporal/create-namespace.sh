#!/bin/sh
# One-shot job `temporal-namespace` (image: temporalio/admin-tools, which has the `temporal`
# CLI). Waits until the frontend reports the cluster healthy, then registers NAMESPACE unless
# it exists. The Temporal server's healthcheck asks for this namespace, so `temporal` turns
# healthy only after this job has done its work; the services wait for both.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required, e.g. temporal:7233}"
NAMESPACE="${NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-72h}"
attempts="${HEALTH_ATTEMPTS:-90}"
delay="${HEALTH_DELAY_SECONDS:-2}"

echo "temporal-namespace: waiting for the cluster at ${TEMPORAL_ADDRESS}"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  attempts=$((attempts - 1))
  if [ "$attempts" -le 0 ]; then
    echo "temporal-namespace: the cluster at ${TEMPORAL_ADDRESS} did not turn healthy" >&2
    exit 1
  fi
  sleep "$delay"
done

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  echo "temporal-namespace: namespace ${NAMESPACE} already exists"
  exit 0
fi
# A create that loses a race with another creator fails with "already exists": describe again.
if ! temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
  --address "$TEMPORAL_ADDRESS"; then
  temporal operator namespace describe --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null
fi
echo "temporal-namespace: namespace ${NAMESPACE} is registered"
