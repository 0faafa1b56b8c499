package dev.cascade.router.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Makes the class-data-sharing archive of cascade.jar: a JVM runs {@link CdsWorkloadCommand} (a
 * restarted broker, the large-model server and a router, a few requests through them) under {@code
 * -XX:ArchiveClassesAtExit} and exits normally, which is when the JVM writes the archive of every
 * class it loaded. The archive is then checked ({@code -Xshare:on}) and put next to the jar under
 * {@link ClassDataArchive#forJar}'s name, replacing the archives of earlier builds of the jar.
 */
@Command(name = "cds", mixinStandardHelpOptions = true,
    description = {"Makes the class-data-sharing (AppCDS) archive of cascade.jar, so that the broker, serve and"
        + " large-model (and every other command) start faster: runs a restarted broker, the large-model server and a"
        + " router in one JVM, sends a few requests, and keeps the classes that JVM loaded (about a minute).",
        "Writes router/target/cascade.jar-SIZE-MTIME.jsa next to the jar; ./cascade and the fault harness use it for"
            + " as long as the jar is unchanged (a rebuilt jar needs cascade cds again)."})
final class CdsCommand implements Callable<Integer> {

  /** The JVM options every cascade JVM gets from the launcher (and the harness). */
  static final List<String> LAUNCHER_PROPERTIES = List.of(
      "-Dorg.apache.avro.SERIALIZABLE_PACKAGES=dev.cascade.schemas.avro,java.lang,java.util,org.apache.avro.util",
      "-Dai.djl.offline=true");

  @Option(names = "--jar", paramLabel = "JAR", description = "The jar to make the archive for (default: this one).")
  Path jar;

  @Option(names = "--timeout-s", paramLabel = "S", defaultValue = "900",
      description = "Give up after S seconds (default: ${DEFAULT-VALUE}).")
  int timeoutS;

  @Override
  public Integer call() throws IOException, InterruptedException {
    Path target = jar != null ? jar.toAbsolutePath()
        : ClassDataArchive.runningJar().orElseThrow(() -> new IllegalArgumentException(
            "cds: not running from a jar; give --jar router/target/cascade.jar"));
    if (!Files.isRegularFile(target)) {
      throw new IllegalArgumentException("--jar: no such file: " + target);
    }
    Path archive = ClassDataArchive.forJar(target);
    Path partial = archive.resolveSibling(archive.getFileName() + ".partial");
    Files.deleteIfExists(partial);
    Path log = Files.createTempFile("cascade-cds-", ".log");
    String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(List.of(javaBin, "-XX:ArchiveClassesAtExit=" + partial, "-Xmx2g"));
    command.addAll(LAUNCHER_PROPERTIES);
    command.addAll(List.of("-cp", target.toString(), CascadeCommand.class.getName(), "cds-workload"));
    System.err.println("cds: running the broker, the large-model server and a router once to record their classes"
        + " (log: " + log + ")...");
    long t0 = System.nanoTime();
    Process run = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    if (!run.waitFor(timeoutS, TimeUnit.SECONDS)) {
      run.destroyForcibly().waitFor();
      Files.deleteIfExists(partial);
      System.err.println("cds: the recording run did not finish within " + timeoutS + " s; see " + log);
      return 1;
    }
    if (run.exitValue() != 0 || !Files.isRegularFile(partial)) {
      Files.deleteIfExists(partial);
      System.err.println("cds: the recording run failed (exit " + run.exitValue() + "); the last lines of " + log + ":");
      try (Stream<String> lines = Files.lines(log)) {
        List<String> all = lines.toList();
        all.stream().skip(Math.max(0, all.size() - 20)).forEach(System.err::println);
      }
      return 1;
    }
    // -Xshare:on makes an archive this JVM cannot use an error instead of a silent fallback.
    Process check = new ProcessBuilder(javaBin, "-XX:SharedArchiveFile=" + partial, "-Xshare:on", "-cp",
        target.toString(), CascadeCommand.class.getName(), "--version").redirectErrorStream(true).start();
    String checkOutput = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (check.waitFor() != 0) {
      Files.deleteIfExists(partial);
      System.err.println("cds: the JVM cannot use the archive it wrote:\n" + checkOutput.strip());
      return 1;
    }
    Files.move(partial, archive, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    removeStale(target, archive);
    Files.deleteIfExists(log);
    System.out.printf(Locale.ROOT, "cds=%s (%.0f MiB, made in %.0f s)%n", archive, Files.size(archive) / 1048576.0,
        (System.nanoTime() - t0) / 1e9);
    return 0;
  }

  /** Removes the archives of earlier builds of the jar (they can never be used again). */
  private static void removeStale(Path jar, Path keep) throws IOException {
    String prefix = jar.getFileName() + "-";
    try (Stream<Path> siblings = Files.list(jar.toAbsolutePath().getParent())) {
      for (Path p : siblings.toList()) {
        String name = p.getFileName().toString();
        if (name.startsWith(prefix) && (name.endsWith(".jsa") || name.endsWith(".jsa.partial"))
            && !p.getFileName().equals(keep.getFileName())) {
          Files.deleteIfExists(p);
        }
      }
    }
  }
}
