package dev.cascade.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslatorContext;

/**
 * Tensors in and out of one forward pass of a decoder-only LM with the Hugging Face signature:
 * {@code input_ids}, {@code attention_mask} (int64 or int32, as the graph declares: [batch, sequence]) → {@code logits} [batch,
 * sequence, vocab] and optionally {@code hidden} [batch, sequence, width]. Only the last
 * {@link DecodeStep#scored()} positions of each row are read back (one, but for a pass that checks
 * a draft).
 *
 * <p>With a key/value cache ({@link DecodeStep#cache()}), also {@code position_ids} (when the graph
 * takes it) and {@code past_key_values.N.key/value} in, and {@code present.N.key/value} out, of
 * which only the step's new positions are read back. The cache tensors go in and come back in the
 * element type the graph declares ({@link CacheLayout#precision()}: float32, or float16 / bfloat16
 * kept as their 16 bits); logits and hidden states are read as float32 from float32, float16 or
 * bfloat16, whichever they are.
 */
final class StepTranslator implements NoBatchifyTranslator<DecodeStep, NextTokenScores> {

  static final String INPUT_IDS = "input_ids";
  static final String ATTENTION_MASK = "attention_mask";
  static final String LOGITS = "logits";
  static final String HIDDEN = "hidden";

  /** Attachment key of the step's {@link DecodeStep#scored()}, read back by {@link #processOutput}. */
  private static final String SCORED = "scored";
  /** Attachment key of the step's cache layout (absent without one), read back by {@link #processOutput}. */
  private static final String CACHE = "cache";

  /** The element types of the graph's integer inputs. */
  private final GraphInputs graph;

  /** For a graph whose integer inputs have the types {@code graph} gives. */
  StepTranslator(GraphInputs graph) {
    this.graph = graph;
  }

  @Override
  public NDList processInput(TranslatorContext ctx, DecodeStep step) {
    ctx.setAttachment(SCORED, step.scored());
    NDManager manager = ctx.getNDManager();
    Shape shape = new Shape(step.rows(), step.length());
    NDArray ids = GraphInputs.integers(manager, step.inputIds(), shape, graph.inputIds(), INPUT_IDS);
    CacheLayout cache = step.cache();
    if (cache != null) {
      ctx.setAttachment(CACHE, cache);
    }
    Shape maskShape = cache == null ? shape : new Shape(step.rows(), step.pastLength() + step.length());
    NDArray mask = GraphInputs.integers(manager, step.attentionMask(), maskShape, graph.attentionMask(), ATTENTION_MASK);
    NDList inputs = new NDList(ids, mask);
    if (cache == null) {
      return inputs;
    }
    if (cache.positionIds()) {
      inputs.add(GraphInputs.integers(manager, step.positionIds(), shape, graph.positionIds(), CacheLayout.POSITION_IDS));
    }
    for (int i = 0; i < step.past().length; i++) {
      Shape pastShape = new Shape(step.rows(), cache.heads(i), step.pastLength(), cache.headSize(i));
      NDArray past = manager.create(step.past()[i], pastShape, cache.precision());
      past.setName(CacheLayout.pastName(i));
      inputs.add(past);
    }
    if (cache.cacheBranch()) {
      // Optimum's merged decoder: its with-cache branch once there is a past; without, it reads none.
      NDArray branch = manager.create(new boolean[] {step.pastLength() > 0}, new Shape(1));
      branch.setName(CacheLayout.USE_CACHE_BRANCH);
      inputs.add(branch);
    }
    return inputs;
  }

  @Override
  public NextTokenScores processOutput(TranslatorContext ctx, NDList outputs) {
    NDArray logits = outputs.get(LOGITS) != null ? outputs.get(LOGITS) : outputs.get(0);
    Shape shape = logits.getShape();
    int rows = (int) shape.get(0);
    int length = (int) shape.get(1);
    int vocab = (int) shape.get(2);
    int scored = (Integer) ctx.getAttachment(SCORED);
    float[] last = lastPositions(logits, rows, length, vocab, scored);
    NDArray hidden = outputs.get(HIDDEN);
    float[] hiddenLast = null;
    int width = 0;
    if (hidden != null) {
      width = (int) hidden.getShape().get(2);
      hiddenLast = lastPositions(hidden, rows, length, width, scored);
    }
    return new NextTokenScores(last, rows, vocab, hiddenLast, width, present(outputs, length, cachePrecision(ctx)),
        scored);
  }

  /** The element type of the cache of the step {@link #processInput} built in {@code ctx} (float32 without one). */
  static DataType cachePrecision(TranslatorContext ctx) {
    CacheLayout cache = (CacheLayout) ctx.getAttachment(CACHE);
    return cache == null ? DataType.FLOAT32 : cache.precision();
  }

  /**
   * The last {@code length} positions of each {@code present.N} output, in order, as a cache of
   * {@code precision} is kept ({@link HalfFloats#cacheValues}); null when there are none.
   */
  static Object[] present(NDList outputs, int length, DataType precision) {
    int tensors = countPresent(outputs);
    if (tensors == 0) {
      return null;
    }
    Object[] present = new Object[tensors];
    for (int i = 0; i < tensors; i++) {
      present[i] = HalfFloats.cacheValues(outputs.get(CacheLayout.presentName(i)), length, precision);
    }
    return present;
  }

  private static int countPresent(NDList outputs) {
    int n = 0;
    while (outputs.get(CacheLayout.presentName(n)) != null) {
      n++;
    }
    return n;
  }

  /** The last {@code scored} positions of each row of a [rows, length, width] tensor. */
  private static float[] lastPositions(NDArray array, int rows, int length, int width, int scored) {
    HalfFloats.Reader all = HalfFloats.reader(array);
    float[] out = new float[rows * scored * width];
    for (int r = 0; r < rows; r++) {
      all.get(((r * length) + length - scored) * width, out, r * scored * width, scored * width);
    }
    return out;
  }
}
