package dev.cascade.router.routing;

import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.Escalation;
import dev.cascade.schemas.avro.RoutingOutcome;

/** Where one request goes after the small model: answered now, or handed to the escalator. */
public sealed interface Routed {

  String requestId();

  /** The small model's answer was accepted: the response and its outcome record. */
  record Answered(CascadeResponse response, RoutingOutcome outcome) implements Routed {
    @Override
    public String requestId() {
      return response.getRequestId();
    }
  }

  /** Deferred or explored: everything the escalator needs, including the small answer as fallback. */
  record Escalated(Escalation escalation) implements Routed {
    @Override
    public String requestId() {
      return escalation.getRequestId();
    }
  }
}
