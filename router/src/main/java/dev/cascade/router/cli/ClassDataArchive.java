package dev.cascade.router.cli;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Where the class-data-sharing (AppCDS) archive of a {@code cascade.jar} lives and the JVM options
 * that use it. The archive sits next to the jar, named after the jar's size and modification time
 * ({@code cascade.jar-SIZE-MTIME.jsa}), the two things the JVM checks before it uses an archive:
 * a rebuilt jar has another name, so an archive made for another jar is never picked up. The
 * {@code ./cascade} launcher computes the same name ({@code stat -L -c %s-%Y}).
 */
public final class ClassDataArchive {

  private ClassDataArchive() {}

  /** The archive's path for {@code jar} (which need not exist yet). */
  public static Path forJar(Path jar) throws IOException {
    long size = Files.size(jar);
    long mtime = Files.getLastModifiedTime(jar).to(TimeUnit.SECONDS);
    return jar.resolveSibling(jar.getFileName() + "-" + size + "-" + mtime + ".jsa");
  }

  /** The jar these classes were loaded from, if they were loaded from a jar. */
  public static Optional<Path> runningJar() {
    try {
      var source = ClassDataArchive.class.getProtectionDomain().getCodeSource();
      if (source == null) {
        return Optional.empty();
      }
      Path path = Path.of(source.getLocation().toURI());
      return Files.isRegularFile(path) && path.getFileName().toString().endsWith(".jar") ? Optional.of(path)
          : Optional.empty();
    } catch (URISyntaxException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** The archive made for the running jar, if one exists. */
  public static Optional<Path> existing() {
    return runningJar().flatMap(jar -> {
      try {
        Path archive = forJar(jar);
        return Files.isRegularFile(archive) ? Optional.of(archive) : Optional.empty();
      } catch (IOException e) {
        return Optional.empty();
      }
    });
  }

  /**
   * The JVM options that use {@code archive}: the archive, and the JVM's CDS messages off (should the
   * archive not fit this JVM after all, e.g. another JDK build, the JVM starts without it, silently,
   * instead of printing a warning on stdout). The launcher passes the same.
   */
  public static List<String> jvmOptions(Path archive) {
    return List.of("-XX:SharedArchiveFile=" + archive, "-Xlog:cds=off", "-Xlog:cds+dynamic=off");
  }
}
