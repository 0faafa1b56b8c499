package dev.cascade.router.learning;

import dev.cascade.models.ModelDirectory;
import dev.cascade.models.OnnxFile;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What binds a learned rule to a small model: the model's fingerprint (the SHA-256 of its ONNX
 * file, and of the external data files that file references, if any: {@link #of}), and the feature
 * layout the rule's inputs come from. A rule is applied only by a router whose small model has the
 * same fingerprint, because a rule's scores mean nothing for another model's log-probabilities (or
 * embedding).
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
   * The fingerprint (64 lower-case hex digits) of a model given as configuration names it: {@code
   * small}, {@code medium}, {@code large}, or a directory.
   *
   * <p>For a model whose {@code model.onnx} holds all its weights (every bundled model), it is the
   * SHA-256 of {@code model.onnx}, exactly: the shipped rules record the bundled small model's. For
   * a model whose tensors live in external data files (an Optimum export over 2 GB: {@code
   * model.onnx_data}), two exports with the same graph would share that hash, so it is the SHA-256
   * of a {@code sha256sum}-style listing, one line per file: {@code <sha256>  model.onnx}, then
   * {@code <sha256>  <location>} for each external data file the graph references, by location as
   * written in the graph, sorted; each line ends in a newline. In a shell: {@code (cd DIR &&
   * sha256sum model.onnx model.onnx_data) | sha256sum}.
   *
   * @throws java.io.UncheckedIOException if a file cannot be read
   * @throws IllegalArgumentException if {@code model.onnx} references external data outside its
   *     directory
   */
  public static String of(String model) {
    return ofModelFile(ModelDirectory.resolve(model).modelFile());
  }

  /** As {@link #of(String)}, for the ONNX file of a model. */
  public static String ofModelFile(Path modelFile) {
    String onnx = ofFile(modelFile);
    List<String> locations = EXTERNAL.computeIfAbsent(onnx, hash -> externalData(modelFile));
    if (locations.isEmpty()) {
      return onnx;
    }
    List<Path> files = OnnxFile.externalDataFiles(modelFile, locations);
    StringBuilder listing = new StringBuilder();
    listing.append(onnx).append("  ").append(modelFile.getFileName()).append('\n');
    for (int i = 0; i < locations.size(); i++) {
      listing.append(ofFile(files.get(i))).append("  ").append(locations.get(i)).append('\n');
    }
    return HexFormat.of().formatHex(sha256(listing.toString().getBytes(StandardCharsets.UTF_8)));
  }

  /**
   * Every file of a model directory whose content changes what the model generates: {@code
   * model.onnx}, the external data files it references, {@code tokenizer.json}, and {@code
   * card.json} when there is one (its special tokens and limits).
   */
  public static List<Path> files(ModelDirectory dir) {
    List<Path> files = new java.util.ArrayList<>();
    files.add(dir.modelFile());
    files.addAll(OnnxFile.externalDataFiles(dir.modelFile(), externalData(dir.modelFile())));
    files.add(dir.tokenizerFile());
    Path card = dir.path().resolve("card.json");
    if (Files.isRegularFile(card)) {
      files.add(card);
    }
    return files;
  }

  /**
   * The external data locations an ONNX file references; none when it is no ONNX file the reader
   * can parse (loading it will say what is wrong; its fingerprint is then its own SHA-256).
   */
  private static List<String> externalData(Path modelFile) {
    try {
      return OnnxFile.read(modelFile).externalData();
    } catch (IllegalArgumentException notOnnx) {
      return List.of();
    }
  }

  /** The external data locations of an ONNX file, by the file's SHA-256 (its content decides them). */
  private static final Map<String, List<String>> EXTERNAL = new ConcurrentHashMap<>();

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

  private static byte[] sha256(byte[] bytes) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(bytes);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
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
