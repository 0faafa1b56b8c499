package dev.cascade.models;

import ai.djl.inference.Predictor;
import ai.djl.onnxruntime.engine.OrtSymbolBlock;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.TranslateException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
 * <p>Thread-safe. Every call's rows are decoded by a {@link ContinuousBatcher} on the model's
 * decoding threads ({@link CpuThreads#decoders()}, each with its own {@link Predictor} confined to
 * it, over one session): rows of concurrent calls share forward passes, at most {@code maxBatch}
 * rows per pass, and a row joins as another leaves when it is about as long as the rest. A
 * call's prompts are sorted by length first, which keeps padding small. A model whose graph takes
 * {@code past_key_values} ({@link CacheLayout}, read from the graph) decodes with a key/value cache
 * unless {@link CacheSettings} disables it.
 */
final class DjlTextGenerator implements TextGenerator {

  static final int DEFAULT_MAX_BATCH = 64;

  private final ZooModel<DecodeStep, NextTokenScores> model;
  private final ModelTokenizer tokenizer;
  private final ContinuousBatcher batcher;
  private final ModelInfo info;
  private final PromptPass promptPass;
  /** Prefills the prompt pass keeps for the decoder (with a cache); null without. */
  private final Prefills prefills;
  /** How many prefills are kept, per row a pass may hold: the prompts scored in a few batches ahead. */
  static final int PREFILLS_PER_ROW = 4;
  /** The width of the model's logits: token ids at or above it are outside its vocabulary. */
  private final int vocab;

  private DjlTextGenerator(ZooModel<DecodeStep, NextTokenScores> model, ModelTokenizer tokenizer, ModelInfo info,
      GraphInputs graph, int vocab, int maxBatch, int decoders, CacheSettings cache, boolean prefillReuse,
      DraftWindow draftWindow) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.info = info;
    this.vocab = vocab;
    // What the prompt pass computes for a prompt, the decoder's prefill of it need not compute again.
    this.prefills = info.kvCache() && prefillReuse ? new Prefills(PREFILLS_PER_ROW * maxBatch) : null;
    GreedyDecoder decoder = new GreedyDecoder(tokenizer.padId(), tokenizer.endIds(), info.cache(), info.kvCache(),
        draftWindow, prefills);
    this.batcher = new ContinuousBatcher(info.name(), decoder, () -> forwardPass(model), maxBatch, decoders,
        cache.budgetBytes());
    this.promptPass = new PromptPass(model, graph, tokenizer.padId(), maxBatch, prefills);
  }

  /** The model call: a predictor and the translator around it. */
  private static ContinuousBatcher.ForwardPassResource forwardPass(ZooModel<DecodeStep, NextTokenScores> model) {
    Predictor<DecodeStep, NextTokenScores> predictor = model.newPredictor();
    return new ContinuousBatcher.ForwardPassResource() {
      /** Per cache tensor, the native memory its past is written into at every step of this pass. */
      private ByteBuffer[] pasts = new ByteBuffer[0];

      @Override
      public java.nio.Buffer pastBuffer(int i, int values, boolean half) {
        if (i >= pasts.length) {
          pasts = Arrays.copyOf(pasts, i + 1);
        }
        int bytes = values * (half ? 2 : Float.BYTES);
        ByteBuffer held = pasts[i];
        if (held == null || held.capacity() < bytes) {
          // Grown by half again, so a batch whose past lengthens step by step reallocates rarely.
          int capacity = Math.max(bytes, held == null ? 0 : held.capacity() + held.capacity() / 2);
          held = ByteBuffer.allocateDirect(capacity).order(ByteOrder.nativeOrder());
          pasts[i] = held;
        }
        ByteBuffer view = held.duplicate().clear().limit(bytes).slice().order(ByteOrder.nativeOrder());
        return half ? view : view.asFloatBuffer();
      }

      @Override
      public NextTokenScores run(DecodeStep step) {
        try {
          return predictor.predict(step);
        } catch (TranslateException e) {
          throw new IllegalStateException("forward pass failed on a " + step.rows() + "x" + step.length() + " batch: "
              + e.getMessage(), e);
        }
      }

      @Override
      public void close() {
        predictor.close();
      }
    };
  }

  static DjlTextGenerator load(ModelDirectory dir, String engine, int maxBatch, CpuThreads threads,
      CacheSettings cacheSettings, DraftWindow draftWindow, boolean prefillReuse) {
    GraphInputs graph = GraphInputs.read(dir.modelFile());
    ZooModel<DecodeStep, NextTokenScores> model = ModelLoader.load(dir, engine, threads, graph);
    try {
      Map<String, String> metadata = model.getBlock() instanceof OrtSymbolBlock ort
          ? ort.getCustomMetadata() : Map.of();
      int context = dir.cardInt("context_length")
          .or(() -> Optional.ofNullable(metadata.get("context_length")).map(Integer::parseInt))
          .orElse(512);
      int maxNew = dir.cardInt("max_new_tokens")
          .or(() -> Optional.ofNullable(metadata.get("max_new_tokens")).map(Integer::parseInt))
          .orElse(Math.max(1, context / 4));
      long parameters = dir.card().map(c -> c.path("parameters").asLong(-1)).filter(n -> n > 0)
          .orElseGet(() -> countedParameters(dir));
      ModelTokenizer tokenizer;
      try {
        tokenizer = ModelTokenizer.load(dir.tokenizerFile(), dir.specialTokens(), dir.promptTemplate().orElse(null),
            context - 1 - maxNew);
      } catch (RuntimeException e) {
        String message = String.valueOf(e.getMessage());
        if (message.startsWith("special_tokens.") || message.startsWith("prompt_template:")) {
          throw new IllegalArgumentException(dir.path().resolve("card.json") + ": " + message, e);
        }
        if (message.startsWith("the tokenizer has no")) {
          throw new IllegalArgumentException(dir.tokenizerFile() + ": " + message.substring("the tokenizer ".length()), e);
        }
        throw new IllegalArgumentException(dir.tokenizerFile() + ": cannot be loaded as a Hugging Face tokenizer: "
            + message, e);
      }
      CacheLayout layout = graph.cache();
      NextTokenScores probe = probe(model, layout);
      // A tokenizer of another model would feed ids past the logits' width: refuse the pair now,
      // not with a failed forward pass on the first request.
      if (tokenizer.vocabularySize() > probe.vocab()) {
        throw new IllegalArgumentException(dir.tokenizerFile() + " has " + tokenizer.vocabularySize() + " tokens, but "
            + dir.modelFile() + " scores " + probe.vocab() + ": the tokenizer is not this model's");
      }
      ModelInfo info = new ModelInfo(dir.name(), model.getNDManager().getEngine().getEngineName(), parameters,
          context, maxNew, probe.hidden() != null, layout, layout != null && cacheSettings.enabled());
      return new DjlTextGenerator(model, tokenizer, info, graph, probe.vocab(), maxBatch, threads.decoders(), cacheSettings,
          prefillReuse, draftWindow);
    } catch (java.io.IOException | RuntimeException e) {
      model.close();
      if (e instanceof RuntimeException re) {
        throw re;
      }
      throw new IllegalArgumentException("model: cannot load " + dir.tokenizerFile() + ": " + e.getMessage(), e);
    }
  }

  /**
   * The values of the model's initializers ({@link OnnxFile#initializerValues()}), for a model whose
   * card does not give {@code parameters}; -1 when there are none.
   */
  private static long countedParameters(ModelDirectory dir) {
    long values = OnnxFile.read(dir.modelFile()).initializerValues();
    return values > 0 ? values : -1;
  }

  /**
   * A one-token forward pass: whether it returns a hidden state, and the logits' width; also checks
   * that the model runs at all.
   */
  private static NextTokenScores probe(ZooModel<DecodeStep, NextTokenScores> model, CacheLayout layout) {
    DecodeStep probe = new DecodeStep(new long[] {1}, new long[] {1}, 1, 1);
    if (layout != null) {
      probe = new DecodeStep(new long[] {1}, new long[] {1}, 1, 1, layout, new long[] {0}, layout.emptyPast(), 0);
    }
    try (Predictor<DecodeStep, NextTokenScores> p = model.newPredictor()) {
      NextTokenScores scores = p.predict(probe);
      if (layout != null && (scores.present() == null || scores.present().length != 2 * layout.layers())) {
        throw new IllegalArgumentException("model: the graph takes past_key_values for " + layout.layers()
            + " layers but returns " + (scores.present() == null ? 0 : scores.present().length)
            + " present.N.key/value outputs; it needs " + 2 * layout.layers());
      }
      return scores;
    } catch (TranslateException e) {
      throw new IllegalStateException("model: a one-token forward pass failed: " + e.getMessage(), e);
    }
  }

  @Override
  public java.util.OptionalLong prefillsReused() {
    return prefills == null ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(prefills.taken());
  }

  @Override
  public java.util.Optional<DecodingStats> decodingStats() {
    return java.util.Optional.of(batcher.stats());
  }

  @Override
  public List<Generation> generate(List<String> prompts, int maxNewTokens) {
    return generate(prompts, maxNewTokens, Cancellation.NONE);
  }

  @Override
  public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation) {
    return generate(prompts, java.util.Collections.nCopies(prompts.size(), new int[0]), maxNewTokens, cancellation,
        EarlyStop.NEVER);
  }

  @Override
  public List<Generation> generate(List<String> prompts, int maxNewTokens, Cancellation cancellation,
      EarlyStop earlyStop) {
    return generate(prompts, java.util.Collections.nCopies(prompts.size(), new int[0]), maxNewTokens, cancellation,
        earlyStop);
  }

  @Override
  public List<Generation> generate(List<String> prompts, List<int[]> drafts, int maxNewTokens,
      Cancellation cancellation) {
    return generate(prompts, drafts, maxNewTokens, cancellation, EarlyStop.NEVER);
  }

  /**
   * Checks each prompt's draft in its first forward pass ({@link GreedyDecoder}), and asks {@code
   * earlyStop} after each token. A draft longer than what the context leaves a long prompt is cut
   * to that: its tail could not be kept anyway.
   */
  @Override
  public List<Generation> generate(List<String> prompts, List<int[]> drafts, int maxNewTokens,
      Cancellation cancellation, EarlyStop earlyStop) {
    if (drafts.size() != prompts.size()) {
      throw new IllegalArgumentException("drafts: " + drafts.size() + " drafts for " + prompts.size() + " prompts");
    }
    if (maxNewTokens < 1 || maxNewTokens > info.maxNewTokensLimit()) {
      throw new IllegalArgumentException("maxNewTokens: " + maxNewTokens + " is outside 1.." + info.maxNewTokensLimit());
    }
    List<long[]> prefixes = new ArrayList<>(prompts.size());
    for (int i = 0; i < prompts.size(); i++) {
      Optional<String> problem = checkPrompt(prompts.get(i));
      if (problem.isPresent()) {
        throw new IllegalArgumentException("prompts[" + i + "]: " + problem.get());
      }
      Optional<String> draftProblem = checkDraft(drafts.get(i), maxNewTokens);
      if (draftProblem.isPresent()) {
        throw new IllegalArgumentException("drafts[" + i + "]: " + draftProblem.get());
      }
      prefixes.add(tokenizer.encodeInput(prompts.get(i)));
    }
    Integer[] order = new Integer[prompts.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, Comparator.comparingInt(i -> prefixes.get(i).length));
    List<long[]> sorted = new ArrayList<>(order.length);
    List<int[]> sortedDrafts = new ArrayList<>(order.length);
    int[] limits = new int[order.length];
    for (int j = 0; j < order.length; j++) {
      long[] prefix = prefixes.get(order[j]);
      sorted.add(prefix);
      limits[j] = Math.min(maxNewTokens, info.contextLength() - prefix.length);
      int[] draft = drafts.get(order[j]);
      sortedDrafts.add(draft.length > limits[j] ? Arrays.copyOf(draft, Math.max(0, limits[j])) : draft);
    }
    List<Generation> out = batcher.decode(sorted, sortedDrafts, limits, cancellation, inPromptOrder(earlyStop, order),
        tokenizer::decode);
    Generation[] results = new Generation[order.length];
    for (int j = 0; j < order.length; j++) {
      results[order[j]] = out.get(j);
    }
    return List.of(results);
  }

  /** {@code earlyStop} asked for row {@code j} of the sorted batch as for prompt {@code order[j]}, its index in the call. */
  private static EarlyStop inPromptOrder(EarlyStop earlyStop, Integer[] order) {
    if (earlyStop == EarlyStop.NEVER) {
      return earlyStop;
    }
    return new EarlyStop() {
      @Override
      public Check newCheck() {
        return earlyStop.newCheck();
      }

      @Override
      public EarlyStop forRow(int row) {
        return earlyStop.forRow(order[row]);
      }
    };
  }

  /** Each prompt's model input (its ids and the separator, or its template), every prompt checked first. */
  private List<long[]> prefixes(List<String> prompts) {
    List<long[]> prefixes = new ArrayList<>(prompts.size());
    for (int i = 0; i < prompts.size(); i++) {
      Optional<String> problem = checkPrompt(prompts.get(i));
      if (problem.isPresent()) {
        throw new IllegalArgumentException("prompts[" + i + "]: " + problem.get());
      }
      prefixes.add(tokenizer.encodeInput(prompts.get(i)));
    }
    return prefixes;
  }

  @Override
  public List<PromptScore> scorePrompts(List<String> prompts) {
    return promptPass.score(prefixes(prompts));
  }

  @Override
  public Optional<String> checkDraft(int[] draft, int maxNewTokens) {
    if (draft.length > maxNewTokens) {
      return Optional.of(draft.length + " tokens is more than the " + maxNewTokens + " to generate");
    }
    long[] ends = tokenizer.endIds(); // a copy: taken once, not per token
    for (int i = 0; i < draft.length; i++) {
      int id = draft[i];
      if (id < 0 || id >= vocab) {
        return Optional.of("token " + i + " is " + id + ", outside the vocabulary 0.." + (vocab - 1));
      }
      boolean end = DecodingRow.isEnd(id, ends);
      if (end || id == tokenizer.padId()) {
        return Optional.of("token " + i + " is " + id + ", the " + (end ? "end-of-sequence" : "padding")
            + " token (a draft is the answer's tokens, end-of-sequence excluded)");
      }
    }
    return Optional.empty();
  }

  @Override
  public Optional<String> tokenizerSha256() {
    return Optional.of(tokenizer.sha256());
  }

  @Override
  public Optional<String> checkPrompt(String prompt) {
    return tokenizer.checkPrompt(prompt);
  }

  @Override
  public java.util.OptionalInt promptTokens(String prompt) {
    try {
      return java.util.OptionalInt.of(tokenizer.encodePrompt(prompt).length);
    } catch (RuntimeException e) {
      return java.util.OptionalInt.empty();
    }
  }

  @Override
  public java.util.OptionalInt maxPromptTokens() {
    return java.util.OptionalInt.of(tokenizer.maxPromptTokens());
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
    batcher.close();
    model.close();
    tokenizer.close();
  }
}
