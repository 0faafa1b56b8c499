package dev.cascade.loadtest;

import dev.cascade.router.config.CascadeConfig;

/** Gives one benchmark phase its own application id and topics, so no phase reads another's records. */
final class IsolatedTopics {

  private IsolatedTopics() {}

  static CascadeConfig of(CascadeConfig c, String applicationId, String prefix) {
    return c.with(CascadeConfig.APPLICATION_ID, applicationId)
        .with(CascadeConfig.TOPIC_REQUESTS, prefix + ".requests")
        .with(CascadeConfig.TOPIC_RESPONSES, prefix + ".responses")
        .with(CascadeConfig.TOPIC_ESCALATIONS, prefix + ".escalations")
        .with(CascadeConfig.TOPIC_OUTCOMES, prefix + ".outcomes")
        .with(CascadeConfig.TOPIC_FEEDBACK, prefix + ".feedback")
        .with(CascadeConfig.TOPIC_DEAD_LETTERS, prefix + ".dead-letters")
        .with(CascadeConfig.TOPIC_POLICY, prefix + ".policy");
  }
}
