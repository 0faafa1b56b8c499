package dev.cascade.router.escalation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ReconnectNudgeTest {

  /** A real channel that counts the resets of its reconnect backoff. */
  private static final class CountingChannel extends ManagedChannel {
    final ManagedChannel real;
    final AtomicInteger resets = new AtomicInteger();

    CountingChannel(ManagedChannel real) {
      this.real = real;
    }

    @Override
    public void resetConnectBackoff() {
      resets.incrementAndGet();
      real.resetConnectBackoff();
    }

    @Override
    public ManagedChannel shutdown() {
      return real.shutdown();
    }

    @Override
    public boolean isShutdown() {
      return real.isShutdown();
    }

    @Override
    public boolean isTerminated() {
      return real.isTerminated();
    }

    @Override
    public ManagedChannel shutdownNow() {
      return real.shutdownNow();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
      return real.awaitTermination(timeout, unit);
    }

    @Override
    public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
      return real.newCall(method, options);
    }

    @Override
    public String authority() {
      return real.authority();
    }
  }

  private static int freePort() throws Exception {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  @Test
  void aCallThatFindsNoServerMakesTheChannelReconnectOnItsNextCall() throws Exception {
    CountingChannel channel = new CountingChannel(
        Grpc.newChannelBuilder("127.0.0.1:" + freePort(), InsecureChannelCredentials.create()).build());
    try (CascadeTransport transport = new CascadeTransport(channel, true)) {
      assertThatThrownBy(() -> transport.generate("r1", "cat", 4, Duration.ofSeconds(5)).get())
          .isInstanceOf(ExecutionException.class)
          .satisfies(e -> assertThat(Status.fromThrowable(e.getCause()).getCode()).isEqualTo(Status.Code.UNAVAILABLE));
      assertThat(channel.resets.get()).isEqualTo(1);
      // A second failure within the second does not reset it again.
      assertThatThrownBy(() -> transport.info(Duration.ofSeconds(5)).get()).isInstanceOf(ExecutionException.class);
      assertThat(channel.resets.get()).isEqualTo(1);
    }
  }

  @Test
  void onlyUnavailableResetsAndAtMostOnceASecond() throws Exception {
    CountingChannel channel = new CountingChannel(
        Grpc.newChannelBuilder("127.0.0.1:1", InsecureChannelCredentials.create()).build());
    try {
      ReconnectNudge nudge = new ReconnectNudge(channel);
      nudge.afterFailure(Status.INVALID_ARGUMENT.asRuntimeException());
      nudge.afterFailure(Status.DEADLINE_EXCEEDED.asRuntimeException());
      assertThat(channel.resets.get()).isZero();
      nudge.afterFailure(Status.UNAVAILABLE.asRuntimeException());
      nudge.afterFailure(Status.UNAVAILABLE.asRuntimeException());
      assertThat(channel.resets.get()).isEqualTo(1);
      Thread.sleep(TimeUnit.NANOSECONDS.toMillis(ReconnectNudge.MIN_INTERVAL_NANOS) + 50);
      nudge.afterFailure(Status.UNAVAILABLE.asRuntimeException());
      assertThat(channel.resets.get()).isEqualTo(2);
    } finally {
      channel.shutdownNow();
    }
  }
}
