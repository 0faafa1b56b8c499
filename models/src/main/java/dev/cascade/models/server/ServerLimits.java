package dev.cascade.models.server;

/**
 * How much work the large-model server takes on at once.
 *
 * @param maxConcurrent generations running at the same time (each is one {@code generate} call)
 * @param queueSize generations waiting for a slot; beyond running plus waiting, calls get
 *     {@code RESOURCE_EXHAUSTED}
 */
public record ServerLimits(int maxConcurrent, int queueSize) {

  public ServerLimits {
    if (maxConcurrent < 1) {
      throw new IllegalArgumentException("maxConcurrent: must be at least 1, got " + maxConcurrent);
    }
    if (queueSize < 0) {
      throw new IllegalArgumentException("queueSize: must be at least 0, got " + queueSize);
    }
  }

  /**
   * Sixteen generations at a time, sixty-four waiting. Running generations share forward passes
   * (the generator batches them continuously), so more of them cost less than one each.
   */
  public static ServerLimits defaults() {
    return new ServerLimits(16, 64);
  }
}
