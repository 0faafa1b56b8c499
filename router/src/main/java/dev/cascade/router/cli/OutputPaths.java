package dev.cascade.router.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks of where a command will write, made before its work (a model run, a training), so that a
 * path it cannot use is refused at once, in one line naming the option, not after minutes of work.
 * What they cannot foresee (the disk filling up, a file made meanwhile) the command line's
 * handler still says in one line ({@link RuntimeCommand#fileProblem}).
 */
final class OutputPaths {

  private OutputPaths() {}

  /**
   * {@code file} can be written as a file: it is not a directory, and its directory exists or can
   * be made (the nearest existing ancestor is a writable directory).
   *
   * @throws IllegalArgumentException naming {@code option} and what is in the way
   */
  static void checkFile(String option, Path file) {
    if (file == null) {
      return;
    }
    if (Files.isDirectory(file)) {
      throw new IllegalArgumentException(option + ": " + file + " is a directory; give a file's path");
    }
    if (Files.exists(file) && !Files.isWritable(file)) {
      throw new IllegalArgumentException(option + ": " + file + ": permission denied");
    }
    checkAncestors(option, file, file.toAbsolutePath().getParent());
  }

  /**
   * {@code dir} is a directory, or can be made: the nearest existing ancestor is a writable
   * directory.
   *
   * @throws IllegalArgumentException naming {@code option} and what is in the way
   */
  static void checkDirectory(String option, Path dir) {
    if (dir == null) {
      return;
    }
    if (Files.exists(dir)) {
      if (!Files.isDirectory(dir)) {
        throw new IllegalArgumentException(option + ": " + dir + " is a file, not a directory");
      }
      if (!Files.isWritable(dir)) {
        throw new IllegalArgumentException(option + ": " + dir + ": permission denied");
      }
      return;
    }
    checkAncestors(option, dir, dir.toAbsolutePath().getParent());
  }

  private static void checkAncestors(String option, Path given, Path parent) {
    Path existing = parent;
    while (existing != null && !Files.exists(existing)) {
      existing = existing.getParent();
    }
    if (existing == null) {
      return; // nothing on the way exists, not even the root: let the write say why
    }
    if (!Files.isDirectory(existing)) {
      throw new IllegalArgumentException(option + ": " + given + ": " + existing + " is a file, not a directory");
    }
    if (!Files.isWritable(existing)) {
      throw new IllegalArgumentException(option + ": " + given + ": cannot write in " + existing
          + " (permission denied)");
    }
  }
}
