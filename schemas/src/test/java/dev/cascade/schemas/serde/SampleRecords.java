package dev.cascade.schemas.serde;

import dev.cascade.schemas.avro.CascadeRequest;
import dev.cascade.schemas.avro.CascadeResponse;
import dev.cascade.schemas.avro.DeadLetter;
import dev.cascade.schemas.avro.DeadLetterHeader;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.DeferralPolicy;
import dev.cascade.schemas.avro.Escalation;
import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.avro.LabelledExample;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.RuleModel;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificRecordBase;

/** Fully populated records of every type, with every optional field set. */
final class SampleRecords {

  static final long CREATED = 1_716_000_000_000L;

  private SampleRecords() {}

  static StageLatencies latencies() {
    return StageLatencies.newBuilder()
        .setQueueMs(1.5).setSmallModelMs(12.25).setRuleMs(0.125).setEscalationMs(480.0)
        .setTotalMs(494.0).build();
  }

  static Map<String, Double> features() {
    return Map.of("q0", -3.2, "q50", -0.4, "q100", -0.01, "sum", -5.5, "mean", -0.6,
        "length", 9.0, "entropy_q50", 0.8);
  }

  static CascadeRequest request() {
    return CascadeRequest.newBuilder()
        .setRequestId("req-1").setPrompt("spell: knight").setMaxNewTokens(32)
        .setReference("n ai t").setMetadata(Map.of("tenant", "demo", "task", "g2p"))
        .setBypassCache(true).setReplyTo("frontdoor-7").setCreatedAtMs(CREATED)
        // Set, not left to the default: building a default list of records makes Avro check the
        // element class, which a JVM that has not loaded the serde does not trust yet.
        .setMessages(java.util.List.of()).build();
  }

  static CascadeResponse response() {
    return CascadeResponse.newBuilder()
        .setRequestId("req-1").setText("n ai t").setServedBy(ServedBy.LARGE)
        .setDeferralScore(0.73).setThreshold(0.5).setPolicyVersion(4).setRule("chow-quantile")
        .setLatencies(latencies()).setCacheHit(false).setReplyTo("frontdoor-7")
        .setCreatedAtMs(CREATED).setCompletedAtMs(CREATED + 494).setCompletionTokens(3).setPromptTokens(6).build();
  }

  /**
   * The outcome of a deferred request answered by the large model: the request, small generation,
   * verdict, reference, latencies, metadata and creation time of {@link #escalation()}, deferred
   * rather than explored, with the large answer, correctness, cost and completion added.
   */
  static RoutingOutcome outcome() {
    RoutingOutcome outcome = sharedFields(escalation(), new RoutingOutcome());
    outcome.setDecision(Decision.DEFER);
    outcome.setServedBy(ServedBy.LARGE);
    outcome.setLargeText("n ai t");
    outcome.setLargeTokens(List.of(14, 3, 20));
    outcome.setLargeTokenLogprobs(List.of(-0.1f, -0.02f, -0.05f));
    outcome.setAgree(false);
    outcome.setSmallCorrect(false);
    outcome.setLargeCorrect(true);
    outcome.setCostUnits(41.0);
    outcome.setCostUnitsLargeOnly(40.0);
    outcome.setDegraded(false);
    outcome.setDegradedReason(null);
    outcome.setCacheHit(false);
    outcome.setCompletedAtMs(CREATED + 494);
    return outcome;
  }

  static Escalation escalation() {
    return Escalation.newBuilder()
        .setRequestId("req-1").setPrompt("spell: knight").setMaxNewTokens(32)
        .setSmallText("k n ai t").setSmallTokens(List.of(11, 14, 3, 20))
        .setSmallTokenLogprobs(List.of(-3.2f, -0.4f, -0.01f, -0.2f))
        .setSmallEntropies(List.of(1.9f, 0.8f, 0.05f, 0.3f))
        .setSmallEmbedding(List.of(0.1f, -0.2f, 0.3f))
        .setFeatures(features()).setRule("chow-quantile").setAlpha(0.0).setScore(3.2)
        .setThreshold(2.0).setPolicyVersion(4).setDecision(Decision.EXPLORE)
        .setReference("n ai t").setBypassCache(false).setReplyTo("frontdoor-7")
        .setMetadata(Map.of("tenant", "demo")).setCreatedAtMs(CREATED)
        .setEscalatedAtMs(CREATED + 14).setLatencies(latencies()).setRuleVersion(null).setPropensity(0.05)
        .setShadowScores(Map.of("chow-sum", 3.6)).setRuleFallbackReason(null).build();
  }

  /**
   * {@code to} with every field of {@code from} that its schema has by the same name (the values
   * themselves, not copies: {@code from} is a throwaway). Plain puts, so that no Avro class lookup
   * (and so no trusted-packages check) is involved.
   */
  private static <R extends SpecificRecordBase> R sharedFields(SpecificRecordBase from, R to) {
    for (Schema.Field field : to.getSchema().getFields()) {
      Schema.Field same = from.getSchema().getField(field.name());
      if (same != null) {
        to.put(field.pos(), from.get(same.pos()));
      }
    }
    return to;
  }

  static DeferralPolicy policy() {
    return DeferralPolicy.newBuilder()
        .setRule("post-hoc-quantile").setAlpha(0.1).setThreshold(0.42).setExplorationRate(0.02)
        .setTargetEscalationRate(0.3).setRuleModelVersion(7L).setVersion(12)
        .setUpdatedBy("learner").setUpdatedAtMs(CREATED).setReason("beat chow-sum on AUC-DF")
        .setShadowRules(List.of("chow-sum", "post-hoc-quantile@6")).setFallbackRule("chow-sum")
        .build();
  }

  static RuleModel ruleModel() {
    return RuleModel.newBuilder()
        .setName("post-hoc-quantile").setVersion(7).setLearner("tribuo-logistic-sgd")
        .setFeatureNames(List.of("q0", "q10", "sum", "length"))
        .setParameters(ByteBuffer.wrap(new byte[] {1, 2, 3, (byte) 0xFF, 0}))
        .setTrainingDataRange("outcomes 0-5, 2024-05-01/2024-05-02")
        .setValidationMetrics(Map.of("auc_df", 0.61, "auc_df_gain_over_random", 0.14))
        .setCreatedAtMs(CREATED).setModelFingerprint("ab".repeat(32)).setFeatureLayout("uncertainty/v1")
        .setCalibrationScores(List.of(0.1, 0.7)).setCalibrationWeights(List.of(1.0, 20.0))
        .setTrainingPrompts(List.of(-5L, 17L)).build();
  }

  static LabelledExample labelledExample() {
    return LabelledExample.newBuilder()
        .setRequestId("req-1").setSeq(41).setPromptHash(-123456789L).setFeatures(features())
        .setSmallEmbedding(List.of(0.5f, -0.25f)).setSmallCorrect(false).setLargeCorrect(true)
        .setLabelSource("reference").setEscalated(true).setPropensity(0.05).setRule("chow-sum")
        .setOutcomeAtMs(CREATED).build();
  }

  static Feedback feedback() {
    return Feedback.newBuilder()
        .setRequestId("req-1").setCorrect(false).setCorrectedText("n ai t")
        .setSource("user:42").setCreatedAtMs(CREATED).build();
  }

  static DeadLetter deadLetter() {
    return DeadLetter.newBuilder()
        .setTopic("requests").setPartition(3).setOffset(1234L)
        .setKey(ByteBuffer.wrap("req-9".getBytes(StandardCharsets.UTF_8)))
        .setValue(ByteBuffer.wrap("{not avro}".getBytes(StandardCharsets.UTF_8)))
        .setHeaders(List.of(
            DeadLetterHeader.newBuilder().setKey("trace").setValue(ByteBuffer.wrap(new byte[] {9}))
                .build(),
            DeadLetterHeader.newBuilder().setKey("empty").setValue(null).build()))
        .setTimestampMs(CREATED).setReason("bad magic").setErrorClass(
            SchemaDecodingException.class.getName())
        .setStage("deserialize").setFailedAtMs(CREATED + 1).build();
  }
}
