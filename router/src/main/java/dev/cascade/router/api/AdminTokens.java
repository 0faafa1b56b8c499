package dev.cascade.router.api;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Where a production router's admin token comes from, so that it never has to be printed (and so
 * never lands in pod logs): {@code admin.token} (or {@code CASCADE_ADMIN_TOKEN}), else the first
 * line of {@code admin.token-file} (a mounted Secret), else a fresh random token written to that
 * file, readable by its owner only.
 */
public final class AdminTokens {

  private AdminTokens() {}

  /**
   * The token and where it came from.
   *
   * @param file the file it was read from or written to; null when it was configured directly
   * @param generated whether it was made now
   */
  public record Resolved(String token, Path file, boolean generated) {}

  /** Resolves the token, writing a fresh one to the token file when there is none. */
  public static Resolved resolve(CascadeConfig config) {
    String configured = config.get(CascadeConfig.ADMIN_TOKEN);
    if (!configured.isBlank()) {
      return new Resolved(configured.trim(), null, false);
    }
    Path file = file(config);
    try {
      if (Files.exists(file)) {
        return new Resolved(read(file), file, false);
      }
      String token = FrontDoor.generateToken();
      Path parent = file.toAbsolutePath().getParent();
      Files.createDirectories(parent);
      // Written whole to a private file first, then published under the token file's name in one
      // step: a second instance starting at the same moment sees either no file or the whole token
      // (never an empty file between create and write), and the one that loses reads the winner's.
      Path staged = staged(parent, file.getFileName().toString());
      try {
        Files.writeString(staged, token + "\n", StandardCharsets.UTF_8);
        try {
          Files.createLink(file, staged);
        } catch (FileAlreadyExistsException e) {
          return new Resolved(read(file), file, false); // another instance wrote it first
        } catch (UnsupportedOperationException | FileSystemException e) {
          try {
            Files.move(staged, file); // no hard links here: a move that refuses to replace
          } catch (FileAlreadyExistsException lost) {
            return new Resolved(read(file), file, false);
          }
        }
      } finally {
        Files.deleteIfExists(staged);
      }
      return new Resolved(token, file, true);
    } catch (IOException e) {
      throw new UncheckedIOException("admin token file " + file + ": " + e.getMessage(), e);
    }
  }

  /** {@code admin.token-file}, or {@code admin-token} in the state directory (or the temp directory). */
  static Path file(CascadeConfig config) {
    String configured = config.get(CascadeConfig.ADMIN_TOKEN_FILE);
    if (!configured.isBlank()) {
      return Path.of(configured);
    }
    String state = config.get(CascadeConfig.STATE_DIR);
    Path dir = state.isBlank() ? Path.of(System.getProperty("java.io.tmpdir")) : Path.of(state);
    return dir.resolve(state.isBlank() ? "cascade-" + config.get(CascadeConfig.APPLICATION_ID) + "-admin-token"
        : "admin-token");
  }

  private static Path staged(Path dir, String name) throws IOException {
    try {
      return Files.createTempFile(dir, "." + name, ".tmp",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (UnsupportedOperationException e) {
      return Files.createTempFile(dir, "." + name, ".tmp");
    }
  }

  private static String read(Path file) throws IOException {
    String token = Files.readAllLines(file, StandardCharsets.UTF_8).stream().map(String::trim)
        .filter(line -> !line.isEmpty()).findFirst().orElse("");
    if (token.isEmpty()) {
      throw new ConfigException(CascadeConfig.ADMIN_TOKEN_FILE.name(), "names " + file + ", which holds no token");
    }
    return token;
  }
}
