#!/usr/bin/env bash
# Creates the router's topics on a Kafka cluster with Kafka's kafka-topics.sh.
# Usage: deploy/topics.sh BOOTSTRAP_SERVERS [PARTITIONS] [REPLICATION_FACTOR]
# A secured cluster (SSL, SASL): KAFKA_COMMAND_CONFIG=FILE, the client properties kafka-topics.sh
# takes as --command-config (security.protocol, sasl.*, ssl.*: the router's kafka.* keys unprefixed).
set -euo pipefail
bootstrap="${1:?usage: $0 BOOTSTRAP_SERVERS [PARTITIONS] [REPLICATION_FACTOR]}"
partitions="${2:-4}"
replication="${3:-3}"
topics_cmd="${KAFKA_TOPICS:-kafka-topics.sh}"
client=()
if [[ -n "${KAFKA_COMMAND_CONFIG:-}" ]]; then
  client=(--command-config "$KAFKA_COMMAND_CONFIG")
fi
for t in cascade.requests cascade.responses cascade.escalations cascade.outcomes cascade.feedback cascade.dead-letters; do
  "$topics_cmd" --bootstrap-server "$bootstrap" "${client[@]}" --create --if-not-exists --topic "$t" \
    --partitions "$partitions" --replication-factor "$replication"
done
for t in cascade.policy cascade.rules; do
  "$topics_cmd" --bootstrap-server "$bootstrap" "${client[@]}" --create --if-not-exists --topic "$t" \
    --partitions 1 --replication-factor "$replication" --config cleanup.policy=compact
done
