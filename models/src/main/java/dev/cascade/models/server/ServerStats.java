package dev.cascade.models.server;

/**
 * Counters of the large-model server since it started; an immutable snapshot.
 *
 * @param completed calls answered with a generation
 * @param cancelled calls whose generation stopped (or never started) because the call was
 *     cancelled or its deadline passed
 * @param rejected calls refused with RESOURCE_EXHAUSTED
 * @param invalid calls refused with INVALID_ARGUMENT
 * @param failed calls that failed inside the model (INTERNAL)
 * @param running generations running at the moment of the snapshot
 * @param queued generations waiting for a slot at the moment of the snapshot
 */
public record ServerStats(long completed, long cancelled, long rejected, long invalid, long failed, int running,
    int queued) {}
