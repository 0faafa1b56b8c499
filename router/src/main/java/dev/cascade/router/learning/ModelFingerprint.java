package dev.cascade.router.learning;

import dev.cascade.models.ModelDirectory;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What binds a learned rule to a small model: the SHA-256 of the model's ONNX file, and the
 * feature layout the rule's inputs come from. A rule is applied only by a router whose small model
 * has the same fingerprint, because a rule's scores mean nothing for another model's
 * log-probabilities (or embedding).
 */
public final class ModelFingerprint {

  /**
   * The feature layout of every rule this version of the router trains and applies: the 25
   * token-level uncertainty features of {@code FeatureExtractor}, plus {@code emb_i} for an
   * embedding. A change to how a feature is computed must change this name.
   */
  public static final String FEATURE_LAYOUT = "uncertainty/v1";

  private static final Map<String, String> CACHE = new ConcurrentHashMap<>();

  private ModelFingerprint() {}

  /**
   * The SHA-256 (64 lower-case hex digits) of the ONNX file of a model given as configuration
   * names it: {@code small}, {@code large}, or a directory.
   *
   * @throws UncheckedIOException if the model's file cannot be read
   */
  public static String of(String model) {
    return ofFile(ModelDirectory.resolve(model).modelFile());
  }

  /**
   * The SHA-256 of a file, cached for this JVM by its absolute path, size and modification time.
   *
   * <p>A file modified less than {@link #SETTLE_MILLIS} before it is hashed is not cached: a
   * file system stamps modification times with a coarse clock (a few milliseconds on Linux, two
   * seconds on some), so the same file rewritten in place within one tick, at the same size, would
   * keep its key and its old hash. Such a file is hashed again on every call until it has settled.
   */
  public static String ofFile(Path file) {
    Path path = file.toAbsolutePath().normalize();
    long modified;
    String key;
    try {
      modified = Files.getLastModifiedTime(path).toMillis();
      key = path + "\n" + Files.size(path) + "\n" + modified;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + path, e);
    }
    String cached = CACHE.get(key);
    if (cached != null) {
      return cached;
    }
    long hashedAt = System.currentTimeMillis();
    String hash = sha256(path);
    if (hashedAt - modified > SETTLE_MILLIS) {
      CACHE.put(key, hash);
    }
    return hash;
  }

  /** How long after its last modification a file's hash may be cached. */
  static final long SETTLE_MILLIS = 2_000;

  /** The first 16 hex digits, for messages. */
  public static String shortForm(String fingerprint) {
    return fingerprint == null || fingerprint.isEmpty() ? "(none)"
        : fingerprint.substring(0, Math.min(16, fingerprint.length()));
  }

  private static String sha256(Path file) {
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      try (InputStream in = Files.newInputStream(file)) {
        byte[] buffer = new byte[1 << 16];
        int n;
        while ((n = in.read(buffer)) > 0) {
          digest.update(buffer, 0, n);
        }
      }
      return HexFormat.of().formatHex(digest.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }
}
