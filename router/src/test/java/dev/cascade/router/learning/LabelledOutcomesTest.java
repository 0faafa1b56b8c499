package dev.cascade.router.learning;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.router.features.FeatureExtractor;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.avro.LabelledExample;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import dev.cascade.schemas.avro.StageLatencies;
import java.util.HashMap;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class LabelledOutcomesTest {

  private static RoutingOutcome.Builder outcome(Decision decision, double propensity, String small, String large) {
    return RoutingOutcome.newBuilder().setRequestId("r").setPrompt("p").setSmallText(small)
        .setFeatures(new HashMap<>(FeatureExtractor.extract(new float[] {-0.5f, -1f}, new float[] {1f, 2f}).asMap()))
        .setRule("chow-sum").setScore(1.5).setThreshold(1).setPolicyVersion(1).setDecision(decision)
        .setPropensity(propensity)
        .setServedBy(large == null ? ServedBy.SMALL : ServedBy.LARGE).setLargeText(large)
        .setAgree(large == null ? null : small.equals(large))
        .setLatencies(StageLatencies.newBuilder().build()).setCreatedAtMs(0).setCompletedAtMs(5);
  }

  private static Feedback.Builder feedback() {
    return Feedback.newBuilder().setRequestId("r").setSource("user").setCreatedAtMs(9);
  }

  @Test
  void aReferenceLabelsBothModelsAndAnAcceptedRightAnswerWeighsOne() {
    LabelledExample e = LabelledOutcomes.label(outcome(Decision.ACCEPT, 0.05, "a", null).setReference("a")
        .setSmallCorrect(true).build(), null, 3).orElseThrow();
    assertThat(e.getLabelSource()).isEqualTo("reference");
    assertThat(e.getSmallCorrect()).isTrue();
    assertThat(e.getLargeCorrect()).isNull();
    assertThat(e.getEscalated()).isFalse();
    assertThat(e.getSeq()).isEqualTo(3);
    assertThat(LabelledOutcomes.weight(e, 50)).isEqualTo(1.0);
    DeferralExample d = LabelledOutcomes.toDeferralExample(e, 50);
    assertThat(d.benefit()).isFalse();
    assertThat(d.labelSource()).isEqualTo("reference");
  }

  @Test
  void anAnswerStoppedEarlyIsNoLabelWhateverTheFeedbackOrTheLargeAnswer() {
    RoutingOutcome stopped = outcome(Decision.DEFER, 1.0, "k ' a", "k ' a s k eI d").setReference("k ' a s k eI d")
        .setLargeCorrect(true).setSmallStop("early-defer").setSmallStopStep(3).build();
    assertThat(LabelledOutcomes.label(stopped, null, 0)).isEmpty();
    assertThat(LabelledOutcomes.label(stopped, feedback().setCorrect(true).build(), 0)).isEmpty();
    // The same outcome decoded to its end is a label.
    assertThat(LabelledOutcomes.label(RoutingOutcome.newBuilder(stopped).setSmallStop("eos").setSmallStopStep(4)
        .setSmallCorrect(false).build(), null, 0)).isPresent();
  }

  @Test
  void anAnswerDecodedWholeByLabelSamplingStandsForTheStoppedOnesRightOrWrong() {
    // Deferred, decoded to its end because its label draw fell under the share 0.1.
    LabelledExample wrong = LabelledOutcomes.label(outcome(Decision.DEFER, 1.0, "a", "b").setReference("b")
        .setSmallCorrect(false).setLargeCorrect(true).setSmallStop("eos").setLabelPropensity(0.1).build(), null, 0)
        .orElseThrow();
    assertThat(wrong.getLabelPropensity()).isEqualTo(0.1);
    assertThat(LabelledOutcomes.weight(wrong, 50)).isEqualTo(10.0, org.assertj.core.data.Offset.offset(1e-9));
    assertThat(LabelledOutcomes.weight(wrong, 4)).isEqualTo(4.0);
    // A right small answer too: without the sampling its correctness would be unknown as well.
    LabelledExample right = LabelledOutcomes.label(outcome(Decision.DEFER, 1.0, "b", "b").setReference("b")
        .setSmallCorrect(true).setLargeCorrect(true).setLabelPropensity(0.1).build(), null, 0).orElseThrow();
    assertThat(LabelledOutcomes.weight(right, 50)).isEqualTo(10.0, org.assertj.core.data.Offset.offset(1e-9));
    // The teacher's label of an explored one multiplies both probabilities.
    LabelledExample taught = LabelledOutcomes.label(outcome(Decision.EXPLORE, 0.5, "a", "a").setLabelPropensity(0.25)
        .build(), null, 0).orElseThrow();
    assertThat(LabelledOutcomes.weight(taught, 50)).isEqualTo(8.0, org.assertj.core.data.Offset.offset(1e-9));
    assertThat(LabelledOutcomes.observation(taught).labelPropensity()).isEqualTo(0.25);
    // Not recorded, or out of range: 1.
    assertThat(LabelledOutcomes.labelPropensity(LabelledExample.newBuilder(wrong).setLabelPropensity(null).build()))
        .isEqualTo(1.0);
    assertThat(LabelledOutcomes.labelPropensity(LabelledExample.newBuilder(wrong).setLabelPropensity(-1.0).build()))
        .isEqualTo(1.0);
  }

  @Test
  void anAcceptedWrongAnswerWithoutTheLargeModelIsKeptForComparisonsOnly() {
    LabelledExample e = LabelledOutcomes.label(outcome(Decision.ACCEPT, 0.05, "a", null).setReference("b")
        .setSmallCorrect(false).build(), null, 0).orElseThrow();
    assertThat(e.getLargeCorrect()).isNull();
    DoublyRobust.Observation o = LabelledOutcomes.observation(e);
    assertThat(o.largeObserved()).as("no training label").isFalse();
    assertThat(o.comparable()).as("its large-model correctness is estimated").isTrue();
    assertThat(o.propensity()).isEqualTo(0.05);
    // Without a reference such a request carries nothing: its peers without feedback are unlabelled.
    assertThat(LabelledOutcomes.label(outcome(Decision.ACCEPT, 0.05, "a", null).build(),
        feedback().setCorrect(false).build(), 0)).isEmpty();
  }

  @Test
  void anExploredWrongAnswerWeighsTheInverseOfItsPropensityClipped() {
    LabelledExample e = LabelledOutcomes.label(outcome(Decision.EXPLORE, 0.05, "a", "b").setReference("b")
        .setSmallCorrect(false).setLargeCorrect(true).build(), null, 0).orElseThrow();
    assertThat(LabelledOutcomes.weight(e, 50)).isEqualTo(20.0, org.assertj.core.data.Offset.offset(1e-9));
    assertThat(LabelledOutcomes.weight(e, 10)).isEqualTo(10.0);
    assertThat(LabelledOutcomes.toDeferralExample(e, 50).benefit()).isTrue();
    LabelledExample deferred = LabelledOutcomes.label(outcome(Decision.DEFER, 1.0, "a", "b").setReference("b")
        .setSmallCorrect(false).setLargeCorrect(true).build(), null, 0).orElseThrow();
    assertThat(LabelledOutcomes.weight(deferred, 50)).isEqualTo(1.0);
  }

  @Test
  void theLargeModelTeachesWhereNothingElseDoesAndEveryTeacherLabelIsWeighted() {
    LabelledExample agree = LabelledOutcomes.label(outcome(Decision.EXPLORE, 0.1, "a", "a").build(), null, 0)
        .orElseThrow();
    assertThat(agree.getLabelSource()).isEqualTo("teacher");
    assertThat(agree.getSmallCorrect()).isTrue();
    assertThat(LabelledOutcomes.weight(agree, 50)).isEqualTo(10.0, org.assertj.core.data.Offset.offset(1e-9));
    assertThat(LabelledOutcomes.label(outcome(Decision.ACCEPT, 0.1, "a", null).build(), null, 0)).isEmpty();
  }

  @Test
  void feedbackBeatsTheTeacherButNotTheReference() {
    RoutingOutcome escalated = outcome(Decision.DEFER, 1.0, "a", "b").build();
    LabelledExample corrected = LabelledOutcomes.label(escalated, feedback().setCorrectedText("a").build(), 0)
        .orElseThrow();
    assertThat(corrected.getLabelSource()).isEqualTo("feedback");
    assertThat(corrected.getSmallCorrect()).isTrue();
    assertThat(corrected.getLargeCorrect()).isFalse();
    // The large model served and the user says it was right: the small one, which disagreed, was wrong.
    LabelledExample verdict = LabelledOutcomes.label(escalated, feedback().setCorrect(true).build(), 0).orElseThrow();
    assertThat(verdict.getSmallCorrect()).isFalse();
    assertThat(verdict.getLargeCorrect()).isTrue();
    // The large model served and the user says it was wrong: never the teacher's "large right".
    // The small answer differed, so whether it was right is unknown: no label.
    assertThat(LabelledOutcomes.label(escalated, feedback().setCorrect(false).build(), 0)).isEmpty();
    // The same answer from both: both wrong, labelled by the feedback.
    LabelledExample bothWrong = LabelledOutcomes.label(outcome(Decision.DEFER, 1.0, "b", "b").build(),
        feedback().setCorrect(false).build(), 0).orElseThrow();
    assertThat(bothWrong.getLabelSource()).isEqualTo("feedback");
    assertThat(bothWrong.getSmallCorrect()).isFalse();
    assertThat(bothWrong.getLargeCorrect()).isFalse();
    // The small model served and the user says it was right: labelled without the large model.
    Optional<LabelledExample> accepted = LabelledOutcomes.label(outcome(Decision.ACCEPT, 0.05, "a", null).build(),
        feedback().setCorrect(true).build(), 0);
    assertThat(accepted.orElseThrow().getLabelSource()).isEqualTo("feedback");
    assertThat(LabelledOutcomes.weight(accepted.get(), 50)).isEqualTo(1.0);
    LabelledExample referenced = LabelledOutcomes.label(outcome(Decision.DEFER, 1.0, "a", "b").setReference("b")
        .setSmallCorrect(false).setLargeCorrect(true).build(), feedback().setCorrectedText("a").build(), 0)
        .orElseThrow();
    assertThat(referenced.getLabelSource()).isEqualTo("reference");
    assertThat(referenced.getSmallCorrect()).isFalse();
  }

  @Test
  void anOutcomeWithoutAPropensityCountsAsCertain() {
    LabelledExample e = LabelledOutcomes.label(outcome(Decision.EXPLORE, 0.05, "a", "b").setPropensity(null)
        .setReference("b").setSmallCorrect(false).setLargeCorrect(true).build(), null, 0).orElseThrow();
    assertThat(e.getPropensity()).isEqualTo(1.0);
  }
}
