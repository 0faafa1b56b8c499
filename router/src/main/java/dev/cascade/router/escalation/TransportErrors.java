package dev.cascade.router.escalation;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpTimeoutException;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * HTTP and KServe failures as gRPC status codes, so that the escalation client's retry (UNAVAILABLE),
 * breaker and refusal rules ({@link EscalationClient#isRefusal}) treat every protocol alike.
 */
public final class TransportErrors {

  private TransportErrors() {}

  /**
   * The code of an HTTP error status. Follows the usual HTTP-to-gRPC mapping, with the choices
   * the escalator needs: a 404 (wrong path or model name) is FAILED_PRECONDITION, a refusal no
   * retry mends; 429 is RESOURCE_EXHAUSTED (the server is alive and busy: parked, not broken);
   * 502, 503 and 504 are UNAVAILABLE (retried).
   */
  public static Status.Code codeOfHttp(int status) {
    return switch (status) {
      case 400, 413, 422 -> Status.Code.INVALID_ARGUMENT;
      case 401 -> Status.Code.UNAUTHENTICATED;
      case 403 -> Status.Code.PERMISSION_DENIED;
      case 404 -> Status.Code.FAILED_PRECONDITION;
      case 405, 501 -> Status.Code.UNIMPLEMENTED;
      case 408 -> Status.Code.DEADLINE_EXCEEDED;
      case 409 -> Status.Code.ABORTED;
      case 429 -> Status.Code.RESOURCE_EXHAUSTED;
      case 499 -> Status.Code.CANCELLED;
      case 502, 503, 504 -> Status.Code.UNAVAILABLE;
      default -> status >= 500 ? Status.Code.INTERNAL
          : status >= 400 ? Status.Code.INVALID_ARGUMENT : Status.Code.UNKNOWN;
    };
  }

  /** An HTTP error reply as a status exception, its body (cut short) in the description. */
  public static StatusRuntimeException ofHttp(int status, String body) {
    String text = body == null ? "" : body.strip();
    if (text.length() > 500) {
      text = text.substring(0, 500) + "...";
    }
    return Status.fromCode(codeOfHttp(status)).withDescription("HTTP " + status + (text.isEmpty() ? "" : ": " + text))
        .asRuntimeException();
  }

  /**
   * Why a connection failed, in words: Java's HTTP client reports a host name that does not resolve
   * as a bare ConnectException, its cause an UnresolvedAddressException.
   */
  static String cannotConnect(Throwable e) {
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (c instanceof java.nio.channels.UnresolvedAddressException || c instanceof java.net.UnknownHostException) {
        return "cannot connect: the host name does not resolve (" + c.getClass().getSimpleName()
            + (c.getMessage() == null ? "" : ": " + c.getMessage()) + ")";
      }
    }
    return "cannot connect: " + e;
  }

  /**
   * A failure to talk HTTP at all: a timeout is DEADLINE_EXCEEDED, a refused or broken connection
   * UNAVAILABLE (retried, as a gRPC channel's would be); a status exception passes through.
   */
  public static StatusRuntimeException ofIo(Throwable error) {
    Throwable e = unwrap(error);
    if (e instanceof StatusRuntimeException s) {
      return s;
    }
    if (e instanceof io.grpc.StatusException s) {
      return s.getStatus().asRuntimeException(s.getTrailers());
    }
    if (e instanceof HttpConnectTimeoutException || e instanceof ConnectException
        || e instanceof ClosedChannelException) {
      return Status.UNAVAILABLE.withDescription(cannotConnect(e)).withCause(e).asRuntimeException();
    }
    if (e instanceof HttpTimeoutException) {
      return Status.DEADLINE_EXCEEDED.withDescription(e.getMessage()).withCause(e).asRuntimeException();
    }
    if (e instanceof java.util.concurrent.CancellationException) {
      return Status.CANCELLED.withCause(e).asRuntimeException();
    }
    if (e instanceof IOException) {
      return Status.UNAVAILABLE.withDescription(e.toString()).withCause(e).asRuntimeException();
    }
    return Status.INTERNAL.withDescription(String.valueOf(e)).withCause(e).asRuntimeException();
  }

  /**
   * A reply the protocol does not allow (an HTTP 200 whose body is not JSON, or has no answer in
   * it): the target is not the server the router was told it is, or not at that path. A
   * FAILED_PRECONDITION, so a refusal ({@link EscalationClient#isRefusal}): counted and logged as
   * one, and not retried.
   */
  public static StatusRuntimeException protocolMismatch(String description) {
    return Status.FAILED_PRECONDITION.withDescription("protocol mismatch: " + description).asRuntimeException();
  }

  /**
   * A KServe server's failure as the escalator needs it: NOT_FOUND (no such model, or no such
   * version) is FAILED_PRECONDITION, a refusal until the configuration changes; every other code
   * is already gRPC's.
   */
  public static StatusRuntimeException ofKServe(Throwable error) {
    Throwable e = unwrap(error);
    Status status = Status.fromThrowable(e);
    if (status.getCode() == Status.Code.NOT_FOUND) {
      return Status.FAILED_PRECONDITION.withDescription("not found: " + status.getDescription()).withCause(e)
          .asRuntimeException();
    }
    return e instanceof StatusRuntimeException s ? s : status.withCause(e).asRuntimeException();
  }

  private static Throwable unwrap(Throwable error) {
    Throwable e = error;
    while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
      e = e.getCause();
    }
    return e;
  }
}
