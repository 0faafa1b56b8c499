package dev.cascade.router.api;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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
      if (parent != null) {
        Files.createDirectories(parent);
      }
      try {
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      } catch (UnsupportedOperationException e) {
        Files.createFile(file);
      } catch (FileAlreadyExistsException e) {
        return new Resolved(read(file), file, false); // another instance wrote it first
      }
      Files.writeString(file, token + "\n", StandardCharsets.UTF_8, StandardOpenOption.TRUNCATE_EXISTING);
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

  private static String read(Path file) throws IOException {
    String token = Files.readAllLines(file, StandardCharsets.UTF_8).stream().map(String::trim)
        .filter(line -> !line.isEmpty()).findFirst().orElse("");
    if (token.isEmpty()) {
      throw new ConfigException(CascadeConfig.ADMIN_TOKEN_FILE.name(), "names " + file + ", which holds no token");
    }
    return token;
  }
}
