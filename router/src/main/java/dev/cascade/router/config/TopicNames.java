package dev.cascade.router.config;

import java.util.List;

/** The names of the topics the router reads and writes. */
public record TopicNames(
    String requests,
    String responses,
    String escalations,
    String outcomes,
    String feedback,
    String deadLetters,
    String policy,
    String rules) {

  /** Every topic, the compacted policy and rules topics last. */
  public List<String> all() {
    return List.of(requests, responses, escalations, outcomes, feedback, deadLetters, policy, rules);
  }
}
