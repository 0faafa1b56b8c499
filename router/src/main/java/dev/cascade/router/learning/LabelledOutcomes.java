package dev.cascade.router.learning;

import dev.cascade.router.features.UncertaintyFeatures;
import dev.cascade.schemas.avro.Decision;
import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.avro.LabelledExample;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.avro.ServedBy;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Labels routing outcomes for the continuous learner, and weights them so that training and
 * evaluation see the traffic as it is, not only the part the current rule escalated.
 *
 * <h2>Label sources</h2>
 *
 * <p>Most trusted first: the request's <b>reference</b> answer ({@code small_correct} and {@code
 * large_correct} on the outcome); user <b>feedback</b> joined by request id (a corrected answer
 * decides both models' correctness where their answers are known; a verdict decides the served
 * model's, and, when the large model served and was right, the small one's by agreement); the
 * large model as <b>teacher</b> (taken as right, the small one right where it agrees with it).
 *
 * <h2>Which outcomes carry a label, and the weights</h2>
 *
 * <p>The learner's label is the benefit of deferring: the large model right where the small one is
 * wrong. Where the small answer is known to be right, the label is known (no benefit) whether or
 * not the request was escalated. Where the small answer is wrong, the label needs the large
 * model's answer, which exists only for escalated requests. So a request whose small answer was
 * wrong is labelled with probability {@code p}, its propensity: 1 when the rule deferred it, the
 * exploration rate ε when the rule accepted it and exploration escalated it anyway. Teacher labels
 * exist only for escalated requests, right or wrong, so they all have probability {@code p}. An
 * accepted request with a reference and a wrong small answer is kept all the same, without the
 * large model's correctness: it is no training label, but comparisons of rules count it, estimating
 * the large model's correctness ({@link DoublyRobust}).
 *
 * <p>The weight of an example is the inverse of the probability that it was labelled (the
 * Horvitz-Thompson, or inverse-propensity, estimator): 1 for a right small answer labelled by
 * reference or feedback, {@code 1/p} otherwise, clipped at {@code maxWeight}. Weighted sums over
 * the labelled examples are then unbiased for sums over all requests, provided every request had
 * a positive chance of escalation (ε > 0). The price is variance: an explored example with ε = 5%
 * counts 20 times, so a few dozen explored examples stand for the whole accepted region. Clipping
 * the weight lowers the variance and biases the accepted region's share down; at the default
 * clip (50) it binds only for ε below 2%.
 *
 * <p>Early deferral stops the small model once deferring is decided, so such a request's answer is
 * unfinished and it has no label ({@link #STOPPED_EARLY}). Label sampling ({@code
 * small.early-defer-label-share} = q) decodes a share q of them to their end, drawn by request id;
 * each records q as its label propensity, and its weight is divided by q: the sampled ones stand
 * for all the stopped ones. Without it the deferred region is represented only by requests whose
 * score passed the threshold at their last token.
 *
 * <p>For comparing rules by their deferral curves an example also needs the large model's
 * correctness, known only where it was escalated; {@link DoublyRobust} estimates it for the rest
 * ({@link #observation}).
 */
public final class LabelledOutcomes {

  /** Label sources, most trusted first. */
  public static final String REFERENCE = "reference";
  public static final String FEEDBACK = "feedback";
  public static final String TEACHER = "teacher";

  private LabelledOutcomes() {}

  /** Whether the outcome is labelled by its reference alone, so feedback could not change its label. */
  public static boolean hasReference(RoutingOutcome outcome) {
    return outcome.getSmallCorrect() != null;
  }

  /** Why an outcome gives no example: the small model failed, so there is no answer and no features. */
  public static final String SMALL_FAILED = "small model failed";
  /** Why an outcome gives no example: early deferral stopped the small answer, whose correctness is not known. */
  public static final String STOPPED_EARLY = "small model stopped early (deferral decided)";
  /** Why an outcome gives no example: the pre-generation skip left the small model out. */
  public static final String PREGEN_SKIPPED = "small model skipped (pre-generation skip)";
  /** Why an outcome gives no example: its deadline had passed, so no model answered it at all. */
  public static final String DEADLINE_EXCEEDED = "no model ran (deadline_exceeded)";
  /** Why an outcome gives no example: nothing says whether the small answer was right. */
  public static final String NO_LABEL = "no reference, feedback or large answer (accepted)";
  /** Why an outcome gives no example: feedback says the small answer was wrong, and the large model gave none. */
  public static final String WRONG_NO_LARGE = "small answer wrong by feedback, no large answer";

  /**
   * Why the small model's side of an outcome cannot be labelled at all ({@link #DEADLINE_EXCEEDED},
   * {@link #SMALL_FAILED}, {@link #STOPPED_EARLY}, {@link #PREGEN_SKIPPED}), or null when it has a
   * whole answer.
   */
  public static String unanswered(RoutingOutcome outcome) {
    if (outcome.getDeadlineExceeded()) {
      return DEADLINE_EXCEEDED; // answered without any model: no answer, no features, nothing decided
    }
    if (outcome.getSmallFailure() != null) {
      return SMALL_FAILED; // no small answer, no features: nothing to learn a deferral from
    }
    // an unfinished small answer (or none: skipped before generation): its correctness, the label, is not known
    if (dev.cascade.router.routing.SmallStop.EARLY_DEFER.equals(outcome.getSmallStop())) {
      return STOPPED_EARLY;
    }
    if (dev.cascade.router.routing.SmallStop.PREGEN_SKIP.equals(outcome.getSmallStop())) {
      return PREGEN_SKIPPED;
    }
    return null;
  }

  /**
   * The example an outcome gives, or why it gives none.
   *
   * @param example the example, or null
   * @param skipReason null when there is an example; else one of this class's reasons
   */
  public record Labelled(LabelledExample example, String skipReason) {}

  /**
   * The example an outcome gives, with optional feedback, or empty when it carries no label.
   *
   * @param seq the example's arrival order at the learner
   */
  public static Optional<LabelledExample> label(RoutingOutcome outcome, Feedback feedback, long seq) {
    return Optional.ofNullable(labelOrSkip(outcome, feedback, seq).example());
  }

  /** As {@link #label}, saying why when the outcome gives no example. */
  public static Labelled labelOrSkip(RoutingOutcome outcome, Feedback feedback, long seq) {
    Objects.requireNonNull(outcome, "outcome");
    String unanswered = unanswered(outcome);
    if (unanswered != null) {
      return new Labelled(null, unanswered);
    }
    Boolean small = null;
    Boolean large = null;
    String source = null;
    if (outcome.getSmallCorrect() != null) {
      small = outcome.getSmallCorrect();
      large = outcome.getLargeCorrect();
      source = REFERENCE;
    } else if (feedback != null) {
      String largeText = outcome.getLargeText();
      if (feedback.getCorrectedText() != null) {
        String right = feedback.getCorrectedText();
        small = outcome.getSmallText().equals(right);
        large = largeText == null ? null : largeText.equals(right);
      } else if (feedback.getCorrect() != null) {
        boolean correct = feedback.getCorrect();
        if (outcome.getServedBy() == ServedBy.LARGE) {
          large = correct;
          if (correct && largeText != null) {
            small = outcome.getSmallText().equals(largeText);
          } else if (!correct && outcome.getSmallText().equals(largeText)) {
            small = false; // the same answer, and the user says it is wrong
          }
        } else {
          small = correct;
        }
      }
      source = FEEDBACK;
    }
    // The teacher labels only what nobody said: a verdict that the large answer was wrong is kept,
    // and with the small answer's correctness unknown the outcome has no label.
    if (small == null && large == null && outcome.getLargeText() != null) {
      small = outcome.getAgree() != null ? outcome.getAgree() : outcome.getLargeText().equals(outcome.getSmallText());
      large = true;
      source = TEACHER;
    }
    // A wrong small answer needs the large model's to be a training label; with a reference it is
    // kept without one all the same, because comparisons estimate the large model's (DoublyRobust).
    if (small == null) {
      return new Labelled(null, NO_LABEL);
    }
    if (!small && large == null && !REFERENCE.equals(source)) {
      return new Labelled(null, WRONG_NO_LARGE);
    }
    boolean escalated = outcome.getDecision() != Decision.ACCEPT;
    Double recorded = outcome.getPropensity();
    double propensity = recorded == null || !(recorded > 0) ? 1.0 : Math.min(1.0, recorded);
    String rule = outcome.getRuleVersion() == null ? outcome.getRule()
        : outcome.getRule() + "@" + outcome.getRuleVersion();
    return new Labelled(LabelledExample.newBuilder()
        .setRequestId(outcome.getRequestId())
        .setSeq(seq)
        .setPromptHash(PromptHash.of(outcome.getPrompt()))
        .setFeatures(outcome.getFeatures())
        .setSmallEmbedding(outcome.getSmallEmbedding())
        .setSmallCorrect(small)
        .setLargeCorrect(large)
        .setLabelSource(source)
        .setEscalated(escalated)
        .setPropensity(propensity)
        .setLabelPropensity(outcome.getLabelPropensity())
        .setRule(rule)
        .setOutcomeAtMs(outcome.getCompletedAtMs())
        .setReceivedAtMs(outcome.getCompletedAtMs() - Math.round(outcome.getLatencies().getTotalMs()))
        .build(), null);
  }

  /**
   * Why a labelled example is kept for comparisons but is no training label: a wrong small answer
   * whose large-model correctness is unknown (accepted, not explored), whose benefit of deferring
   * is then unknown.
   */
  public static final String NOT_TRAINABLE =
      "small answer wrong, large model's correctness unknown (not escalated, or escalation failed: no training label)";

  /**
   * Whether the example is a training label, as the continuous learner trains on it: a right small
   * answer, or one the large model answered on escalation.
   */
  public static boolean trainable(LabelledExample example) {
    return example.getSmallCorrect() || observation(example).largeObserved();
  }

  /**
   * The inverse of the probability that this example was labelled, clipped at {@code maxWeight}:
   * 1 for a right small answer labelled without the large model, {@code 1/propensity} otherwise;
   * either divided by its label propensity ({@link #labelPropensity}).
   */
  public static double weight(LabelledExample example, double maxWeight) {
    boolean needsLarge = !example.getSmallCorrect() || TEACHER.equals(example.getLabelSource());
    double escalation = needsLarge ? example.getPropensity() : 1.0;
    return Math.min(maxWeight, 1.0 / (escalation * labelPropensity(example)));
  }

  /**
   * The probability that the example's small answer was decoded whole: the share of label sampling
   * ({@code small.early-defer-label-share}) for a request that early deferral would have stopped,
   * 1 for every other (and where it was not recorded, or out of range).
   */
  public static double labelPropensity(LabelledExample example) {
    Double recorded = example.getLabelPropensity();
    return recorded == null || !(recorded > 0) ? 1.0 : Math.min(1.0, recorded);
  }

  /**
   * How the example was observed, for comparing rules on it ({@link DoublyRobust}): a reference
   * labels a request whether or not it was escalated, so where the large model did not answer its
   * correctness can be estimated; feedback and teacher labels exist only for the requests they
   * reached, so such an example is compared on only where the large model answered.
   */
  public static DoublyRobust.Observation observation(LabelledExample example) {
    return new DoublyRobust.Observation(REFERENCE.equals(example.getLabelSource()), example.getEscalated(),
        example.getPropensity(), example.getLargeCorrect(), labelPropensity(example));
  }

  /** The training example: features, embedding, label and weight. */
  public static DeferralExample toDeferralExample(LabelledExample example, double maxWeight) {
    UncertaintyFeatures features = UncertaintyFeatures.fromMap(example.getFeatures());
    List<Float> embedding = example.getSmallEmbedding();
    float[] vector = null;
    if (embedding != null) {
      vector = new float[embedding.size()];
      for (int i = 0; i < vector.length; i++) {
        vector[i] = embedding.get(i);
      }
    }
    // Where the large model's correctness is unknown and the small answer was right there is no
    // benefit either way (the large model counts as right). Where the small answer was wrong the
    // example is not a training label (see trainable) and false only stands in.
    boolean large = example.getLargeCorrect() == null ? example.getSmallCorrect() : example.getLargeCorrect();
    return new DeferralExample(features, vector, example.getSmallCorrect(), large, weight(example, maxWeight),
        example.getLabelSource(), example.getPromptHash());
  }
}
