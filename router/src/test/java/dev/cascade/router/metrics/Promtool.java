package dev.cascade.router.metrics;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Runs {@code promtool check metrics} (Debian's prometheus package) on an exposition. */
public final class Promtool {

  private Promtool() {}

  /** Where promtool is, if installed. */
  public static Optional<Path> find() {
    for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
      Path p = Path.of(dir, "promtool");
      if (Files.isExecutable(p)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }

  /** What promtool said (exit status and output) about {@code exposition}. */
  public record Result(int exitCode, String output) {}

  public static Result check(Path promtool, String exposition) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(promtool.toString(), "check", "metrics").redirectErrorStream(true).start();
    try (OutputStream in = p.getOutputStream()) {
      in.write(exposition.getBytes(StandardCharsets.UTF_8));
    }
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("promtool did not finish within 60 s");
    }
    return new Result(p.exitValue(), output);
  }
}
