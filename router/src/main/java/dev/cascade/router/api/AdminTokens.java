package dev.cascade.router.api;

import dev.cascade.router.config.CascadeConfig;
import dev.cascade.router.config.ConfigException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;

/**
 * Where a production router's admin token comes from, so that it never has to be printed (and so
 * never lands in pod logs): {@code admin.token} (or {@code CASCADE_ADMIN_TOKEN}), else the first
 * line of {@code admin.token-file} (a mounted Secret), else a fresh random token written to that
 * file, readable by its owner only.
 *
 * <p>A token file someone else could have written, or could read, is refused ({@link
 * ConfigException} naming {@code admin.token-file}): see {@link #problem} for the rule, which
 * SECURITY.md states for operators.
 */
public final class AdminTokens {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AdminTokens.class);

  private static final Set<PosixFilePermission> GROUP_OR_OTHERS = EnumSet.of(PosixFilePermission.GROUP_READ,
      PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ,
      PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);
  private static final Set<PosixFilePermission> GROUP_OR_OTHERS_WRITE = EnumSet.of(PosixFilePermission.GROUP_WRITE,
      PosixFilePermission.OTHERS_WRITE);

  private AdminTokens() {}

  /**
   * The token and where it came from.
   *
   * @param file the file it was read from or written to; null when it was configured directly
   * @param generated whether it was made now
   */
  public record Resolved(String token, Path file, boolean generated) {}

  /**
   * Resolves the token, writing a fresh one to the token file when there is none.
   *
   * @throws ConfigException naming {@code admin.token-file} when the file holds no token, or is one
   *     the router may not trust (see {@link #problem})
   */
  public static Resolved resolve(CascadeConfig config) {
    String configured = config.get(CascadeConfig.ADMIN_TOKEN);
    if (!configured.isBlank()) {
      return new Resolved(configured.trim(), null, false);
    }
    boolean named = !config.get(CascadeConfig.ADMIN_TOKEN_FILE).isBlank();
    Path file = file(config);
    try {
      if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
        return new Resolved(readChecked(file, named), file, false);
      }
      String token = FrontDoor.generateToken();
      Path parent = file.toAbsolutePath().getParent();
      Files.createDirectories(parent);
      // Written whole to a private file first, then published under the token file's name in one
      // step: a second instance starting at the same moment sees either no file or the whole token
      // (never an empty file between create and write), and the one that loses reads the winner's.
      // The private file is created owner-only (0600) by the call that creates it: it is never
      // readable by anyone else, not even for a moment.
      Path staged = staged(parent, file.getFileName().toString());
      try {
        Files.writeString(staged, token + "\n", StandardCharsets.UTF_8);
        try {
          Files.createLink(file, staged);
        } catch (FileAlreadyExistsException e) {
          return new Resolved(readChecked(file, named), file, false); // another instance wrote it first
        } catch (UnsupportedOperationException | FileSystemException e) {
          try {
            Files.move(staged, file); // no hard links here: a move that refuses to replace
          } catch (FileAlreadyExistsException lost) {
            return new Resolved(readChecked(file, named), file, false);
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

  /**
   * What is known of a token file and the name it was given by.
   *
   * @param symlink whether the name is a symbolic link
   * @param linkOwner the owner (uid) of the link itself, when it is one
   * @param owner the owner (uid) of the file the name leads to
   * @param regular whether that is a regular file
   * @param permissions its permissions
   * @param readOnlyMount whether it lies on a file system mounted read-only
   */
  record Facts(boolean symlink, long linkOwner, long owner, boolean regular, Set<PosixFilePermission> permissions,
      boolean readOnlyMount) {}

  /**
   * Why a token file may not be trusted; null when it may. A file is trusted when it is a regular
   * file and either
   *
   * <ul>
   *   <li>it is owned by the router's user and gives group and others nothing (mode 0600 or 0400);
   *       the name may be a symbolic link only in {@code admin.token-file} and only one owned by
   *       root or the router's user; or
   *   <li>it was named in {@code admin.token-file} and is a secret root provisioned: owned by root,
   *       writable by root alone (group and others may read it), on a read-only mount, through
   *       symbolic links owned by root or the router's user only. This is a Kubernetes Secret
   *       volume (mode 0644 by default, owned by root, behind root's symbolic links).
   * </ul>
   *
   * The file the router chooses itself ({@code admin.token-file} empty: {@code admin-token} in
   * {@code state.dir}, or {@code cascade-<application.id>-admin-token} in the temp directory) must
   * be the router's own, owner-only regular file, no symbolic link: anyone may create a file in the
   * temp directory, so a file there that another user made is refused, not used.
   *
   * @param named whether the path came from {@code admin.token-file}
   * @param self the uid the router runs as
   */
  static String problem(Facts f, boolean named, long self) {
    if (f.symlink()) {
      if (!named) {
        return "is a symbolic link; the file the router chooses itself must be a regular file it wrote";
      }
      if (f.linkOwner() != self && f.linkOwner() != 0) {
        return "is a symbolic link owned by uid " + f.linkOwner() + ", neither the router's user (uid " + self
            + ") nor root";
      }
    }
    if (!f.regular()) {
      return "is not a regular file";
    }
    if (named && f.owner() == 0 && f.readOnlyMount() && !containsAny(f.permissions(), GROUP_OR_OTHERS_WRITE)) {
      return null; // a secret root provisioned on a read-only mount (a Kubernetes Secret volume)
    }
    if (f.owner() != self) {
      return "is owned by uid " + f.owner() + ", not by the router's user (uid " + self + ")"
          + (named ? " (or by root on a read-only mount, as a Kubernetes Secret is)" : "");
    }
    if (containsAny(f.permissions(), GROUP_OR_OTHERS)) {
      return "is open to group or others (mode " + PosixFilePermissions.toString(f.permissions())
          + "); make it owner-only: chmod 600";
    }
    return null;
  }

  private static boolean containsAny(Set<PosixFilePermission> permissions, Set<PosixFilePermission> any) {
    for (PosixFilePermission p : any) {
      if (permissions.contains(p)) {
        return true;
      }
    }
    return false;
  }

  /** The token in {@code file}, once {@link #problem} finds nothing wrong with the file. */
  private static String readChecked(Path file, boolean named) throws IOException {
    Facts facts = facts(file);
    if (facts == null) {
      LOG.warn("admin token file {}: the file system keeps no POSIX owner or permissions, so who may read or write"
          + " the file is not checked; keep it readable by the router's user only", file);
    } else {
      String problem = problem(facts, named, selfUid());
      if (problem != null) {
        throw new ConfigException(CascadeConfig.ADMIN_TOKEN_FILE.name(), (named ? "" : "is empty, and the token file"
            + " the router chose, ") + file + (named ? " " : ", ") + problem
            + (named ? "" : "; remove it, or set admin.token-file or state.dir") + " (see SECURITY.md)");
      }
    }
    return read(file);
  }

  /** The facts {@link #problem} judges; null on a file system without POSIX attributes. */
  static Facts facts(Path file) throws IOException {
    PosixFileAttributeView view = Files.getFileAttributeView(file, PosixFileAttributeView.class,
        LinkOption.NOFOLLOW_LINKS);
    if (view == null) {
      return null;
    }
    PosixFileAttributes link = view.readAttributes();
    boolean symlink = link.isSymbolicLink();
    long linkOwner = symlink ? uid(file, LinkOption.NOFOLLOW_LINKS) : -1;
    if (symlink) {
      try {
        PosixFileAttributes target = Files.readAttributes(file, PosixFileAttributes.class);
        return new Facts(true, linkOwner, uid(file), target.isRegularFile(), target.permissions(),
            Files.getFileStore(file).isReadOnly());
      } catch (java.nio.file.NoSuchFileException dangling) {
        return new Facts(true, linkOwner, -1, false, Set.of(), false);
      }
    }
    return new Facts(false, -1, uid(file), link.isRegularFile(), link.permissions(),
        Files.getFileStore(file).isReadOnly());
  }

  private static long uid(Path file, LinkOption... options) throws IOException {
    return ((Number) Files.getAttribute(file, "unix:uid", options)).longValue();
  }

  /** The uid this process runs as. */
  static long selfUid() {
    return new com.sun.security.auth.module.UnixSystem().getUid();
  }

  private static Path staged(Path dir, String name) throws IOException {
    try {
      return Files.createTempFile(dir, "." + name, ".tmp",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (UnsupportedOperationException e) {
      LOG.warn("admin token file in {}: the file system keeps no POSIX permissions, so the new file gets its"
          + " default access; keep it readable by the router's user only", dir);
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
