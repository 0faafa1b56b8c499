package dev.cascade.router;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/** What a piece of code writes to {@code System.err} (log lines, a command's warnings), with its result. */
public final class SystemErr {

  /** {@code body}'s result and what it wrote to {@code System.err} meanwhile. */
  public record Captured<T>(T result, String err) {}

  private SystemErr() {}

  /** Runs {@code body} with {@code System.err} captured (and restored after, whatever happens). */
  public static synchronized <T> Captured<T> capture(Supplier<T> body) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream stderr = System.err;
    System.setErr(new PrintStream(bytes, true, StandardCharsets.UTF_8));
    T result;
    try {
      result = body.get();
    } finally {
      System.setErr(stderr);
    }
    return new Captured<>(result, bytes.toString(StandardCharsets.UTF_8));
  }
}
