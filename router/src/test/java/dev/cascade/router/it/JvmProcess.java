package dev.cascade.router.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/** A cascade command in its own JVM, as production runs it, with its output lines collected. */
final class JvmProcess implements AutoCloseable {

  private static final List<String> JVM_FLAGS = List.of(
      "-Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.cascade.schemas.avro,java.lang,java.util,org.apache.avro.util",
      "-Dai.djl.offline=true");

  final Process process;
  private final List<String> lines = new CopyOnWriteArrayList<>();
  private final Thread reader;

  private JvmProcess(List<String> command) throws IOException {
    process = new ProcessBuilder(command).redirectErrorStream(true).start();
    reader = new Thread(() -> {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
          StandardCharsets.UTF_8))) {
        String line;
        while ((line = in.readLine()) != null) {
          lines.add(line);
        }
      } catch (IOException e) {
        // the process ended
      }
    }, "jvm-process-output");
    reader.setDaemon(true);
    reader.start();
  }

  /** {@code cascade ARGS} from the test classpath. */
  static JvmProcess cascade(List<String> args) throws IOException {
    List<String> command = new ArrayList<>(List.of(java(), "-cp", System.getProperty("java.class.path")));
    command.addAll(JVM_FLAGS);
    command.add("dev.cascade.router.cli.CascadeCommand");
    command.addAll(args);
    return new JvmProcess(command);
  }

  /** {@code java -jar JAR ARGS}. */
  static JvmProcess jar(Path jar, List<String> args) throws IOException {
    List<String> command = new ArrayList<>(List.of(java()));
    command.addAll(JVM_FLAGS);
    command.addAll(List.of("-jar", jar.toString()));
    command.addAll(args);
    return new JvmProcess(command);
  }

  private static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /** The first line starting with {@code prefix}, waiting up to {@code timeout}; empty if the process ended first. */
  Optional<String> awaitLine(String prefix, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      Optional<String> line = lines.stream().filter(l -> l.startsWith(prefix)).findFirst();
      if (line.isPresent() || !process.isAlive()) {
        return lines.stream().filter(l -> l.startsWith(prefix)).findFirst();
      }
      Thread.sleep(20);
    }
    return Optional.empty();
  }

  /** Whether a line containing {@code text} appears within {@code timeout}. */
  boolean await(String text, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (count(text) > 0) {
        return true;
      }
      if (!process.isAlive()) {
        return count(text) > 0;
      }
      Thread.sleep(20);
    }
    return false;
  }

  long count(String text) {
    return lines.stream().filter(l -> l.contains(text)).count();
  }

  String output() {
    return String.join("\n", lines);
  }

  /** SIGKILL on Unix: no shutdown hooks, no commit. */
  void kill9() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor();
  }

  /**
   * SIGTERM, so shutdown hooks run; SIGKILL if it has not ended within 40 s. Then its last lines
   * are read, so that {@link #output()} holds what its shutdown hooks wrote ({@code
   * Process.destroy()} would close the pipe its output comes through as it signals).
   */
  @Override
  public void close() {
    process.toHandle().destroy();
    try {
      if (!process.waitFor(40, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
      reader.join(5_000);
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }
}
