package dev.cascade.router.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.Generation;
import dev.cascade.router.escalation.LargeAnswer;
import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.router.policy.Decision;
import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.Escalation;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.TierAnswer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The token counts a response carries are the serving model's, whichever model served it and
 * however its server reported them: never counted again from the text, whose pieces are not its
 * tokens for a subword tokenizer (every answer here has fewer tokens than space-separated pieces).
 */
class RoutingRecordsTokensTest {

  /** Five pieces, three tokens (a subword tokenizer joins them otherwise). */
  private static final Generation SMALL = new Generation("s m a l l", new int[] {7, 8, 9},
      new float[] {-0.1f, -0.2f, -0.3f}, new float[] {0.1f, 0.1f, 0.1f}, null);

  /** Code points as the cost model counts them, so that a count taken from the text shows. */
  private final RoutingRecords records = new RoutingRecords(new CostModel(1, 10), CostModel::promptTokens);

  private static PendingRequest request(String id) {
    return new PendingRequest(CascadeRequest.newBuilder().setRequestId(id).setPrompt("a prompt")
        .setMetadata(Map.of()).setCreatedAtMs(0).build(), 1_000);
  }

  private static Scored scored(Decision decision) {
    return new Scored(FeatureExtractor.extract(SMALL.tokenLogprobs(), SMALL.entropies()), "chow-sum", 0, 0.6, 0.5,
        3, decision, 1.0);
  }

  private Escalation escalation(String id) {
    return records.escalated(request(id), SMALL, scored(Decision.DEFER), 1, 10, 1_010).escalation();
  }

  @Test
  void theResponseNamesTheLearnedRulesVersionAsTheOutcomeDoesAndNoneForAClosedFormRule() {
    Scored learned = new Scored(FeatureExtractor.extract(SMALL.tokenLogprobs(), SMALL.entropies()),
        "posthoc-quantile", 0, 0.6, 0.5, 3, Decision.ACCEPT, 1.0, 7L, 0.0, Map.of(), null);
    Routed.Answered answered = records.answered(request("v"), SMALL, learned, 1, 10, 1_010);
    assertThat(answered.response().getRuleVersion()).isEqualTo(7L);
    assertThat(answered.outcome().getRuleVersion()).isEqualTo(7L);
    Scored deferred = new Scored(learned.features(), "posthoc-quantile", 0, 0.6, 0.5, 3, Decision.DEFER, 1.0, 0L,
        1.0, Map.of(), null);
    Escalation e = records.escalated(request("w"), SMALL, deferred, 1, 10, 1_010).escalation();
    assertThat(records.afterEscalation(e, new LargeAnswer("l a r g e", new int[] {1, 2}, new float[2], 5, 1, 2, 0,
        0, false, 6), null, 5, 1_020).response().getRuleVersion()).as("the shipped rule, version 0").isEqualTo(0L);
    assertThat(records.answered(request("x"), SMALL, scored(Decision.ACCEPT), 1, 10, 1_010).response()
        .getRuleVersion()).isNull();
  }

  @Test
  void aSmallAnswerCarriesTheSmallModelsTokenCountAndNoPromptCountOfItsOwn() {
    CascadeResponse r = records.answered(request("a"), SMALL, scored(Decision.ACCEPT), 1, 10, 1_010).response();
    assertThat(r.getCompletionTokens()).isEqualTo(3);
    // The door counts the prompt with the small model's tokenizer, the one that read it.
    assertThat(r.getPromptTokens()).isNull();
  }

  @Test
  void aLaterTiersAnswerCarriesItsServersCountsWithOrWithoutTokenIds() {
    // cascade://: token ids (4 of them for 7 pieces) and the server's prompt count.
    CascadeResponse withIds = records.afterEscalation(escalation("b"), new LargeAnswer("l a r g e s t",
        new int[] {1, 2, 3, 4}, new float[4], 5, 1, 4, 0, 0, false, 6), null, 5, 1_020).response();
    assertThat(withIds.getServedBy()).isEqualTo(ServedBy.LARGE);
    assertThat(withIds.getCompletionTokens()).isEqualTo(4);
    assertThat(withIds.getPromptTokens()).isEqualTo(6);

    // kserve:// or openai://: no ids, the server's counts alone.
    Routed.Answered counted = records.afterEscalation(escalation("c"), new LargeAnswer("l a r g e", new int[0],
        new float[0], 5, 1, 2, 0, 0, false, 5), null, 5, 1_020);
    assertThat(counted.response().getCompletionTokens()).isEqualTo(2);
    assertThat(counted.response().getPromptTokens()).isEqualTo(5);
    TierAnswer tier = counted.outcome().getTierAnswers().get(0);
    assertThat(tier.getOutputTokens()).isEqualTo(2);
    assertThat(tier.getPromptTokens()).isEqualTo(5);
    // The large-only cost counts the same 2 tokens as the tier's own cost: "a prompt" is 8 code points.
    assertThat(tier.getCostUnits()).isEqualTo(10.0 * (8 + 2));
    assertThat(counted.outcome().getCostUnitsLargeOnly()).isEqualTo(10.0 * (8 + 2));
  }

  @Test
  void aServerThatSaysNoCountLeavesTheResponsesCountsUnknown() {
    Routed.Answered unknown = records.afterEscalation(escalation("d"), new LargeAnswer("l a r g e", new int[0],
        new float[0], 5, 1, -1), null, 5, 1_020);
    assertThat(unknown.response().getCompletionTokens()).isNull();
    assertThat(unknown.response().getPromptTokens()).isNull();
    assertThat(unknown.outcome().getTierAnswers().get(0).getOutputTokens()).isNull();
    // The costs estimate it from the text's code points, as before.
    assertThat(unknown.outcome().getCostUnitsLargeOnly()).isEqualTo(10.0 * (8 + 9));
  }

  @Test
  void aDegradedAnswerCarriesTheCountOfTheModelWhoseTextItIs() {
    CascadeResponse small = records.afterEscalation(escalation("e"), null, "UNAVAILABLE", 5, 1_020).response();
    assertThat(small.getServedBy()).isEqualTo(ServedBy.SMALL_DEGRADED);
    assertThat(small.getText()).isEqualTo("s m a l l");
    assertThat(small.getCompletionTokens()).isEqualTo(3);

    // Degraded to a middle tier's whole answer kept by a router before output_tokens: its ids count.
    Escalation e = escalation("f");
    TierAnswer middle = TierAnswer.newBuilder(records.tierAnswer(e, 1, "medium", 4, new LargeAnswer("m e d i u m",
        new int[] {4, 5}, new float[2], 5, 1), null, 9.0, true)).setOutputTokens(null).setPromptTokens(null).build();
    CascadeResponse fromMiddle = records.afterTiers(Escalation.newBuilder(e).setTierAnswers(List.of(middle)).build(),
        null, "UNAVAILABLE", 5, 1_020).response();
    assertThat(fromMiddle.getText()).isEqualTo("m e d i u m");
    assertThat(fromMiddle.getServedTier()).isEqualTo(1);
    assertThat(fromMiddle.getCompletionTokens()).isEqualTo(2);
    assertThat(fromMiddle.getPromptTokens()).isNull();
  }
}
