package dev.cascade.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The large model checking the small model's answer as a draft: the same answer as without it,
 * on every test item, with the real bundled models. Most tests decode at most {@link #FEW_ROWS} rows
 * per step, one test 64.
 */
class SpeculativeDecodingTest {

  /** Rows per forward pass of most tests. */
  private static final int FEW_ROWS = 4;
  /** The large model, at most {@link #FEW_ROWS} rows per forward pass. */
  private static TextGenerator checking;

  @BeforeAll
  static void load() {
    checking = TextGenerators.load("large", "OnnxRuntime", FEW_ROWS);
  }

  @AfterAll
  static void close() {
    checking.close();
  }

  private static final Offset<Float> CLOSE = Offset.offset(1e-4f);
  private static final int ITEMS = 200;
  /** Fewer for the large model without a cache, which recomputes every sequence at every step. */
  private static final int NO_CACHE_ITEMS = 60;

  @Test
  void theBundledModelsShareOneTokenizer() {
    TextGenerator small = BundledModels.generator("small");
    TextGenerator large = BundledModels.generator("large");
    assertThat(small.tokenizerSha256()).isPresent().isEqualTo(large.tokenizerSha256());
    assertThat(small.tokenizerSha256().orElseThrow()).matches("[0-9a-f]{64}");
    TextGenerator bpe = TextGenerators.load(
        BundledModels.repoRoot().resolve("models/src/test/resources/models/rotary-bpe").toString(), "OnnxRuntime");
    try (bpe) {
      assertThat(bpe.tokenizerSha256()).isPresent().isNotEqualTo(small.tokenizerSha256());
    }
  }

  @Test
  void theTokenizerHashIgnoresFormattingButNotContent() throws Exception {
    var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
    String hash = ModelTokenizer.canonicalSha256(mapper.readTree("{\"model\": {\"vocab\": {\"a\": 1, \"b\": 2}}, \"x\": [1, 2]}"));
    assertThat(ModelTokenizer.canonicalSha256(mapper.readTree("{\"x\":[1,2],\"model\":{\"vocab\":{\"b\":2,\"a\":1}}}")))
        .isEqualTo(hash);
    assertThat(ModelTokenizer.canonicalSha256(mapper.readTree("{\"x\":[1,2],\"model\":{\"vocab\":{\"b\":1,\"a\":2}}}")))
        .isNotEqualTo(hash);
  }

  /**
   * Every test item, a superset of what any policy escalates: the large model with the small
   * model's greedy answer (PyTorch's, recorded; the Java small model's equal it, ParityTest) as the
   * draft answers exactly as it does without one, and keeps exactly the draft tokens that agree with
   * it (the first ones, then those after each place where the draft went on).
   */
  @Test
  void withTheSmallModelsAnswerAsDraftTheLargeModelAnswersTheSameOnEveryTestItem() {
    TextGenerator large = checking;
    List<BundledModels.TorchGreedy> small = BundledModels.torchGreedy("small");
    List<String> prompts = BundledModels.testSplit().stream().map(BundledModels.Item::prompt).toList();
    assertThat(small).extracting(BundledModels.TorchGreedy::prompt).containsExactlyElementsOf(prompts);
    int limit = large.info().maxNewTokensLimit();
    List<int[]> drafts = small.stream().map(BundledModels.TorchGreedy::tokens).toList();
    List<Generation> without = BundledModels.testOutputs("large");
    List<Generation> with = large.generate(prompts, drafts, limit, TextGenerator.Cancellation.NONE);
    long kept = 0;
    int wholeDraftKept = 0;
    for (int i = 0; i < prompts.size(); i++) {
      assertSame(with.get(i), without.get(i), prompts.get(i));
      assertThat(with.get(i).draftAccepted()).as(prompts.get(i))
          .isEqualTo(expectedKept(drafts.get(i), without.get(i).tokens(), limit));
      kept += with.get(i).draftAccepted();
      wholeDraftKept += with.get(i).draftAccepted() == drafts.get(i).length ? 1 : 0;
    }
    // The models agree often enough for the draft to matter (43% of small answers are exactly right).
    assertThat(kept).isPositive();
    assertThat(wholeDraftKept).isPositive();
    // 64 rows per pass, each checking its own draft: the same answers, the same tokens kept.
    List<Generation> busy = BundledModels.generator("large").generate(prompts, drafts, limit,
        TextGenerator.Cancellation.NONE);
    for (int i = 0; i < prompts.size(); i++) {
      assertSame(busy.get(i), without.get(i), prompts.get(i));
      assertThat(busy.get(i).draftAccepted()).as(prompts.get(i)).isEqualTo(with.get(i).draftAccepted());
    }
  }

  @Test
  void draftsRightToTheEndWrongAtTheFirstTokenLongerThanTheAnswerOrEmptyChangeNothing() {
    TextGenerator large = checking;
    List<String> prompts = prompts(ITEMS);
    List<Generation> without = BundledModels.testOutputs("large").subList(0, ITEMS);
    int limit = large.info().maxNewTokensLimit();
    for (String kind : List.of("right", "wrong-first", "longer", "empty")) {
      List<int[]> drafts = new ArrayList<>();
      for (Generation g : without) {
        int[] own = g.tokens();
        drafts.add(switch (kind) {
          case "right" -> own;
          case "wrong-first" -> own.length == 0 ? new int[0] : wrongFirst(own);
          case "longer" -> longer(own, limit);
          default -> new int[0];
        });
      }
      List<Generation> with = large.generate(prompts, drafts, limit, TextGenerator.Cancellation.NONE);
      for (int i = 0; i < ITEMS; i++) {
        String as = kind + ": " + prompts.get(i);
        assertSame(with.get(i), without.get(i), as);
        int own = without.get(i).tokens().length;
        int expected = switch (kind) {
          case "right", "longer" -> own;
          case "wrong-first" -> expectedKept(drafts.get(i), without.get(i).tokens(), limit);
          default -> 0;
        };
        assertThat(with.get(i).draftAccepted()).as(as).isEqualTo(expected);
        int[] answer = without.get(i).tokens();
        if (kind.equals("wrong-first") && own > 1
            && Arrays.stream(answer, 1, answer.length).noneMatch(t -> t == answer[0])) {
          // The row's first token is nowhere in the draft: it goes on past the token it replaced.
          assertThat(expected).as(as + ": all but the wrong token kept").isEqualTo(own - 1);
        }
      }
    }
  }

  @Test
  void concurrentCallsWithAndWithoutDraftsShareBatchesAndEachGetsItsOwnAnswer() throws Exception {
    List<String> prompts = prompts(ITEMS);
    List<Generation> without = BundledModels.testOutputs("large").subList(0, ITEMS);
    List<BundledModels.TorchGreedy> small = BundledModels.torchGreedy("small").subList(0, ITEMS);
    try (TextGenerator large = TextGenerators.load("large", "OnnxRuntime",
        LoadOptions.DEFAULT.withMaxBatch(FEW_ROWS).withThreads(new CpuThreads(1, 1, false)))) {
      // Six callers at once; the even ones send drafts, so drafted rows' checking passes run next
      // to other rows' one-token steps, and one call mixes rows with and without a draft.
      List<CompletableFuture<List<Generation>>> calls = new ArrayList<>();
      for (int c = 0; c < 6; c++) {
        List<String> mine = new ArrayList<>();
        List<int[]> drafts = new ArrayList<>();
        for (int i = c; i < ITEMS; i += 6) {
          mine.add(prompts.get(i));
          drafts.add(c % 2 == 0 || i % 4 == 1 ? small.get(i).tokens() : new int[0]);
        }
        calls.add(CompletableFuture.supplyAsync(() -> large.generate(mine, drafts, 48, TextGenerator.Cancellation.NONE)));
      }
      for (int c = 0; c < 6; c++) {
        List<Generation> got = calls.get(c).get();
        for (int j = 0, i = c; i < ITEMS; i += 6, j++) {
          assertSame(got.get(j), without.get(i), prompts.get(i));
          boolean drafted = c % 2 == 0 || i % 4 == 1;
          assertThat(got.get(j).draftAccepted()).as(prompts.get(i))
              .isEqualTo(drafted ? expectedKept(small.get(i).tokens(), without.get(i).tokens(), 48) : 0);
        }
      }
    }
  }

  @Test
  void withoutACacheTheFullPassChecksTheDraft() {
    List<String> prompts = prompts(NO_CACHE_ITEMS);
    List<BundledModels.TorchGreedy> small = BundledModels.torchGreedy("small").subList(0, NO_CACHE_ITEMS);
    List<int[]> drafts = small.stream().map(BundledModels.TorchGreedy::tokens).toList();
    List<Generation> without = BundledModels.testOutputs("large").subList(0, NO_CACHE_ITEMS);
    try (TextGenerator plain = TextGenerators.load("large", "OnnxRuntime",
        LoadOptions.DEFAULT.withMaxBatch(FEW_ROWS).withCache(CacheSettings.DISABLED))) {
      List<Generation> with = plain.generate(prompts, drafts, 48, TextGenerator.Cancellation.NONE);
      for (int i = 0; i < NO_CACHE_ITEMS; i++) {
        assertSame(with.get(i), without.get(i), prompts.get(i));
        assertThat(with.get(i).draftAccepted()).isEqualTo(expectedKept(drafts.get(i), without.get(i).tokens(), 48));
      }
    }
    // The old layout (no cache inputs at all): the small model's own answers as drafts of itself.
    Path legacy = BundledModels.repoRoot().resolve("models/src/test/resources/models/legacy-nocache");
    List<Generation> smallWithout = BundledModels.testOutputs("small").subList(0, NO_CACHE_ITEMS);
    try (TextGenerator old = TextGenerators.load(legacy.toString(), "OnnxRuntime", FEW_ROWS)) {
      List<Generation> with = old.generate(prompts, drafts, 48, TextGenerator.Cancellation.NONE);
      for (int i = 0; i < NO_CACHE_ITEMS; i++) {
        assertThat(with.get(i).tokens()).as(prompts.get(i)).isEqualTo(smallWithout.get(i).tokens());
        assertThat(with.get(i).draftAccepted()).as(prompts.get(i)).isEqualTo(drafts.get(i).length);
      }
    }
  }

  @Test
  void badDraftsAreRefusedNamingTheDraft() {
    TextGenerator large = BundledModels.generator("large");
    DjlTextGenerator djl = (DjlTextGenerator) large;
    int eos = (int) djl.tokenizer().eosId();
    int pad = (int) djl.tokenizer().padId();
    List<String> one = List.of("cat");
    var none = TextGenerator.Cancellation.NONE;
    assertThatThrownBy(() -> large.generate(one, List.of(new int[] {5, 6, 7}), 2, none))
        .hasMessageContaining("drafts[0]: 3 tokens is more than the 2 to generate");
    assertThatThrownBy(() -> large.generate(one, List.of(new int[] {5, 100_000}), 10, none))
        .hasMessageContaining("drafts[0]: token 1 is 100000, outside the vocabulary");
    assertThatThrownBy(() -> large.generate(one, List.of(new int[] {-1}), 10, none))
        .hasMessageContaining("drafts[0]: token 0 is -1, outside the vocabulary");
    assertThatThrownBy(() -> large.generate(one, List.of(new int[] {5, eos}), 10, none))
        .hasMessageContaining("drafts[0]: token 1 is " + eos + ", the end-of-sequence token");
    assertThatThrownBy(() -> large.generate(one, List.of(new int[] {pad}), 10, none))
        .hasMessageContaining("drafts[0]: token 0 is " + pad + ", the padding token");
    assertThatThrownBy(() -> large.generate(one, Collections.emptyList(), 10, none))
        .hasMessageContaining("drafts: 0 drafts for 1 prompts");
  }

  private static void assertSame(Generation with, Generation without, String as) {
    assertThat(with.tokens()).as(as).isEqualTo(without.tokens());
    assertThat(with.text()).as(as).isEqualTo(without.text());
    assertThat(with.tokenLogprobs()).as(as).containsExactly(without.tokenLogprobs(), CLOSE);
    assertThat(with.entropies()).as(as).containsExactly(without.entropies(), CLOSE);
    if (without.embedding() == null) {
      assertThat(with.embedding()).as(as).isNull();
    } else {
      assertThat(with.embedding()).as(as).containsExactly(without.embedding(), CLOSE);
    }
  }

  /**
   * How many tokens of {@code draft} a row whose greedy answer is {@code answer} keeps: the ones
   * that agree with it, the draft going on after each disagreement where {@link DecodingRow#resume}
   * says, until its end. Follows the answer alone, not the decoder's passes: how many tokens each pass checks
   * changes the passes, not what is kept.
   */
  static int expectedKept(int[] draft, int[] answer, int limit) {
    int kept = 0;
    int at = 0;
    int from = 0;
    while (from < draft.length && at < limit) {
      int agree = 0;
      while (from + agree < draft.length && at + agree < answer.length && draft[from + agree] == answer[at + agree]) {
        agree++;
      }
      kept += agree;
      if (at + agree >= answer.length || from + agree >= draft.length) {
        return kept; // the row ended (end-of-sequence or its limit), or the draft did
      }
      int own = answer[at + agree];
      at += agree + 1;
      from = DecodingRow.resume(draft, own, at, from + agree + 1);
    }
    return kept;
  }

  private static int[] wrongFirst(int[] own) {
    int[] draft = own.clone();
    // Another ordinary token (ids 4 and up are phonemes in the bundled vocabulary).
    draft[0] = own[0] == 4 ? 5 : 4;
    return draft;
  }

  private static int[] longer(int[] own, int limit) {
    if (own.length >= limit) {
      return own;
    }
    int[] draft = Arrays.copyOf(own, Math.min(limit, own.length + 3));
    Arrays.fill(draft, own.length, draft.length, 4);
    return draft;
  }

  private static List<String> prompts(int n) {
    return BundledModels.testSplit().subList(0, n).stream().map(BundledModels.Item::prompt).toList();
  }
}
