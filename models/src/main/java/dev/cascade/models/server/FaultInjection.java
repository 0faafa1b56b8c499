package dev.cascade.models.server;

import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;

/**
 * <b>Test only.</b> Faults injected into the large-model server from a file it re-reads at most
 * every 200 ms, so a fault harness can slow it or make it flap while it runs: lines {@code
 * delay-ms=N} (each Generate call waits N ms before it starts) and {@code unavailable-fraction=F}
 * (that fraction of Generate calls fails at once with UNAVAILABLE). A missing or empty file means
 * no faults. Other methods (Info, health, reflection) are never touched.
 */
public final class FaultInjection implements ServerInterceptor {

  private static final long REREAD_MS = 200;

  private final Path file;
  private volatile Faults faults = Faults.NONE;
  private volatile long readAtMs;

  /** The faults in force. */
  record Faults(long delayMs, double unavailableFraction) {
    static final Faults NONE = new Faults(0, 0);
  }

  public FaultInjection(Path file) {
    this.file = file;
  }

  @Override
  public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
      ServerCallHandler<Q, A> next) {
    if (!call.getMethodDescriptor().getFullMethodName().endsWith("/Generate")) {
      return next.startCall(call, headers);
    }
    Faults now = current();
    if (now.unavailableFraction() > 0 && ThreadLocalRandom.current().nextDouble() < now.unavailableFraction()) {
      call.close(Status.UNAVAILABLE.withDescription("injected fault: flapping"), new Metadata());
      return new ServerCall.Listener<>() {};
    }
    ServerCall.Listener<Q> listener = next.startCall(call, headers);
    if (now.delayMs() <= 0) {
      return listener;
    }
    return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onHalfClose() {
        try {
          Thread.sleep(now.delayMs());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        super.onHalfClose();
      }
    };
  }

  Faults current() {
    long t = System.currentTimeMillis();
    if (t - readAtMs >= REREAD_MS) {
      readAtMs = t;
      faults = read(file);
    }
    return faults;
  }

  static Faults read(Path file) {
    long delay = 0;
    double fraction = 0;
    try {
      for (String line : Files.readAllLines(file)) {
        String[] kv = line.trim().split("=", 2);
        if (kv.length != 2) {
          continue;
        }
        try {
          switch (kv[0].trim()) {
            case "delay-ms" -> delay = Long.parseLong(kv[1].trim());
            case "unavailable-fraction" -> fraction = Double.parseDouble(kv[1].trim());
            default -> { }
          }
        } catch (NumberFormatException e) {
          // a half-written file: read again next time
        }
      }
    } catch (NoSuchFileException e) {
      return Faults.NONE;
    } catch (IOException e) {
      return Faults.NONE;
    }
    return new Faults(delay, fraction);
  }
}
