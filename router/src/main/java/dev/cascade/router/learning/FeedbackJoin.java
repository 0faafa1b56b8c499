package dev.cascade.router.learning;

import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.avro.RoutingOutcome;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The feedback on the feedback topic ({@code topic.feedback}), by request id, for labelling routing
 * outcomes read offline ({@code eval --outcomes}, {@code train-rule --outcomes}) as the continuous
 * learner labels them: an outcome's label is {@link LabelledOutcomes#labelOrSkip} of the outcome and
 * its feedback, so a reference supersedes feedback and feedback supersedes the large model as
 * teacher. Unlike the learner, which waits {@code learn.feedback-window-ms} for an outcome's feedback,
 * every feedback record on the topic is joined, whenever it was written. Of several records on one
 * request id the first (in offset order, and so in the order they were written) joins, as it does at
 * the learner when the outcome came first; the later ones are counted as ignored. As at the learner,
 * a record keyed otherwise than by its request id is not joined (the learner dead-letters it).
 */
public final class FeedbackJoin {

  /** No feedback: outcomes are labelled by their reference or the large model alone. */
  public static final FeedbackJoin NONE = new FeedbackJoin(null, Map.of(), 0, 0, 0, 0, false);

  private final String topic;
  private final Map<String, Feedback> byId;
  private final long records;
  private final long undecodable;
  private final long misKeyed;
  private final long repeated;
  private final boolean missing;

  private FeedbackJoin(String topic, Map<String, Feedback> byId, long records, long undecodable, long misKeyed,
      long repeated, boolean missing) {
    this.topic = topic;
    this.byId = byId;
    this.records = records;
    this.undecodable = undecodable;
    this.misKeyed = misKeyed;
    this.repeated = repeated;
    this.missing = missing;
  }

  /**
   * Reads every feedback record on {@code topic}; a topic that does not exist gives no feedback
   * (and says so in {@link #summary()}).
   *
   * @param clientProperties at least the brokers ({@link TopicSnapshot#clientProperties})
   */
  public static FeedbackJoin read(Map<String, Object> clientProperties, String topic,
      CascadeAnswers.Progress progress) {
    return read(clientProperties, topic, progress, Long.MAX_VALUE);
  }

  /**
   * As above, about the newest {@code newest} feedback records only: enough for the newest
   * outcomes, whose feedback comes after them (the tier tuner's rounds read that many of each).
   */
  public static FeedbackJoin read(Map<String, Object> clientProperties, String topic,
      CascadeAnswers.Progress progress, long newest) {
    Objects.requireNonNull(topic, "topic");
    Map<String, Feedback> byId = new HashMap<>();
    long[] counts = new long[2]; // keyed otherwise, repeated
    TopicSnapshot.Read read;
    try {
      read = TopicSnapshot.readFeedback(clientProperties, topic, (key, feedback) -> {
        String id = feedback.getRequestId();
        if (!id.equals(key)) {
          counts[0]++;
        } else if (byId.putIfAbsent(id, feedback) != null) {
          counts[1]++;
        }
      }, progress, newest);
    } catch (IllegalArgumentException noTopic) {
      return new FeedbackJoin(topic, Map.of(), 0, 0, 0, 0, true);
    }
    return new FeedbackJoin(topic, byId, read.records(), read.undecodable(), counts[0], counts[1], false);
  }

  /** The feedback that joins this outcome, or null. */
  public Feedback on(RoutingOutcome outcome) {
    return byId.get(outcome.getRequestId());
  }

  /** Request ids with feedback. */
  public int size() {
    return byId.size();
  }

  /**
   * One line: the topic, its records and request ids, and those not joined, e.g. {@code feedback
   * topic cascade.feedback: 2150 records on 2150 request ids}.
   */
  public String summary() {
    if (topic == null) {
      return "no feedback topic read";
    }
    if (missing) {
      return "feedback topic " + topic + " does not exist: outcomes are labelled without feedback";
    }
    StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "feedback topic %s: %d records on %d request ids",
        topic, records, byId.size()));
    if (repeated > 0) {
      line.append(String.format(Locale.ROOT, ", %d later ones on the same id ignored (the first joins)", repeated));
    }
    if (misKeyed > 0) {
      line.append(String.format(Locale.ROOT, ", %d keyed otherwise than by their request id (not joined)", misKeyed));
    }
    if (undecodable > 0) {
      line.append(String.format(Locale.ROOT, ", %d undecodable", undecodable));
    }
    return line.toString();
  }
}
