package dev.cascade.router.policy;

/** What the router does with one small-model answer. */
public enum Decision {
  /** The small model's answer is returned. */
  ACCEPT,
  /** The score exceeded the threshold: the request goes to the large model. */
  DEFER,
  /**
   * The score was below the threshold, but the request goes to the large model anyway, so the
   * learner sees the large model's answer on confident requests too.
   */
  EXPLORE;

  /** Whether the request goes to the large model ({@link #DEFER} or {@link #EXPLORE}). */
  public boolean escalates() {
    return this != ACCEPT;
  }
}
