package dev.cascade.router.api;

/** The router dead-lettered a request instead of answering it. */
final class RefusedRequestException extends RuntimeException {

  private final String stage;
  private final String reason;

  RefusedRequestException(String stage, String reason) {
    super("the router refused the request at " + stage + ": " + reason);
    this.stage = stage;
    this.reason = reason;
  }

  /** Where the router refused it: {@code validate} for a bad request, a later stage for a failure. */
  String stage() {
    return stage;
  }

  /** The router's reason, naming the field where there is one. */
  String reason() {
    return reason;
  }
}
