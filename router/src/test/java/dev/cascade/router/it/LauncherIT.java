package dev.cascade.router.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.cli.ClassDataArchive;
import dev.cascade.router.cli.JvmDefaults;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./cascade} launcher with class-data-sharing archives: it uses the archive made for its
 * very jar ({@link ClassDataArchive#forJar}'s name), and an archive the JVM cannot use (made for
 * another jar, or not an archive at all) neither breaks a command nor adds a line to its output.
 * The launcher runs from a copy of the repository's layout: {@code cascade} and a link to the built
 * {@code router/target/cascade.jar}, so no archive lands next to the real jar.
 */
class LauncherIT {

  private static final Path LAUNCHER = Path.of("..", "cascade");
  private static final Path JAR = Path.of("target", "cascade.jar");

  @TempDir
  Path temp;

  private Path root;
  private Path jar;

  @BeforeEach
  void copyTheLayout() throws IOException {
    assertThat(JAR).as("built by the package phase").exists();
    // Under target/, on the jar's file system, so that the jar can be a hard link (same size and mtime).
    root = Files.createTempDirectory(Path.of("target"), "launcher-it-");
    Files.copy(LAUNCHER, root.resolve("cascade"), StandardCopyOption.COPY_ATTRIBUTES);
    jar = root.resolve("router/target/cascade.jar");
    Files.createDirectories(jar.getParent());
    try {
      Files.createLink(jar, JAR.toAbsolutePath());
    } catch (IOException | UnsupportedOperationException e) {
      Files.copy(JAR, jar, StandardCopyOption.COPY_ATTRIBUTES);
    }
  }

  @org.junit.jupiter.api.AfterEach
  void removeTheLayout() throws IOException {
    try (var paths = Files.walk(root)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  @Test
  void withoutAnArchiveTheCommandRunsAsBefore() throws Exception {
    Run run = launcher(Map.of(), "--version");
    assertThat(run.exit()).isZero();
    assertThat(run.output()).isEqualTo("cascade 0.1.0\n");
  }

  @Test
  void anArchiveOfAnotherJarUnderTheJarsNameIsIgnoredWithoutAWord() throws Exception {
    Path other = otherJarsArchive();
    Files.copy(other, ClassDataArchive.forJar(jar));

    Run run = launcher(Map.of(), "--version");
    assertThat(run.exit()).isZero();
    assertThat(run.output()).isEqualTo("cascade 0.1.0\n");

    // It was given to the JVM (which refused it): with the JVM's own CDS warnings back on (the
    // user's options come after the launcher's), the refusal shows.
    Run loud = launcher(Map.of("CASCADE_JAVA_OPTS", "-Xlog:cds+dynamic=warning"), "--version");
    assertThat(loud.exit()).isZero();
    assertThat(loud.output()).contains("Unable to use shared archive").contains(ClassDataArchive.forJar(jar).toString());

    // CASCADE_CDS=off: not given at all.
    Run off = launcher(Map.of("CASCADE_JAVA_OPTS", "-Xlog:cds+dynamic=warning", "CASCADE_CDS", "off"), "--version");
    assertThat(off.exit()).isZero();
    assertThat(off.output()).isEqualTo("cascade 0.1.0\n");
    // CASCADE_CDS is the launcher's, not a configuration key: a command that reads the configuration
    // gets past it (to its own complaint: serve without a large model).
    Run serve = launcher(Map.of("CASCADE_CDS", "off"), "serve");
    assertThat(serve.exit()).isEqualTo(2);
    assertThat(serve.output()).contains("large.target").doesNotContain("CASCADE_CDS");
  }

  @Test
  void aFileThatIsNotAnArchiveIsIgnoredWithoutAWord() throws Exception {
    Files.writeString(ClassDataArchive.forJar(jar), "not an archive");
    Run run = launcher(Map.of(), "--help");
    assertThat(run.exit()).isZero();
    assertThat(run.output()).startsWith("Usage: cascade").doesNotContain("warning").doesNotContain("shared archive");
  }

  @Test
  void theArchiveMadeForTheJarIsUsed() throws Exception {
    // A small archive of what --version loads, made for this jar as `cascade cds` makes its own.
    Path archive = ClassDataArchive.forJar(jar);
    Process dump = new ProcessBuilder(java(), "-XX:ArchiveClassesAtExit=" + archive, "-cp", jar.toAbsolutePath().toString(),
        "dev.cascade.router.cli.CascadeCommand", "--version").redirectErrorStream(true).start();
    String dumpOutput = new String(dump.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(dump.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(archive).as(dumpOutput).exists();

    Run run = launcher(Map.of("CASCADE_JAVA_OPTS", "-Xlog:class+load=info"), "--version");
    assertThat(run.exit()).isZero();
    assertThat(run.output()).contains("dev.cascade.router.cli.CascadeCommand source: shared objects file (top)")
        .contains("\ncascade 0.1.0\n");
  }

  @Test
  void theBrokerAndServeGetTheOptionsJvmDefaultsNamesAndTheUsersWin() throws Exception {
    assertThat(JvmDefaults.forCommand("broker")).containsExactly("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");
    assertThat(JvmDefaults.forCommand("serve")).containsExactly("-XX:TieredStopAtLevel=1");
    assertThat(JvmDefaults.forCommand("large-model")).isEmpty();
    Run broker = launcher(Map.of("CASCADE_JAVA_OPTS", "-XX:+PrintFlagsFinal"), "broker", "--help");
    assertThat(broker.exit()).isZero();
    assertThat(broker.output()).containsPattern("intx TieredStopAtLevel += 1 ").containsPattern("bool UseSerialGC += true ");
    Run serve = launcher(Map.of("CASCADE_JAVA_OPTS", "-XX:+PrintFlagsFinal"), "serve", "--help");
    assertThat(serve.exit()).isZero();
    assertThat(serve.output()).containsPattern("intx TieredStopAtLevel += 1 ");
    Run c2 = launcher(Map.of("CASCADE_JAVA_OPTS", "-XX:+PrintFlagsFinal -XX:TieredStopAtLevel=4"), "serve", "--help");
    assertThat(c2.exit()).isZero();
    assertThat(c2.output()).containsPattern("intx TieredStopAtLevel += 4 ");
    // (The collector is the JVM's choice there, serial on a one-core machine; not asserted.)
    Run large = launcher(Map.of("CASCADE_JAVA_OPTS", "-XX:+PrintFlagsFinal"), "large-model", "--help");
    assertThat(large.exit()).isZero();
    assertThat(large.output()).containsPattern("intx TieredStopAtLevel += 4 ");
  }

  /** An archive made for a jar other than cascade.jar (one class of it, loaded). */
  private Path otherJarsArchive() throws Exception {
    Path other = temp.resolve("other.jar");
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(other));
        InputStream in = ClassDataArchive.class.getResourceAsStream("ClassDataArchive.class")) {
      out.putNextEntry(new JarEntry("dev/cascade/router/cli/ClassDataArchive.class"));
      in.transferTo(out);
      out.closeEntry();
    }
    Path archive = temp.resolve("other.jsa");
    // ClassDataArchive has no main method: the JVM loads it from other.jar, fails, exits, and writes the archive.
    Process dump = new ProcessBuilder(java(), "-XX:ArchiveClassesAtExit=" + archive, "-cp", other.toString(),
        "dev.cascade.router.cli.ClassDataArchive").redirectErrorStream(true).start();
    String output = new String(dump.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(dump.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(archive).as(output).exists();
    return archive;
  }

  private record Run(int exit, String output) {}

  private Run launcher(Map<String, String> env, String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of(root.resolve("cascade").toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().remove("CASCADE_JAVA_OPTS");
    builder.environment().remove("CASCADE_CDS");
    builder.environment().putAll(env);
    // The launcher runs `java` from the PATH: this JVM's first.
    builder.environment().put("PATH", Path.of(System.getProperty("java.home"), "bin") + java.io.File.pathSeparator
        + builder.environment().getOrDefault("PATH", ""));
    Process p = builder.start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    return new Run(p.exitValue(), output);
  }

  private static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }
}
