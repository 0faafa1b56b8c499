package dev.cascade.models;

import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslateException;
import ai.djl.translate.TranslatorContext;
import java.util.ArrayList;
import java.util.List;

/**
 * Scores prompts with one forward pass each, no decoding ({@link PromptScore}): the input of a
 * prompt-only deferral rule. A separate translator from {@link StepTranslator}, which reads back
 * only the last position: here every position's logits are needed.
 *
 * <p>The prefixes of one call are left-padded into one batch (at most {@code maxBatch} rows per
 * pass); positions come from the attention mask, so padding changes nothing. A model with a
 * key/value cache gets an empty past, as a prefill does, and with {@link Prefills} to keep them,
 * each row's cache and first-token scores are kept for the decoder, which then starts that
 * prompt from them instead of running its prefill again.
 */
final class PromptPass {

  /**
   * A forward pass's full logits [rows, length, vocab], the hidden state at each row's last
   * position, and with a cache the {@code present} tensors ([rows, heads, length, head_size] each,
   * in the cache's element type as {@link NextTokenScores#present()}; null without).
   */
  record AllLogits(float[] logits, int rows, int length, int vocab, float[] lastHidden, int width,
      Object[] present) {}

  private final ZooModel<DecodeStep, NextTokenScores> model;
  private final GraphInputs graph;
  private final CacheLayout layout;
  private final long pad;
  private final int maxBatch;
  /** Where each row's prefill is kept for the decoder; null: not kept (no cache, or the decoder keeps none). */
  private final Prefills prefills;

  PromptPass(ZooModel<DecodeStep, NextTokenScores> model, GraphInputs graph, long padId, int maxBatch,
      Prefills prefills) {
    this.model = model;
    this.graph = graph;
    this.layout = graph.cache();
    this.pad = padId;
    this.maxBatch = maxBatch;
    this.prefills = layout == null ? null : prefills;
  }

  /** One score per prefix (prompt ids followed by the separator), in order; batched by length, so little is padded. */
  List<PromptScore> score(List<long[]> prefixes) {
    Integer[] order = new Integer[prefixes.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    java.util.Arrays.sort(order, java.util.Comparator.comparingInt(i -> prefixes.get(i).length));
    PromptScore[] out = new PromptScore[order.length];
    try (Predictor<DecodeStep, AllLogits> predictor = model.newPredictor(new Translator(graph, prefills != null))) {
      for (int start = 0; start < order.length; start += maxBatch) {
        List<long[]> batch = new ArrayList<>();
        for (int j = start; j < Math.min(order.length, start + maxBatch); j++) {
          batch.add(prefixes.get(order[j]));
        }
        AllLogits pass;
        try {
          pass = predictor.predict(step(batch));
        } catch (TranslateException e) {
          throw new IllegalStateException("prompt pass failed on " + batch.size() + " prompts: " + e.getMessage(), e);
        }
        for (int r = 0; r < batch.size(); r++) {
          out[order[start + r]] = scoreRow(pass, r, batch.get(r));
          if (prefills != null && pass.present() != null) {
            prefills.put(batch.get(r), prefill(pass, r));
          }
        }
      }
    }
    return List.of(out);
  }

  /** The left-padded batch; with a cache layout, positions from the mask and an empty past. */
  private DecodeStep step(List<long[]> batch) {
    int length = batch.stream().mapToInt(p -> p.length).max().orElse(0);
    int rows = batch.size();
    long[] ids = new long[rows * length];
    long[] mask = new long[rows * length];
    long[] positions = new long[rows * length];
    for (int r = 0; r < rows; r++) {
      long[] prefix = batch.get(r);
      int offset = length - prefix.length;
      java.util.Arrays.fill(ids, r * length, r * length + offset, pad);
      for (int t = 0; t < prefix.length; t++) {
        ids[r * length + offset + t] = prefix[t];
        mask[r * length + offset + t] = 1;
        positions[r * length + offset + t] = t;
      }
    }
    if (layout == null) {
      return new DecodeStep(ids, mask, rows, length);
    }
    return new DecodeStep(ids, mask, rows, length, layout, positions, layout.emptyPast(), 0);
  }

  /** Row r's score: its prefix sits right-aligned in the pass. */
  private static PromptScore scoreRow(AllLogits pass, int r, long[] prefix) {
    int offset = pass.length() - prefix.length;
    int vocab = pass.vocab();
    double sum = 0;
    for (int t = 0; t + 1 < prefix.length; t++) {
      int at = ((r * pass.length()) + offset + t) * vocab;
      sum += logSoftmax(pass.logits(), at, vocab, (int) prefix[t + 1]);
    }
    int last = ((r * pass.length()) + pass.length() - 1) * vocab;
    TokenDistribution.Choice first = TokenDistribution.greedy(pass.logits(), last, vocab);
    float[] hidden = null;
    if (pass.lastHidden() != null) {
      hidden = java.util.Arrays.copyOfRange(pass.lastHidden(), r * pass.width(), (r + 1) * pass.width());
    }
    int tokens = prefix.length - 1;
    return new PromptScore(tokens, sum / tokens, first.logprob(), first.entropy(), hidden);
  }

  /** Row r's prefill: its last position's logits and hidden state, and its own slice of each cache tensor. */
  private static Prefills.Prefill prefill(AllLogits pass, int r) {
    int vocab = pass.vocab();
    float[] last = java.util.Arrays.copyOfRange(pass.logits(), ((r + 1) * pass.length() - 1) * vocab,
        (r + 1) * pass.length() * vocab);
    float[] hidden = pass.lastHidden() == null ? null
        : java.util.Arrays.copyOfRange(pass.lastHidden(), r * pass.width(), (r + 1) * pass.width());
    Object[] present = new Object[pass.present().length];
    for (int i = 0; i < present.length; i++) {
      Object all = pass.present()[i];
      int perRow = java.lang.reflect.Array.getLength(all) / pass.rows();
      present[i] = all instanceof short[] shorts ? java.util.Arrays.copyOfRange(shorts, r * perRow, (r + 1) * perRow)
          : java.util.Arrays.copyOfRange((float[]) all, r * perRow, (r + 1) * perRow);
    }
    return new Prefills.Prefill(new NextTokenScores(last, 1, vocab, hidden, pass.width(), present), pass.length());
  }

  /** log softmax(logits[at, at + vocab))[token]. */
  static double logSoftmax(float[] logits, int at, int vocab, int token) {
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < vocab; i++) {
      max = Math.max(max, logits[at + i]);
    }
    double sum = 0;
    for (int i = 0; i < vocab; i++) {
      sum += Math.exp(logits[at + i] - max);
    }
    return logits[at + token] - max - Math.log(sum);
  }

  /**
   * The inputs as {@link StepTranslator} builds them; every position's logits out, and the present
   * cache only when it is kept (copying it out of the engine costs as much as the logits).
   */
  private static final class Translator implements NoBatchifyTranslator<DecodeStep, AllLogits> {
    private final StepTranslator inputs;
    private final boolean keepPresent;

    Translator(GraphInputs graph, boolean keepPresent) {
      this.inputs = new StepTranslator(graph);
      this.keepPresent = keepPresent;
    }

    @Override
    public NDList processInput(TranslatorContext ctx, DecodeStep step) {
      return inputs.processInput(ctx, step);
    }

    @Override
    public AllLogits processOutput(TranslatorContext ctx, NDList outputs) {
      NDArray logits = outputs.get(StepTranslator.LOGITS) != null ? outputs.get(StepTranslator.LOGITS) : outputs.get(0);
      Shape shape = logits.getShape();
      int rows = (int) shape.get(0);
      int length = (int) shape.get(1);
      int vocab = (int) shape.get(2);
      float[] all = new float[rows * length * vocab];
      HalfFloats.reader(logits).get(0, all, 0, all.length);
      NDArray hidden = outputs.get(StepTranslator.HIDDEN);
      float[] lastHidden = null;
      int width = 0;
      if (hidden != null) {
        width = (int) hidden.getShape().get(2);
        HalfFloats.Reader buffer = HalfFloats.reader(hidden);
        lastHidden = new float[rows * width];
        for (int r = 0; r < rows; r++) {
          buffer.get(((r * length) + length - 1) * width, lastHidden, r * width, width);
        }
      }
      return new AllLogits(all, rows, length, vocab, lastHidden, width,
          keepPresent ? StepTranslator.present(outputs, length, StepTranslator.cachePrecision(ctx)) : null);
    }
  }
}
