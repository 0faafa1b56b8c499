package dev.cascade.models;

import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import java.nio.FloatBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The key/value cache a model's graph takes, read from the graph's inputs: the standard decoder
 * layout of a Hugging Face model exported to ONNX (Optimum's {@code decoder_model_merged} or
 * {@code decoder_with_past}): inputs {@code past_key_values.N.key} / {@code .value} of shape
 * [batch, heads, past_sequence, head_size] for N = 0..layers-1, outputs {@code present.N.key} /
 * {@code .value} of shape [batch, heads, past_sequence + sequence, head_size], an
 * {@code attention_mask} over past and new positions, and optionally {@code position_ids}.
 *
 * @param layers how many layers carry a cache (the count of {@code past_key_values.N.key} inputs)
 * @param heads key/value heads of layer 0's key (dimension 1 of its cache input); every tensor's
 *     own is {@link #heads(int)}
 * @param headSize size of one head of layer 0's key (dimension 3); every tensor's own is {@link #headSize(int)}
 * @param positionIds whether the graph takes {@code position_ids}
 * @param precision the cache inputs' element type: {@code FLOAT32}, or {@code FLOAT16} or {@code
 *     BFLOAT16} for a half-precision export (the runtime keeps its cache in the same type: a 16-bit
 *     cache is never converted, and takes half a float32 one's memory)
 * @param cacheBranch whether the graph takes {@code use_cache_branch} (bool [1]), as Optimum's merged
 *     decoder ({@code decoder_model_merged}) does: the runtime feeds it true when the pass has a
 *     past, false for a prefill (whose past is empty)
 * @param tensorHeads per cache tensor (i = 0..2×layers-1: layer i/2, key when i is even), its heads:
 *     layers may differ (models with per-layer key/value head counts), and keys from values
 * @param tensorHeadSizes per cache tensor, its head size (keys and values may differ, as in
 *     multi-head latent attention)
 */
public record CacheLayout(int layers, int heads, int headSize, boolean positionIds, DataType precision,
    boolean cacheBranch, java.util.List<Integer> tensorHeads, java.util.List<Integer> tensorHeadSizes) {

  static final String POSITION_IDS = "position_ids";
  /** The input by which Optimum's merged decoder chooses its with-cache branch. */
  static final String USE_CACHE_BRANCH = "use_cache_branch";
  private static final String FED = "input_ids, attention_mask, and with a cache position_ids,"
      + " past_key_values.N.key/.value and use_cache_branch";
  private static final Pattern PAST = Pattern.compile("past_key_values\\.(\\d+)\\.(key|value)");

  public CacheLayout {
    if (layers < 1 || heads < 1 || headSize < 1) {
      throw new IllegalArgumentException("cache layout: layers, heads and head size must be positive, got "
          + layers + ", " + heads + ", " + headSize);
    }
    if (precision != DataType.FLOAT32 && precision != DataType.FLOAT16 && precision != DataType.BFLOAT16) {
      throw new IllegalArgumentException("cache layout: the cache must be float32, float16 or bfloat16, got "
          + precision);
    }
    tensorHeads = java.util.List.copyOf(tensorHeads);
    tensorHeadSizes = java.util.List.copyOf(tensorHeadSizes);
    if (tensorHeads.size() != 2 * layers || tensorHeadSizes.size() != 2 * layers
        || tensorHeads.get(0) != heads || tensorHeadSizes.get(0) != headSize
        || tensorHeads.stream().anyMatch(h -> h < 1) || tensorHeadSizes.stream().anyMatch(d -> d < 1)) {
      throw new IllegalArgumentException("cache layout: per tensor heads " + tensorHeads + " and head sizes "
          + tensorHeadSizes + " must be positive, one of each per tensor (" + 2 * layers + "), the first "
          + heads + " and " + headSize);
    }
  }

  /** Every tensor with {@code heads} heads of {@code headSize}. */
  public CacheLayout(int layers, int heads, int headSize, boolean positionIds, DataType precision,
      boolean cacheBranch) {
    this(layers, heads, headSize, positionIds, precision, cacheBranch,
        java.util.Collections.nCopies(2 * Math.max(0, layers), heads),
        java.util.Collections.nCopies(2 * Math.max(0, layers), headSize));
  }

  /** A float32 cache, without {@code use_cache_branch}. */
  public CacheLayout(int layers, int heads, int headSize, boolean positionIds) {
    this(layers, heads, headSize, positionIds, DataType.FLOAT32, false);
  }

  /** A cache of {@code precision}, without {@code use_cache_branch}. */
  public CacheLayout(int layers, int heads, int headSize, boolean positionIds, DataType precision) {
    this(layers, heads, headSize, positionIds, precision, false);
  }

  /** Floats one position of one row takes in the cache: keys and values of every layer. */
  public int floatsPerPosition() {
    int floats = 0;
    for (int i = 0; i < 2 * layers; i++) {
      floats += heads(i) * headSize(i);
    }
    return floats;
  }

  /** The heads of cache tensor {@code i} (dimension 1 of its input). */
  public int heads(int i) {
    return tensorHeads.get(i);
  }

  /** The head size of cache tensor {@code i} (dimension 3 of its input). */
  public int headSize(int i) {
    return tensorHeadSizes.get(i);
  }

  /** Whether the cache is kept in 16 bits (float16 or bfloat16), not float32. */
  boolean halfPrecision() {
    return precision != DataType.FLOAT32;
  }

  /** Bytes one cached value takes: 4 for float32, 2 for float16 and bfloat16. */
  int bytesPerValue() {
    return halfPrecision() ? 2 : Float.BYTES;
  }

  /**
   * Bytes one position of a row takes in the runtime's cache: every layer's key and value, in the
   * cache's element type (what {@code model.kv-cache-mb} counts, a row reserving its prompt plus its
   * token limit).
   */
  public long bytesPerPosition() {
    return (long) bytesPerValue() * floatsPerPosition();
  }

  /** An empty past (no positions yet) for every cache tensor: the past of a prefill. */
  java.nio.Buffer[] emptyPast() {
    java.nio.Buffer[] past = new java.nio.Buffer[2 * layers];
    java.util.Arrays.fill(past, halfPrecision() ? java.nio.ByteBuffer.allocateDirect(0)
        .order(java.nio.ByteOrder.nativeOrder()) : FloatBuffer.allocate(0));
    return past;
  }

  /** The name of cache tensor {@code i} (0..2×layers-1: layer i/2, key when i is even) as an input. */
  static String pastName(int i) {
    return "past_key_values." + (i / 2) + (i % 2 == 0 ? ".key" : ".value");
  }

  /** The name of cache tensor {@code i} as an output. */
  static String presentName(int i) {
    return "present." + (i / 2) + (i % 2 == 0 ? ".key" : ".value");
  }

  /**
   * The layout of the graph in an ONNX file ({@link GraphInputs#read}), whichever engine later runs it.
   */
  static Optional<CacheLayout> read(java.nio.file.Path modelFile) {
    return Optional.ofNullable(GraphInputs.read(modelFile).cache());
  }

  /**
   * The layout the graph's inputs describe, or empty when the graph takes no cache (the layout of
   * models without one: {@code input_ids} and {@code attention_mask} only).
   *
   * @throws IllegalArgumentException when the graph takes an input the runtime does not feed (such
   *     as the {@code use_cache_branch} of a merged Optimum export), or the cache inputs are
   *     incomplete or disagree, naming the input
   */
  static Optional<CacheLayout> of(PairList<String, Shape> inputs) {
    return of(inputs, Map.of());
  }

  /**
   * As {@link #of(PairList)}, with the inputs' element types ({@code types}; an input not in it is
   * float32): every cache input must have the same one, float32, float16 or bfloat16.
   */
  static Optional<CacheLayout> of(PairList<String, Shape> inputs, Map<String, DataType> types) {
    Map<String, Shape> past = new HashMap<>();
    boolean positions = false;
    boolean branch = false;
    for (Pair<String, Shape> input : inputs) {
      String name = input.getKey();
      if (PAST.matcher(name).matches()) {
        past.put(name, input.getValue());
      } else if (name.equals(POSITION_IDS)) {
        positions = true;
      } else if (name.equals(USE_CACHE_BRANCH)) {
        DataType type = types.getOrDefault(name, DataType.BOOLEAN);
        Shape shape = input.getValue();
        if (type != DataType.BOOLEAN || shape == null || shape.size() != 1) {
          throw new IllegalArgumentException("model: input '" + USE_CACHE_BRANCH + "' is "
              + (type == DataType.UNKNOWN ? "not bool" : type.name().toLowerCase(java.util.Locale.ROOT)) + " "
              + shape + "; the runtime feeds it as Optimum's merged decoder takes it, one bool ([1])");
        }
        branch = true;
      } else if (!name.equals(StepTranslator.INPUT_IDS) && !name.equals(StepTranslator.ATTENTION_MASK)) {
        throw new IllegalArgumentException("model: the graph takes input '" + name + "'"
            + ", which the runtime does not feed: this layout is unsupported (it feeds " + FED + ")");
      }
    }
    if (past.isEmpty()) {
      if (positions || branch) {
        throw new IllegalArgumentException("model: the graph takes input '" + (positions ? POSITION_IDS
            : USE_CACHE_BRANCH) + "' but no past_key_values.N inputs: this layout is unsupported (without a cache the"
            + " runtime feeds input_ids and attention_mask only)");
      }
      return Optional.empty();
    }
    int layers = 0;
    for (String name : past.keySet()) {
      Matcher m = PAST.matcher(name);
      if (m.matches()) {
        layers = Math.max(layers, Integer.parseInt(m.group(1)) + 1);
      }
    }
    if (past.size() != 2 * layers) {
      throw new IllegalArgumentException("model: the graph has " + past.size()
          + " past_key_values inputs; a cache over " + layers + " layers needs " + 2 * layers
          + " (past_key_values.N.key and .value for N = 0.." + (layers - 1) + ")");
    }
    java.util.List<Integer> heads = new java.util.ArrayList<>();
    java.util.List<Integer> sizes = new java.util.ArrayList<>();
    for (int i = 0; i < 2 * layers; i++) {
      Shape shape = past.get(pastName(i));
      if (shape == null) {
        throw new IllegalArgumentException("model: the graph has no input " + pastName(i));
      }
      // Each tensor's own: layers may have different key/value head counts, keys another head size than values.
      heads.add(staticDim(shape, 1, pastName(i), "heads"));
      sizes.add(staticDim(shape, 3, pastName(i), "head size"));
    }
    DataType precision = types.getOrDefault(pastName(0), DataType.FLOAT32);
    for (int i = 0; i < 2 * layers; i++) {
      DataType type = types.getOrDefault(pastName(i), DataType.FLOAT32);
      if (type != DataType.FLOAT32 && type != DataType.FLOAT16 && type != DataType.BFLOAT16) {
        throw new IllegalArgumentException("model: input " + pastName(i) + " is " + typeName(type)
            + "; a cache input must be float32, float16 or bfloat16");
      }
      if (type != precision) {
        throw new IllegalArgumentException("model: input " + pastName(i) + " is " + typeName(type) + ", unlike "
            + pastName(0) + " (" + typeName(precision) + "); every cache input must have one element type");
      }
    }
    return Optional.of(new CacheLayout(layers, heads.get(0), sizes.get(0), positions, precision, branch, heads, sizes));
  }

  private static String typeName(DataType type) {
    return type == DataType.UNKNOWN ? "of a type other than float32, float16 and bfloat16"
        : type.name().toLowerCase(java.util.Locale.ROOT);
  }

  private static int staticDim(Shape shape, int axis, String input, String what) {
    if (shape == null || shape.dimension() != 4) {
      throw new IllegalArgumentException("model: input " + input + " has shape " + shape
          + "; a cache input must be [batch, heads, past_sequence, head_size]");
    }
    long dim = shape.get(axis);
    if (dim < 1) {
      throw new IllegalArgumentException("model: input " + input + " has a dynamic " + what + " dimension (axis "
          + axis + " of " + shape + "); the runtime reads the " + what + " from the graph, so it must be fixed");
    }
    return (int) dim;
  }
}
