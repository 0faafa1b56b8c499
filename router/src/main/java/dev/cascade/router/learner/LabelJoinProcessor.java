package dev.cascade.router.learner;

import dev.cascade.router.learning.LabelledOutcomes;
import dev.cascade.router.topology.DeadLetters;
import dev.cascade.router.topology.IdleAwarePunctuator;
import dev.cascade.schemas.avro.Feedback;
import dev.cascade.schemas.avro.RoutingOutcome;
import dev.cascade.schemas.serde.CascadeSerdes;
import dev.cascade.schemas.serde.SchemaDecodingException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Labels routing outcomes, joining user feedback by request id within a window. An outcome with a
 * reference is labelled at once (nothing is more trusted), and its id is kept for the window so that
 * feedback on it is counted as superseded in whichever order the two arrive. One without waits up to the window for
 * feedback; then it is labelled by the feedback, or, when none came, by the large model as teacher
 * (if it was escalated), or dropped as unlabelled. Feedback for an id with no outcome yet waits the
 * window too, then is dropped and counted (a newer verdict on the same id replaces a waiting one,
 * counted as replaced). Feedback keyed otherwise than by its request id, tombstones and records that
 * cannot be decoded go to the dead-letter topic. The waiting sets and the referenced ids are changelogged
 * stores, so a restart loses none of them. Forwards each example
 * (its sequence number is given later, by the trainer) to the examples topic.
 */
final class LabelJoinProcessor implements Processor<String, byte[], String, Object> {

  private static final Logger LOG = LoggerFactory.getLogger(LabelJoinProcessor.class);
  /** Whether this process has said why outcomes stopped early give no label (once: there may be many). */
  private static final AtomicBoolean STOPPED_EARLY_TOLD = new AtomicBoolean();

  static final String OUTCOMES_WAITING = "learner-outcomes-waiting";
  static final String FEEDBACK_WAITING = "learner-feedback-waiting";
  /** Ids whose outcome carried a reference, kept for the window (value: the arrival time), so later feedback is superseded. */
  static final String REFERENCED = "learner-referenced";

  private final Duration window;
  private final String feedbackTopic;
  private final LearnerMetrics metrics;
  private final String examplesSink;
  private final String deadLetterSink;
  private ProcessorContext<String, Object> context;
  private KeyValueStore<String, byte[]> outcomes;
  private KeyValueStore<String, byte[]> feedback;
  private KeyValueStore<String, byte[]> referenced;
  private IdleAwarePunctuator expiry;

  LabelJoinProcessor(Duration window, String feedbackTopic, LearnerMetrics metrics, String examplesSink,
      String deadLetterSink) {
    this.window = window;
    this.feedbackTopic = feedbackTopic;
    this.metrics = metrics;
    this.examplesSink = examplesSink;
    this.deadLetterSink = deadLetterSink;
  }

  @Override
  public void init(ProcessorContext<String, Object> context) {
    this.context = context;
    outcomes = context.getStateStore(OUTCOMES_WAITING);
    feedback = context.getStateStore(FEEDBACK_WAITING);
    referenced = context.getStateStore(REFERENCED);
    // Only while an outcome or feedback waits: an idle learner then neither punctuates nor commits.
    Duration every = Duration.ofMillis(Math.max(200, Math.min(1000, window.toMillis() / 10 + 1)));
    expiry = new IdleAwarePunctuator(context, every, this::expire,
        () -> outcomes.approximateNumEntries() == 0 && feedback.approximateNumEntries() == 0
            && referenced.approximateNumEntries() == 0);
    expiry.wake(); // entries restored from the changelog wait for it too
  }

  @Override
  public void process(Record<String, byte[]> record) {
    String topic = context.recordMetadata().map(m -> m.topic()).orElse("");
    boolean isFeedback = topic.equals(feedbackTopic);
    String input = isFeedback ? "feedback" : "outcome";
    if (record.value() == null) {
      deadLetter(record, input, null, "value: null (a tombstone is not " + (isFeedback ? "feedback" : "an outcome") + ")");
      return;
    }
    if (isFeedback) {
      Feedback f;
      try {
        f = CascadeSerdes.feedback().decode(record.value());
      } catch (SchemaDecodingException e) {
        deadLetter(record, input, e, "feedback record cannot be decoded: " + e.getMessage());
        return;
      }
      // Feedback meets its outcome on the partition the request id picks; keyed otherwise it
      // would wait on another partition and be dropped.
      if (!f.getRequestId().equals(record.key())) {
        deadLetter(record, input, null, "key: must be the request id \"" + f.getRequestId() + "\", was "
            + (record.key() == null ? "null" : "\"" + record.key() + "\"") + " (feedback is joined to the outcome on"
            + " the partition its key picks)");
        return;
      }
      onFeedback(f, record.value());
    } else {
      RoutingOutcome o;
      try {
        o = CascadeSerdes.outcomes().decode(record.value());
      } catch (SchemaDecodingException e) {
        deadLetter(record, input, e, "outcome record cannot be decoded: " + e.getMessage());
        return;
      }
      onOutcome(o, record.value());
    }
  }

  private void onOutcome(RoutingOutcome outcome, byte[] bytes) {
    String id = outcome.getRequestId();
    if (LabelledOutcomes.hasReference(outcome)) {
      if (feedback.delete(id) != null) {
        metrics.feedback("superseded");
      }
      // Feedback may still come after it: remember, for the window, that the reference labelled it.
      if (!window.isZero()) {
        referenced.put(id, stamp(new byte[0]));
        expiry.wake();
      }
      emit(outcome, null);
      return;
    }
    byte[] waiting = feedback.delete(id);
    if (waiting != null) {
      metrics.feedback("joined");
      emit(outcome, CascadeSerdes.feedback().decode(unstamp(waiting)));
      return;
    }
    // No model answered a deadline_exceeded one, and a small answer stopped early (or never given)
    // has no correctness to learn: feedback to come cannot label either, so neither is kept for the
    // window (under overload, or under an exact rule deferring early, there may be many).
    if (window.isZero() || LabelledOutcomes.unanswered(outcome) != null) {
      emit(outcome, null);
      return;
    }
    outcomes.put(id, stamp(bytes));
    metrics.outcome("waiting");
    expiry.wake();
  }

  private void onFeedback(Feedback f, byte[] bytes) {
    String id = f.getRequestId();
    if (referenced.get(id) != null) {
      // The outcome came first and its reference labelled it: the reference wins in either order.
      metrics.feedback("superseded");
      return;
    }
    byte[] waiting = outcomes.delete(id);
    if (waiting != null) {
      metrics.feedback("joined");
      emit(CascadeSerdes.outcomes().decode(unstamp(waiting)), f);
      return;
    }
    // No outcome yet (or an unknown id): keep it for the window; a newer verdict on the same id
    // replaces one still waiting, and the replaced one is counted.
    if (feedback.get(id) != null) {
      metrics.feedback("replaced");
    }
    feedback.put(id, stamp(bytes));
    metrics.feedback("waiting");
    expiry.wake();
  }

  private void expire(long now) {
    List<KeyValue<String, byte[]>> due = new ArrayList<>();
    try (KeyValueIterator<String, byte[]> all = outcomes.all()) {
      all.forEachRemaining(kv -> {
        if (now - stampOf(kv.value) >= window.toMillis()) {
          due.add(kv);
        }
      });
    }
    for (KeyValue<String, byte[]> kv : due) {
      outcomes.delete(kv.key);
      emit(CascadeSerdes.outcomes().decode(unstamp(kv.value)), null);
    }
    List<String> stale = new ArrayList<>();
    try (KeyValueIterator<String, byte[]> all = feedback.all()) {
      all.forEachRemaining(kv -> {
        if (now - stampOf(kv.value) >= window.toMillis()) {
          stale.add(kv.key);
        }
      });
    }
    for (String id : stale) {
      feedback.delete(id);
      metrics.feedback("dropped");
    }
    List<String> forgotten = new ArrayList<>();
    try (KeyValueIterator<String, byte[]> all = referenced.all()) {
      all.forEachRemaining(kv -> {
        if (now - stampOf(kv.value) >= window.toMillis()) {
          forgotten.add(kv.key);
        }
      });
    }
    forgotten.forEach(referenced::delete);
  }

  private void emit(RoutingOutcome outcome, Feedback f) {
    LabelledOutcomes.Labelled labelled = LabelledOutcomes.labelOrSkip(outcome, f, 0L);
    if (labelled.example() == null) {
      metrics.unlabelled(labelled.skipReason());
      if (LabelledOutcomes.STOPPED_EARLY.equals(labelled.skipReason()) && !STOPPED_EARLY_TOLD.getAndSet(true)) {
        LOG.warn("outcome {} gives no label, nor will any other deferred request the routers stop early: its small"
            + " answer was cut once deferral was certain (small.early-defer, on by default under chow-sum or"
            + " chow-quantile at alpha 0: at a fixed threshold, or above policy.target-early-defer-margin under a"
            + " target rate), so whether it would have been right is unknown."
            + " The learner then sees the large model's correctness almost only on explored requests"
            + " (policy.exploration-rate), and without exploration finds few or no examples where deferring helps."
            + " Decode a share of them whole, each weighed 1/share: live with `cascade policy set"
            + " --early-defer-label-share 0.05` (say), or small.early-defer-label-share on the routers;"
            + " or small.early-defer=false to label them all;"
            + " cascade_learner_unlabelled_outcomes_total{reason=\"stopped_early\"} counts them",
            outcome.getRequestId());
      }
      return;
    }
    metrics.outcome("labelled");
    metrics.label(labelled.example().getLabelSource());
    if (labelled.example().getLabelPropensity() != null) {
      metrics.labelSampled();
    }
    context.forward(new Record<String, Object>(outcome.getRequestId(), labelled.example(),
        context.currentSystemTimeMs()), examplesSink);
  }

  private void deadLetter(Record<String, byte[]> record, String input, Exception e, String reason) {
    metrics.deadLetter(input);
    context.forward(new Record<String, Object>(record.key(),
        DeadLetters.ofStringKeyed(context, record, "learner-" + input, e, reason), context.currentSystemTimeMs()),
        deadLetterSink);
  }

  /** The stored value: 8 bytes of arrival time (this processor's clock), then the record. */
  private byte[] stamp(byte[] bytes) {
    return java.nio.ByteBuffer.allocate(8 + bytes.length).putLong(context.currentSystemTimeMs()).put(bytes).array();
  }

  private static long stampOf(byte[] stored) {
    return java.nio.ByteBuffer.wrap(stored, 0, 8).getLong();
  }

  private static byte[] unstamp(byte[] stored) {
    return java.util.Arrays.copyOfRange(stored, 8, stored.length);
  }
}
