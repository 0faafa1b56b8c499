package dev.cascade.router.demo;

import dev.cascade.models.Generation;
import dev.cascade.models.TextGenerator;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A model's generations for a list of prompts, kept on disk so that a second run over the same
 * prompts (the demo's calibration on the validation split) reads them instead of generating them
 * again. The file is named by a digest of everything the generations depend on: the model file's
 * bytes, the engine, the token limit and the prompts. A missing, short or unreadable file is
 * generated again and rewritten; nothing is ever read under a key it was not written for.
 */
public final class GenerationCache {

  private static final Logger LOG = LoggerFactory.getLogger(GenerationCache.class);
  private static final String MAGIC = "cascade-generations-1";

  private final Path dir;

  /** @param dir where the files live (created when first written) */
  public GenerationCache(Path dir) {
    this.dir = dir;
  }

  /** {@code cascade.cache} system property + {@code /generations}, else {@code ~/.cache/cascade/generations}. */
  public static GenerationCache inUserCache() {
    String base = System.getProperty("cascade.cache",
        Path.of(System.getProperty("user.home"), ".cache", "cascade").toString());
    return new GenerationCache(Path.of(base, "generations"));
  }

  /** What {@link #generate} returned, and whether it came from the cache. */
  public record Result(List<Generation> generations, boolean cached) {}

  /**
   * The generations of {@code prompts} by {@code model} (whose weights are {@code modelFile}), in
   * calls of {@code batchSize}; from the cache when it has them.
   *
   * @param progress called with the number of prompts done so far
   */
  public Result generate(TextGenerator model, Path modelFile, List<String> prompts, int maxNewTokens, int batchSize,
      IntConsumer progress) throws IOException {
    Path file = dir.resolve(key(model, modelFile, prompts, maxNewTokens) + ".bin");
    List<Generation> cached = read(file, prompts.size());
    if (cached != null) {
      progress.accept(prompts.size());
      return new Result(cached, true);
    }
    List<Generation> out = inBatches(model, prompts, maxNewTokens, batchSize, progress);
    write(file, out);
    return new Result(out, false);
  }

  /** The generations of {@code prompts} by {@code model}, in calls of {@code batchSize}, no cache. */
  public static List<Generation> inBatches(TextGenerator model, List<String> prompts, int maxNewTokens, int batchSize,
      IntConsumer progress) {
    List<Generation> out = new ArrayList<>(prompts.size());
    for (int start = 0; start < prompts.size(); start += batchSize) {
      out.addAll(model.generate(prompts.subList(start, Math.min(prompts.size(), start + batchSize)), maxNewTokens));
      progress.accept(out.size());
    }
    return out;
  }

  private static String key(TextGenerator model, Path modelFile, List<String> prompts, int maxNewTokens)
      throws IOException {
    MessageDigest digest;
    try {
      digest = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    try (InputStream in = Files.newInputStream(modelFile)) {
      byte[] buffer = new byte[1 << 16];
      for (int n = in.read(buffer); n > 0; n = in.read(buffer)) {
        digest.update(buffer, 0, n);
      }
    }
    digest.update(("\n" + model.info().engine() + "\n" + maxNewTokens + "\n").getBytes(StandardCharsets.UTF_8));
    for (String p : prompts) {
      digest.update(p.getBytes(StandardCharsets.UTF_8));
      digest.update((byte) 0);
    }
    return HexFormat.of().formatHex(digest.digest());
  }

  private static List<Generation> read(Path file, int expected) {
    if (!Files.isRegularFile(file)) {
      return null;
    }
    try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file)))) {
      if (!in.readUTF().equals(MAGIC) || in.readInt() != expected) {
        throw new IOException("not a generations file for " + expected + " prompts");
      }
      List<Generation> out = new ArrayList<>(expected);
      for (int i = 0; i < expected; i++) {
        String text = in.readUTF();
        int[] tokens = new int[in.readInt()];
        for (int t = 0; t < tokens.length; t++) {
          tokens[t] = in.readInt();
        }
        out.add(new Generation(text, tokens, readFloats(in), readFloats(in), readFloats(in)));
      }
      return out;
    } catch (IOException | RuntimeException e) {
      LOG.warn("cached generations {} unreadable ({}); generating them again", file, e.toString());
      return null;
    }
  }

  private static void write(Path file, List<Generation> generations) throws IOException {
    Files.createDirectories(file.getParent());
    Path tmp = Files.createTempFile(file.getParent(), "generations-", ".tmp");
    try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(tmp)))) {
      out.writeUTF(MAGIC);
      out.writeInt(generations.size());
      for (Generation g : generations) {
        out.writeUTF(g.text());
        out.writeInt(g.tokens().length);
        for (int t : g.tokens()) {
          out.writeInt(t);
        }
        writeFloats(out, g.tokenLogprobs());
        writeFloats(out, g.entropies());
        writeFloats(out, g.embedding());
      }
    }
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  /** A float array, or null, as its length (-1 for null) and values. */
  private static void writeFloats(DataOutputStream out, float[] values) throws IOException {
    out.writeInt(values == null ? -1 : values.length);
    if (values != null) {
      for (float v : values) {
        out.writeFloat(v);
      }
    }
  }

  private static float[] readFloats(DataInputStream in) throws IOException {
    int n = in.readInt();
    if (n < 0) {
      return null;
    }
    float[] values = new float[n];
    for (int i = 0; i < n; i++) {
      values[i] = in.readFloat();
    }
    return values;
  }
}
