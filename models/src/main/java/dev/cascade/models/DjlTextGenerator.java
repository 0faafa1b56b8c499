package dev.cascade.models;

import ai.djl.inference.Predictor;
import ai.djl.onnxruntime.engine.OrtSymbolBlock;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.TranslateException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A {@link TextGenerator} over a DJL model: the tokenizer ({@link ModelTokenizer}), the decoding
 * loop ({@link GreedyDecoder}) and the model call ({@link StepTranslator} on a {@link ZooModel})
 * are separate pieces; this class only wires them.
 *
 * <p>Thread-safe: each {@code generate} call opens its own {@link Predictor}; the engine's
 * session is shared (ONNX Runtime sessions accept concurrent runs). A call's prompts are sorted by
 * length and decoded in sub-batches of at most {@code maxBatch} rows, which keeps padding small.
 */
final class DjlTextGenerator implements TextGenerator {

  static final int DEFAULT_MAX_BATCH = 64;

  private final ZooModel<DecodeStep, NextTokenScores> model;
  private final ModelTokenizer tokenizer;
  private final GreedyDecoder decoder;
  private final ModelInfo info;
  private final int maxBatch;

  private DjlTextGenerator(ZooModel<DecodeStep, NextTokenScores> model, ModelTokenizer tokenizer, ModelInfo info,
      int maxBatch) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.decoder = new GreedyDecoder(tokenizer.padId(), tokenizer.eosId());
    this.info = info;
    this.maxBatch = maxBatch;
  }

  static DjlTextGenerator load(ModelDirectory dir, String engine, int maxBatch) {
    ZooModel<DecodeStep, NextTokenScores> model = ModelLoader.load(dir, engine);
    try {
      Map<String, String> metadata = model.getBlock() instanceof OrtSymbolBlock ort
          ? ort.getCustomMetadata() : Map.of();
      int context = dir.cardInt("context_length")
          .or(() -> Optional.ofNullable(metadata.get("context_length")).map(Integer::parseInt))
          .orElse(512);
      int maxNew = dir.cardInt("max_new_tokens")
          .or(() -> Optional.ofNullable(metadata.get("max_new_tokens")).map(Integer::parseInt))
          .orElse(Math.max(1, context / 4));
      long parameters = dir.card().map(c -> c.path("parameters").asLong(-1)).orElse(-1L);
      ModelTokenizer tokenizer = ModelTokenizer.load(dir.tokenizerFile(), dir.specialTokens(), context - 1 - maxNew);
      boolean hasHidden = hasHiddenOutput(model);
      ModelInfo info = new ModelInfo(dir.name(), model.getNDManager().getEngine().getEngineName(), parameters,
          context, maxNew, hasHidden);
      return new DjlTextGenerator(model, tokenizer, info, maxBatch);
    } catch (java.io.IOException | RuntimeException e) {
      model.close();
      if (e instanceof RuntimeException re) {
        throw re;
      }
      throw new IllegalArgumentException("model: cannot load " + dir.tokenizerFile() + ": " + e.getMessage(), e);
    }
  }

  private static boolean hasHiddenOutput(ZooModel<DecodeStep, NextTokenScores> model) {
    try (Predictor<DecodeStep, NextTokenScores> p = model.newPredictor()) {
      return p.predict(new DecodeStep(new long[] {1}, new long[] {1}, 1, 1)).hidden() != null;
    } catch (TranslateException e) {
      throw new IllegalStateException("model: a one-token forward pass failed: " + e.getMessage(), e);
    }
  }

  @Override
  public List<Generation> generate(List<String> prompts, int maxNewTokens) {
    return generate(prompts, maxNewTokens, Cancellation.NONE);
  }

  @Override
  public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
    if (maxNewTokens < 1 || maxNewTokens > info.maxNewTokensLimit()) {
      throw new IllegalArgumentException("maxNewTokens: " + maxNewTokens + " is outside 1.." + info.maxNewTokensLimit());
    }
    List<long[]> prefixes = new ArrayList<>(prompts.size());
    for (int i = 0; i < prompts.size(); i++) {
      Optional<String> problem = checkPrompt(prompts.get(i));
      if (problem.isPresent()) {
        throw new IllegalArgumentException("prompts[" + i + "]: " + problem.get());
      }
      long[] ids = tokenizer.encodePrompt(prompts.get(i));
      long[] prefix = Arrays.copyOf(ids, ids.length + 1);
      prefix[ids.length] = tokenizer.sepId();
      prefixes.add(prefix);
    }
    Integer[] order = new Integer[prompts.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, Comparator.comparingInt(i -> prefixes.get(i).length));
    Generation[] results = new Generation[prompts.size()];
    try (Predictor<DecodeStep, NextTokenScores> predictor = model.newPredictor()) {
      GreedyDecoder.ForwardPass pass = step -> {
        try {
          return predictor.predict(step);
        } catch (TranslateException e) {
          throw new IllegalStateException("forward pass failed on a " + step.rows() + "x" + step.length() + " batch: "
              + e.getMessage(), e);
        }
      };
      for (int start = 0; start < order.length; start += maxBatch) {
        int end = Math.min(order.length, start + maxBatch);
        List<long[]> batch = new ArrayList<>(end - start);
        int[] limits = new int[end - start];
        for (int j = start; j < end; j++) {
          long[] prefix = prefixes.get(order[j]);
          batch.add(prefix);
          limits[j - start] = Math.min(maxNewTokens, info.contextLength() - prefix.length);
        }
        List<Generation> out = decoder.decode(batch, limits, pass, cancellation, tokenizer::decode);
        for (int j = start; j < end; j++) {
          results[order[j]] = out.get(j - start);
        }
      }
    }
    return List.of(results);
  }

  @Override
  public Optional<String> checkPrompt(String prompt) {
    return tokenizer.checkPrompt(prompt);
  }

  @Override
  public ModelInfo info() {
    return info;
  }

  /** The tokenizer, for tests and tools that need ids. */
  ModelTokenizer tokenizer() {
    return tokenizer;
  }

  @Override
  public void close() {
    model.close();
    tokenizer.close();
  }
}
