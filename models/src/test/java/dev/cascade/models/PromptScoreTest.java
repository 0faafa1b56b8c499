package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.inference.Predictor;
import ai.djl.repository.zoo.ZooModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The prompt pass ({@link TextGenerator#scorePrompts}) against the model's own logits, one prefix at a time. */
class PromptScoreTest {

  private static final int ITEMS = 24;

  private static List<String> prompts() {
    // Words and phrases of different lengths, so that the batch is padded.
    List<String> out = new ArrayList<>();
    List<BundledModels.Item> test = BundledModels.testSplit();
    for (int i = 0; out.size() < ITEMS; i += 97) {
      out.add(test.get(i).prompt());
    }
    return out;
  }

  @Test
  void meanLogprobFirstTokenAndHiddenStateAreWhatTheModelsLogitsGive() throws Exception {
    DjlTextGenerator small = (DjlTextGenerator) BundledModels.generator("small");
    List<String> prompts = prompts();
    List<PromptScore> scores = small.scorePrompts(prompts);
    assertThat(scores).hasSize(ITEMS);
    CacheLayout layout = small.info().cache();
    try (ZooModel<DecodeStep, NextTokenScores> model =
            ModelLoader.load(ModelDirectory.resolve("small"), "OnnxRuntime", CpuThreads.ORT_DEFAULTS,
                GraphInputs.int64(layout));
        Predictor<DecodeStep, NextTokenScores> predictor = model.newPredictor()) {
      for (int i = 0; i < ITEMS; i++) {
        long[] ids = small.tokenizer().encodePrompt(prompts.get(i));
        long[] prefix = java.util.Arrays.copyOf(ids, ids.length + 1);
        prefix[ids.length] = small.tokenizer().sepId();
        // Manually: one unpadded pass per prefix length, reading the next token's log-softmax at the last position.
        double sum = 0;
        NextTokenScores last = null;
        for (int k = 1; k <= prefix.length; k++) {
          long[] head = java.util.Arrays.copyOf(prefix, k);
          long[] mask = new long[k];
          long[] positions = new long[k];
          for (int t = 0; t < k; t++) {
            mask[t] = 1;
            positions[t] = t;
          }
          last = predictor.predict(new DecodeStep(head, mask, 1, k, layout, positions, layout.emptyPast(), 0));
          if (k < prefix.length) {
            sum += PromptPass.logSoftmax(last.logits(), 0, last.vocab(), (int) prefix[k]);
          }
        }
        PromptScore score = scores.get(i);
        assertThat(score.tokens()).as(prompts.get(i)).isEqualTo(ids.length);
        assertThat(score.meanLogprob()).as(prompts.get(i)).isCloseTo(sum / ids.length, within(1e-4));
        assertThat(score.meanLogprob()).isNegative();
        assertThat(score.perplexity()).isCloseTo(Math.exp(-sum / ids.length), within(1e-3 * score.perplexity()));
        TokenDistribution.Choice first = TokenDistribution.greedy(last.logits(), 0, last.vocab());
        assertThat(score.firstLogprob()).isCloseTo(first.logprob(), within(1e-4f));
        assertThat(score.firstEntropy()).isCloseTo(first.entropy(), within(1e-4f));
        assertThat(score.lastHidden()).hasSize(last.width())
            .containsExactly(last.hidden(), org.assertj.core.data.Offset.offset(1e-4f));
      }
    }
  }

  @Test
  void theFirstAnswerTokenIsTheOneGenerationStartsWith() {
    TextGenerator small = BundledModels.generator("small");
    List<String> prompts = prompts();
    List<PromptScore> scores = small.scorePrompts(prompts);
    List<Generation> generations = small.generate(prompts, 48);
    for (int i = 0; i < ITEMS; i++) {
      assertThat(scores.get(i).firstLogprob()).as(prompts.get(i))
          .isCloseTo(generations.get(i).tokenLogprobs()[0], within(1e-4f));
      assertThat(scores.get(i).firstEntropy()).as(prompts.get(i))
          .isCloseTo(generations.get(i).entropies()[0], within(1e-4f));
    }
  }

  @Test
  void aPromptScoresTheSameAloneAsInAPaddedBatchAndWithoutTheCacheLayout() {
    TextGenerator small = BundledModels.generator("small");
    List<String> prompts = prompts();
    List<PromptScore> batched = small.scorePrompts(prompts);
    // The small model's weights exported before the cache: input_ids and attention_mask only.
    Path legacy = BundledModels.repoRoot().resolve("models/src/test/resources/models/legacy-nocache");
    try (TextGenerator old = TextGenerators.load(legacy.toString(), "OnnxRuntime", 5)) {
      List<PromptScore> plain = old.scorePrompts(prompts);
      for (int i = 0; i < ITEMS; i += 5) {
        PromptScore alone = small.scorePrompts(List.of(prompts.get(i))).get(0);
        assertThat(alone.meanLogprob()).isCloseTo(batched.get(i).meanLogprob(), within(1e-4));
        assertThat(plain.get(i).meanLogprob()).isCloseTo(batched.get(i).meanLogprob(), within(1e-4));
        assertThat(plain.get(i).lastHidden())
            .containsExactly(batched.get(i).lastHidden(), org.assertj.core.data.Offset.offset(1e-4f));
      }
    }
  }

  @Test
  void aPromptTheModelCannotTakeIsRefusedByIndex() {
    TextGenerator small = BundledModels.generator("small");
    assertThatThrownBy(() -> small.scorePrompts(List.of("cascade", " ")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("prompts[1]: prompt");
  }

  /**
   * A prompt scored before it is generated (the pre-generation skip's order) decodes from the
   * prompt pass's prefill, its cache and first token, not from a prefill of its own, to the same
   * answer: tokens, log-probabilities, entropies and embedding as a generator that never scored it.
   */
  @Test
  void aPromptScoredFirstDecodesFromThePassesPrefillToTheSameAnswer() {
    List<String> prompts = new ArrayList<>();
    List<BundledModels.Item> test = BundledModels.testSplit();
    for (int i = 0; prompts.size() < 150; i += 23) {
      if (!prompts.contains(test.get(i).prompt())) {
        prompts.add(test.get(i).prompt());
      }
    }
    try (TextGenerator plain = TextGenerators.load("small", "OnnxRuntime");
        TextGenerator scored = TextGenerators.load("small", "OnnxRuntime")) {
      List<Generation> expected = plain.generate(prompts, 48);
      scored.scorePrompts(prompts);
      List<Generation> out = scored.generate(prompts, 48);
      assertThat(scored.prefillsReused()).hasValue(prompts.size());
      assertThat(plain.prefillsReused()).hasValue(0);
      for (int i = 0; i < prompts.size(); i++) {
        Generation want = expected.get(i);
        Generation got = out.get(i);
        assertThat(got.tokens()).as(prompts.get(i)).isEqualTo(want.tokens());
        assertThat(got.tokenLogprobs()).as(prompts.get(i)).containsExactly(want.tokenLogprobs(),
            org.assertj.core.data.Offset.offset(1e-4f));
        assertThat(got.entropies()).as(prompts.get(i)).containsExactly(want.entropies(),
            org.assertj.core.data.Offset.offset(1e-4f));
        assertThat(got.embedding()).as(prompts.get(i)).containsExactly(want.embedding(),
            org.assertj.core.data.Offset.offset(1e-4f));
      }
      // Taken once: a second generation of the same prompts runs its own prefills.
      scored.generate(prompts.subList(0, 10), 48);
      assertThat(scored.prefillsReused()).hasValue(prompts.size());
    }
    try (TextGenerator off = TextGenerators.load("small", "OnnxRuntime",
        LoadOptions.DEFAULT.withPrefillReuse(false))) {
      off.scorePrompts(prompts.subList(0, 10));
      off.generate(prompts.subList(0, 10), 48);
      assertThat(off.prefillsReused()).isEmpty();
    }
  }
}
