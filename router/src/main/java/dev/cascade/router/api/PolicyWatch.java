package dev.cascade.router.api;

import dev.cascade.proto.v1.Policy;
import io.grpc.stub.ServerCallStreamObserver;

/**
 * One {@code WatchPolicy} stream, sending with flow control: a policy is sent only while the
 * transport is ready for more; while it is not, only the latest policy is kept (an older one is
 * superseded, so it isn't worth sending) and it goes out when the stream is ready again.
 */
final class PolicyWatch {

  private final ServerCallStreamObserver<Policy> call;
  private Policy pending;
  private long lastSentVersion = -1;
  private boolean ended;
  private Runnable onEnd = () -> { };

  PolicyWatch(ServerCallStreamObserver<Policy> call) {
    this.call = call;
    call.setOnReadyHandler(this::drain);
    call.setOnCancelHandler(this::cancelled);
  }

  /** Runs {@code action} once when the stream ends (cancelled by the caller or completed here). */
  synchronized void onEnd(Runnable action) {
    if (ended) {
      action.run();
    } else {
      this.onEnd = action;
    }
  }

  /** Queues {@code policy} (replacing an unsent one) and sends it if the stream is ready. */
  void offer(Policy policy) {
    synchronized (this) {
      if (ended || policy.getVersion() <= lastSentVersion
          || pending != null && policy.getVersion() < pending.getVersion()) {
        return;
      }
      pending = policy;
    }
    drain();
  }

  private synchronized void drain() {
    if (ended || pending == null || !call.isReady()) {
      return;
    }
    Policy next = pending;
    pending = null;
    lastSentVersion = next.getVersion();
    call.onNext(next);
  }

  /** Completes the stream from the server side. */
  void complete() {
    Runnable action;
    synchronized (this) {
      if (ended) {
        return;
      }
      ended = true;
      action = onEnd;
      try {
        call.onCompleted();
      } catch (IllegalStateException e) {
        // Already closed by the transport; nothing more to send.
      }
    }
    action.run();
  }

  private void cancelled() {
    Runnable action;
    synchronized (this) {
      if (ended) {
        return;
      }
      ended = true;
      pending = null;
      action = onEnd;
    }
    action.run();
  }
}
