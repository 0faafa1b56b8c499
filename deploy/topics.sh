#!/usr/bin/env bash
# Creates the router's topics on a Kafka cluster with Kafka's kafka-topics.sh.
# Usage: deploy/topics.sh BOOTSTRAP_SERVERS [PARTITIONS] [REPLICATION_FACTOR]
set -euo pipefail
bootstrap="${1:?usage: $0 BOOTSTRAP_SERVERS [PARTITIONS] [REPLICATION_FACTOR]}"
partitions="${2:-4}"
replication="${3:-3}"
topics_cmd="${KAFKA_TOPICS:-kafka-topics.sh}"
for t in cascade.requests cascade.responses cascade.escalations cascade.outcomes cascade.feedback cascade.dead-letters; do
  "$topics_cmd" --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$t" \
    --partitions "$partitions" --replication-factor "$replication"
done
for t in cascade.policy cascade.rules; do
  "$topics_cmd" --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$t" \
    --partitions 1 --replication-factor "$replication" --config cleanup.policy=compact
done
