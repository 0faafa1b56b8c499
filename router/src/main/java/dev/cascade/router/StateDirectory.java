package dev.cascade.router;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Kafka Streams state directory: the configured one ({@code state.dir}), kept; or, when none is
 * configured, a fresh temporary one, removed on close (its stores come back from their changelogs).
 *
 * @param path the directory
 * @param owned whether it is temporary and removed by {@link #removeIfOwned()}
 */
public record StateDirectory(Path path, boolean owned) {

  private static final Logger LOG = LoggerFactory.getLogger(StateDirectory.class);

  /** {@code configured}, or a new temporary directory named with {@code prefix} when it is blank. */
  public static StateDirectory of(String configured, String prefix) {
    try {
      return configured.isBlank() ? new StateDirectory(Files.createTempDirectory(prefix), true)
          : new StateDirectory(Path.of(configured), false);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a state directory", e);
    }
  }

  /** Removes the directory if it is a temporary one; a failure is logged, not thrown. */
  public void removeIfOwned() {
    if (!owned) {
      return;
    }
    try (var paths = Files.walk(path)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      LOG.warn("cannot remove state directory {}: {}", path, e.getMessage());
    }
  }
}
