package dev.cascade.router.routing;

import dev.cascade.schemas.avro.CascadeRequest;

/** A validated request waiting for the small model, with when the router received it. */
public record PendingRequest(CascadeRequest request, long receivedAtMs) {}
