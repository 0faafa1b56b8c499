package dev.cascade.router.api;

/** A request id is already waiting for its response on this front-door instance. */
final class DuplicateRequestException extends RuntimeException {

  DuplicateRequestException(String requestId) {
    super("request_id: '" + requestId + "' is already waiting for its response on this instance");
  }
}
